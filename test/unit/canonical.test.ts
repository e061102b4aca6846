import { describe, expect, it } from "vitest";
import {
  canonicalIcmpType,
  canonicalRate,
  canonicalRejectWith,
  canonicalStates,
} from "../../provider/netfilter/canonical";
import {
  commentWithTag,
  compareTags,
  formatTag,
  makeRuleId,
  parseTag,
  tagOfComment,
} from "../../provider/netfilter/tag";

describe("canonical spellings", () => {
  // Observed in iptables-save output (the limit match).
  it.each([
    ["2/min", "2/min"],
    ["2/minute", "2/min"],
    ["10/s", "10/sec"],
    ["60/min", "1/sec"],
    ["120/min", "2/sec"],
    ["1/hour", "1/hour"],
    ["3/hour", "3/hour"],
    ["7/min", "7/min"],
    ["7/hour", "7/hour"],
    ["3600/hour", "1/sec"],
  ])("rate %s saves as %s", (input, saved) => {
    expect(canonicalRate(input)).toBe(saved);
  });

  it("refuses a rate the kernel cannot express", () => {
    expect(() => canonicalRate("20000/sec")).toThrow(/faster/);
  });

  it("maps ICMP names and REJECT reasons per family", () => {
    expect(canonicalIcmpType("echo-request", "ipv4")).toBe("8");
    expect(canonicalIcmpType("echo-request", "ipv6")).toBe("128");
    expect(canonicalIcmpType("fragmentation-needed", "ipv4")).toBe("3/4");
    expect(() => canonicalIcmpType("fragmentation-needed", "ipv6")).toThrow();
    expect(canonicalIcmpType("03/04", "ipv4")).toBe("3/4");
    expect(canonicalRejectWith(undefined, "ipv4")).toBe("icmp-port-unreachable");
    expect(canonicalRejectWith("admin-prohibited", "ipv6")).toBe("icmp6-adm-prohibited");
    expect(canonicalStates(["ESTABLISHED", "RELATED", "NEW"])).toEqual(["NEW", "RELATED", "ESTABLISHED"]);
  });
});

describe("ownership tags", () => {
  it("round-trips and orders by priority then id", () => {
    const t = { priority: 100, id: "https-from-lbs-1a2b3c4d" };
    expect(formatTag(t)).toBe("dfw:0100:https-from-lbs-1a2b3c4d");
    expect(parseTag(formatTag(t))).toEqual(t);
    expect(tagOfComment(commentWithTag(t, "allow the LBs"))).toEqual(t);
    expect(tagOfComment("dfw:100:x")).toBeUndefined();
    expect(tagOfComment("ufw:0100:x")).toBeUndefined();
    expect(compareTags({ priority: 1, id: "b" }, { priority: 2, id: "a" })).toBeLessThan(0);
    expect(compareTags({ priority: 2, id: "a" }, { priority: 2, id: "b" })).toBeLessThan(0);
    expect(makeRuleId("web/https rule", "deadbeefcafe")).toBe("web_https_rule-deadbeef");
    expect(() => formatTag({ priority: 10000, id: "x" })).toThrow();
    expect(() => formatTag({ priority: 1, id: "a b" })).toThrow();
  });
});
