import { describe, expect, it } from "vitest";
import {
  formatCidrIpset,
  formatCidrIptables,
  formatRange,
  parseCidr,
  parseCidrExact,
  parseIp,
  parseRange,
} from "../../provider/model/address";

describe("address canonical forms (as iptables-save / ipset save print them)", () => {
  it.each([
    ["1.2.3.4", "1.2.3.4/32", "1.2.3.4"],
    ["10.0.0.5/24", "10.0.0.0/24", "10.0.0.0/24"],
    ["2001:0db8:0000::0001/64", "2001:db8::/64", "2001:db8::/64"],
    ["2001:DB8::1", "2001:db8::1/128", "2001:db8::1"],
    ["fe80::1", "fe80::1/128", "fe80::1"],
    ["::1", "::1/128", "::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1/128", "2001:db8:0:1:1:1:1:1"],
    // glibc inet_ntop (what iptables-save and ipset save call) keeps an IPv4 tail for mapped and compatible forms.
    ["::ffff:1.2.3.4", "::ffff:1.2.3.4/128", "::ffff:1.2.3.4"],
    ["::ffff:198.51.100.7", "::ffff:198.51.100.7/128", "::ffff:198.51.100.7"],
    ["::FFFF:c633:6407", "::ffff:198.51.100.7/128", "::ffff:198.51.100.7"],
    ["::ffff:198.51.100.0/120", "::ffff:198.51.100.0/120", "::ffff:198.51.100.0/120"],
    ["::0.1.0.2", "::0.1.0.2/128", "::0.1.0.2"],
    ["::1.2.3.4", "::1.2.3.4/128", "::1.2.3.4"],
    ["::ffff:0:0", "::ffff:0.0.0.0/128", "::ffff:0.0.0.0"],
    ["::0.0.1.2", "::102/128", "::102"],
    ["::2", "::2/128", "::2"],
    ["0:0:0:0:1:ffff:1.2.3.4", "::1:ffff:102:304/128", "::1:ffff:102:304"],
    ["::ffff:1.2.3.4/80", "::/80", "::/80"],
    ["2001:db8:1::5/48", "2001:db8:1::/48", "2001:db8:1::/48"],
  ])("%s", (input, iptables, ipset) => {
    const c = parseCidr(input);
    expect(c).toBeDefined();
    if (!c) return;
    expect(formatCidrIptables(c)).toBe(iptables);
    expect(formatCidrIpset(c)).toBe(ipset);
  });

  it.each([
    "localhost",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "256.1.1.1",
    "1.2.3.4/33",
    "1.2.3.4/",
    "1.2.3.4/08",
    "::1/129",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    " 1.2.3.4",
    "1.2.3.4\n",
    "10.1.0.0/255.255.0.0",
  ])("refuses %j", (input) => {
    expect(parseCidr(input)).toBeUndefined();
  });

  it.each([
    ["203.0.113.7/1", false],
    ["10.0.0.5/24", false],
    ["2001:db8::1/64", false],
    ["10.0.0.0/24", true],
    ["10.0.0.5", true],
    ["2001:db8::/64", true],
  ])("parseCidrExact(%j) keeps only a network address: %s", (input, exact) => {
    expect(parseCidrExact(input) !== undefined).toBe(exact);
  });

  it("parses ranges of one family in order only", () => {
    const r = parseRange("2001:DB8::1-2001:db8::50");
    expect(r && formatRange(r)).toBe("2001:db8::1-2001:db8::50");
    expect(parseRange("10.0.0.50-10.0.0.1")).toBeUndefined();
    expect(parseRange("10.0.0.1-2001:db8::1")).toBeUndefined();
    expect(parseIp("10.0.0.1")?.family).toBe("ipv4");
  });
});
