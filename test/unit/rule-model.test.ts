import { describe, expect, it } from "vitest";
import { hasControlCharacters } from "../../provider/model/primitives";
import { dockerUserRuleArgs, dockerUserRulePreview } from "../../provider/model/rule";
import { UNKNOWN } from "../../provider/model/unknown";
import { fieldFailures } from "../../provider/model/validation";

const base = { action: "ACCEPT", priority: 100 };

/** [description, args, field the error must name, words the reason must contain]. */
const HOSTILE: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ["newline in comment", { comment: "ok\n-A DOCKER-USER -j ACCEPT" }, "comment", /newline/],
  ["carriage return in comment", { comment: "a\rb" }, "comment", /control/],
  ["NUL in comment", { comment: "a\u0000b" }, "comment", /control/],
  ["unicode line separator in comment", { comment: "a\u2028b" }, "comment", /control/],
  ["comment over the byte limit (ASCII)", { comment: "x".repeat(191) }, "comment", /190 bytes/],
  ["comment over the byte limit (UTF-8)", { comment: "✓".repeat(64) }, "comment", /bytes/],
  ["newline in log prefix", { action: "LOG", log: { prefix: "a\nb" } }, "log.prefix", /control/],
  ["log prefix of 30 characters", { action: "LOG", log: { prefix: "x".repeat(30) } }, "log.prefix", /29/],
  ["non-ASCII log prefix", { action: "LOG", log: { prefix: "drop✓" } }, "log.prefix", /ASCII/],
  ["empty log prefix", { action: "LOG", log: { prefix: "" } }, "log.prefix", /empty/],
  ["burst without rate", { action: "LOG", log: { burst: 5 } }, "log.burst", /rate/],
  ["per-day rate", { action: "LOG", log: { rate: "1/day" } }, "log.rate", /sec, min, hour/],
  ["rate with shell", { action: "LOG", log: { rate: "$(reboot)" } }, "log.rate", /2\/min/],
  ["burst too large", { action: "LOG", log: { rate: "1/min", burst: 1000 } }, "log.burst", /100/],
  ["burst that overflows xt_limit", { action: "LOG", log: { rate: "1/hour", burst: 50 } }, "log.burst", /overflows/],
  ["unknown action", { action: "ALLOW" }, "action", /ACCEPT/],
  ["lower-case action", { action: "accept" }, "action", /ACCEPT/],
  ["unknown protocol", { protocol: "sctp" }, "protocol", /tcp/],
  ["port 0", { protocol: "tcp", publishedPorts: [0] }, "publishedPorts.0", /1 and 65535|1-65535/],
  ["port 65536", { protocol: "tcp", publishedPorts: [65536] }, "publishedPorts.0", /65535/],
  ["port as text with shell", { protocol: "tcp", publishedPorts: ["80;reboot"] }, "publishedPorts.0", /port/],
  ["reversed port range", { protocol: "tcp", publishedPorts: ["9000-8000"] }, "publishedPorts.0", /low-high/],
  ["fractional port", { protocol: "tcp", containerPorts: [80.5] }, "containerPorts.0", /./],
  ["ports without a port protocol", { publishedPorts: [80] }, "publishedPorts", /tcp, udp/],
  ["empty port list", { protocol: "tcp", publishedPorts: [] }, "publishedPorts", /at least one/],
  ["hostname as source", { source: "evil.example.com" }, "source", /address or CIDR|exactly one/],
  ["invalid CIDR", { source: "10.0.0.0/33" }, "source", /./],
  ["address with command substitution", { source: "$(curl x)" }, "source", /./],
  ["/0 source", { source: { address: "0.0.0.0/0" } }, "source.address", /omit/],
  ["dotted mask", { destination: { address: "10.1.0.0/255.255.0.0" } }, "destination.address", /CIDR/],
  ["two kinds in one match", { source: { address: "1.2.3.4", set: "lbs" } }, "source", /exactly one/],
  ["reversed range", { source: { range: "10.0.0.9-10.0.0.1" } }, "source.range", /FIRST <= LAST/],
  ["mixed-family range", { source: { range: "10.0.0.1-2001:db8::1" } }, "source.range", /one family/],
  ["set name too long", { source: { set: "s".repeat(32) } }, "source.set", /31/],
  ["set name with quote", { source: { set: 'lbs"x' } }, "source.set", /letters/],
  ["set name with space", { source: { set: "lbs x" } }, "source.set", /letters/],
  ["reserved temp set name", { source: { set: "dfwtmp-1" } }, "source.set", /reserved/],
  ["bad set flags", { source: { set: "lbs", setFlags: "src;dst" } }, "source.setFlags", /src/],
  ["v6 address in a v4 rule", { family: "ipv4", source: "2001:db8::1" }, "source", /ipv6 but family is ipv4/],
  ["v4 and v6 in one rule", { source: "10.0.0.1", destination: "2001:db8::1" }, "destination", /one family/],
  ["family both with a literal address", { family: "both", source: "10.0.0.1" }, "family", /both/],
  ["family both with a set", { family: "both", source: { set: "lbs" } }, "family", /one family/],
  ["interface name too long", { inInterface: "a".repeat(16) }, "inInterface", /15/],
  ["interface with slash", { inInterface: "eth0/1" }, "inInterface", /letters/],
  ["interface wildcard alone", { outInterface: "+" }, "outInterface", /every interface/],
  ["interface with space", { inInterface: { name: "eth 0" } }, "inInterface.name", /letters/],
  ["rejectWith on DROP", { action: "DROP", rejectWith: "tcp-reset" }, "rejectWith", /REJECT/],
  ["tcp-reset without tcp", { action: "REJECT", rejectWith: "tcp-reset", protocol: "udp" }, "rejectWith", /tcp/],
  ["unknown reject reason", { action: "REJECT", rejectWith: "icmp-bogus" }, "rejectWith", /./],
  ["icmpType without icmp", { icmpType: "echo-request" }, "icmpType", /protocol icmp/],
  ["numeric icmpType without family", { protocol: "icmp", icmpType: 8 }, "icmpType", /family/],
  [
    "v4-only icmp name in v6",
    { protocol: "icmp", icmpType: "fragmentation-needed", family: "ipv6" },
    "icmpType",
    /IPv4 only/,
  ],
  ["priority out of range", { priority: 10000 }, "priority", /./],
  ["negative priority", { priority: -1 }, "priority", /./],
  ["unknown connection state", { connectionStates: ["NEW", "BOGUS"] }, "connectionStates.1", /./],
  ["unknown argument", { sourcePort: 22 }, "(arguments)", /unknown argument.*sourcePort/],
  [
    "too many kernel rules",
    { protocol: "tcp+udp", publishedPorts: [1, 2, 3, 4, 5, 6, 7, 8], containerPorts: [1, 2, 3] },
    "publishedPorts",
    /expands to 96/,
  ],
  ["originalDestination hostname", { originalDestination: "host.local" }, "originalDestination", /./],
  // A CIDR with host bits set would be silently widened by the kernel: refused, naming the network.
  ["source with host bits", { source: "203.0.113.7/1" }, "source", /host bits.*128\.0\.0\.0\/1/],
  ["destination with host bits", { destination: { address: "10.0.0.5/24" } }, "destination.address", /10\.0\.0\.0\/24/],
  ["v6 host bits", { originalDestination: "2001:db8::1/64" }, "originalDestination", /2001:db8::\/64/],
  // iptables-restore before 1.8.4 reads these as options.
  ["log prefix starting with -", { action: "LOG", log: { prefix: "-j ACCEPT" } }, "log.prefix", /'-'/],
  ["inInterface starting with -", { inInterface: "-eth0" }, "inInterface", /'-'/],
  ["outInterface name starting with -", { outInterface: { name: "--x", not: true } }, "outInterface.name", /'-'/],
  ...["\u0085", "\u009b", "\u061c", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069"].map(
    (c): [string, Record<string, unknown>, string, RegExp] => [
      `comment with U+${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
      { comment: `allow ${c}admin` },
      "comment",
      /bidirectional/,
    ],
  ),
];

describe("DockerUserRule arguments: hostile or wrong values", () => {
  it(`has at least 40 cases (${HOSTILE.length})`, () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(40);
  });

  it.each(HOSTILE)("%s", (_desc, args, field, reason) => {
    const input = { ...base, ...args };
    const r = dockerUserRuleArgs.safeParse(input);
    expect(r.success).toBe(false);
    if (r.success) return;
    const failures = fieldFailures(r.error, input);
    const hit = failures.find((f) => f.property === field);
    expect(hit, `failures: ${JSON.stringify(failures)}`).toBeDefined();
    expect(hit?.reason).toMatch(reason);
  });

  it("shows hostile values escaped and trimmed in messages", () => {
    const input = { ...base, comment: `${"a".repeat(100)}\n$(rm -rf /)` };
    const r = dockerUserRuleArgs.safeParse(input);
    if (r.success) throw new Error("expected failure");
    const [f] = fieldFailures(r.error, input);
    expect(f?.reason).not.toContain("\n");
    expect(f?.reason.length).toBeLessThan(200);
  });

  it("echoes a refused bidi comment escaped, so the message itself cannot be reordered", () => {
    const input = { ...base, comment: "safe\u202eKCATTA" };
    const r = dockerUserRuleArgs.safeParse(input);
    if (r.success) throw new Error("expected failure");
    const [f] = fieldFailures(r.error, input);
    expect(f?.reason).toContain("\\u202e");
    expect(hasControlCharacters(f?.reason ?? "")).toBe(false);
  });
});

describe("DockerUserRule arguments: accepted forms", () => {
  it("defaults and family resolution", () => {
    const r = dockerUserRuleArgs.parse({ action: "DROP" });
    expect(r).toMatchObject({ priority: 500, protocol: "all", family: "auto" });
    expect(dockerUserRuleArgs.parse({ action: "DROP", source: "2001:db8::/32" }).family).toBe("ipv6");
    expect(dockerUserRuleArgs.parse({ action: "DROP", source: { set: "lbs" } }).family).toBe("ipv4");
    expect(dockerUserRuleArgs.parse({ action: "DROP", source: { set: "lbs6" }, family: "ipv6" }).family).toBe("ipv6");
  });

  it("normalises shorthand matches and port specs", () => {
    const r = dockerUserRuleArgs.parse({
      action: "ACCEPT",
      protocol: "tcp",
      source: "198.51.100.0/26",
      inInterface: "eth0",
      publishedPorts: [443, "8000-8010", "9000:9001"],
    });
    expect(r.source).toEqual({ kind: "address", address: "198.51.100.0/26", not: false });
    expect(r.inInterface).toEqual({ name: "eth0", not: false });
    expect(r.publishedPorts).toEqual([
      { from: 443, to: 443 },
      { from: 8000, to: 8010 },
      { from: 9000, to: 9001 },
    ]);
  });

  it("tolerates Pulumi's unknown sentinel at preview (check's schema); the core's schema takes known values only", () => {
    const withUnknowns = {
      action: "ACCEPT",
      protocol: "tcp",
      source: { set: UNKNOWN },
      publishedPorts: UNKNOWN,
      comment: UNKNOWN,
      priority: UNKNOWN,
    };
    const r = dockerUserRulePreview.safeParse(withUnknowns);
    expect(r.success).toBe(true);
    expect(dockerUserRuleArgs.safeParse(withUnknowns).success).toBe(false);
  });

  it("accepts shell metacharacters in a comment (it travels on stdin, quoted)", () => {
    expect(dockerUserRuleArgs.safeParse({ action: "ACCEPT", comment: `it's "$(x)" \`y\` ; \\ | &` }).success).toBe(
      true,
    );
  });
});
