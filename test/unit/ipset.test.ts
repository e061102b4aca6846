import { describe, expect, it } from "vitest";
import { canonicalEntry, type IpSetSpec, ipSetArgs } from "../../provider/model/ipset";
import { fieldFailures } from "../../provider/model/validation";
import { parseIpsetSave } from "../../provider/netfilter/ipset-text";
import { planIpSet, staleTempSets } from "../../provider/netfilter/plan-ipset";

describe("ipset entries in ipset save's canonical form", () => {
  it.each([
    ["hash:net", "ipv4", "10.1.2.0/24", "10.1.2.0/24"],
    ["hash:net", "ipv4", "192.168.1.6/32", "192.168.1.6"],
    ["hash:net", "ipv6", "2001:0db8:0001::/48", "2001:db8:1::/48"],
    ["hash:ip", "ipv6", "::ffff:198.51.100.7", "::ffff:198.51.100.7"],
    ["hash:net", "ipv6", "::0.1.0.2", "::0.1.0.2"],
    ["hash:net", "ipv6", "2001:db8::1/128", "2001:db8::1"],
    ["hash:ip", "ipv6", "2001:DB8::1", "2001:db8::1"],
    ["hash:ip,port", "ipv4", "10.0.0.1,443", "10.0.0.1,tcp:443"],
    ["hash:ip,port", "ipv4", "10.0.0.1,udp:53", "10.0.0.1,udp:53"],
    ["hash:net,port", "ipv4", "10.9.9.0/24,tcp:22", "10.9.9.0/24,tcp:22"],
  ] as const)("%s %s %s -> %s", (type, family, input, saved) => {
    expect(canonicalEntry(input, type, family)).toEqual({ entry: saved });
  });

  it.each([
    ["hash:net", "ipv4", "0.0.0.0/0", /\/0/],
    ["hash:net", "ipv4", "2001:db8::1", /family/],
    ["hash:ip", "ipv4", "10.0.0.0/30", /hash:net/],
    ["hash:net", "ipv4", "10.0.0.1-10.0.0.9", /address or CIDR/],
    ["hash:net", "ipv4", "example.com", /hostnames/],
    ["hash:ip,port", "ipv4", "10.0.0.1", /PROTO:PORT/],
    ["hash:ip,port", "ipv4", "10.0.0.1,http", /PORT/],
    ["hash:ip,port", "ipv4", "10.0.0.1,tcp:70000", /PORT/],
    ["hash:net", "ipv4", "10.0.0.1\nadd x 1.1.1.1", /address/],
    // ipset would silently widen these to the network: refused, naming it.
    ["hash:net", "ipv4", "203.0.113.7/1", /host bits.*128\.0\.0\.0\/1/],
    ["hash:net", "ipv4", "10.1.2.3/24", /10\.1\.2\.0\/24/],
    ["hash:net,port", "ipv4", "10.9.9.9/24,tcp:22", /10\.9\.9\.0\/24/],
    ["hash:net", "ipv6", "2001:db8:1::5/48", /2001:db8:1::\/48/],
  ] as const)("%s %s refuses %j", (type, family, input, reason) => {
    const r = canonicalEntry(input, type, family);
    expect("error" in r && r.error).toMatch(reason);
  });

  it("names the failing entry index and rejects hostile set arguments", () => {
    const input = {
      name: "lbs",
      type: "hash:net",
      entries: ["10.0.0.0/8", "$(reboot)", { entry: "10.1.0.0/16", comment: 'a"b' }],
    };
    const r = ipSetArgs.safeParse(input);
    expect(r.success).toBe(false);
    if (r.success) return;
    const props = fieldFailures(r.error, input).map((f) => f.property);
    expect(props).toContain("entries.1");
    expect(props).toContain("entries.2.comment");
    const dash = ipSetArgs.safeParse({
      name: "lbs",
      type: "hash:net",
      entries: [{ entry: "10.0.0.0/8", comment: "-exist" }],
    });
    expect(dash.success).toBe(false);
    for (const c of ["\u0085", "\u202e", "\u2067", "\u200f", "\u061c"]) {
      const bidi = { name: "lbs", type: "hash:net", entries: [{ entry: "10.0.0.0/8", comment: `a${c}b` }] };
      const rb = ipSetArgs.safeParse(bidi);
      expect(rb.success, `U+${c.charCodeAt(0).toString(16)}`).toBe(false);
      if (!rb.success) expect(fieldFailures(rb.error, bidi)[0]?.reason).toMatch(/bidirectional/);
    }
    for (const bad of [
      { name: "x".repeat(32) },
      { name: "a b" },
      { name: "dfwtmp-x" },
      { type: "list:set" },
      { maxelem: 0 },
      { hashsize: 100 },
    ]) {
      const res = ipSetArgs.safeParse({ name: "lbs", type: "hash:net", ...bad });
      expect(res.success, JSON.stringify(bad)).toBe(false);
    }
  });

  it("dedupes entries that are equal after canonicalisation", () => {
    const s = ipSetArgs.parse({
      name: "lbs",
      type: "hash:net",
      entries: ["10.0.0.0/24", "10.0.0.0/24", "10.0.0.1/32", "10.0.0.1"],
    });
    expect(s.entries).toEqual([{ entry: "10.0.0.0/24" }, { entry: "10.0.0.1" }]);
  });
});

describe("ipset save parsing and planning", () => {
  const saved = [
    "create lbs hash:net family inet hashsize 1024 maxelem 65536 comment bucketsize 12 initval 0x0780c389",
    'add lbs 10.0.0.0/24 comment "office lan"',
    "add lbs 1.2.3.4",
    "create dfwtmp-1a2b3c4d hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1",
    "create t hash:ip family inet hashsize 1024 maxelem 65536 timeout 300 bucketsize 12 initval 0x947b0d82",
    "add t 1.1.1.1 timeout 299",
  ].join("\n");

  it("ignores hashsize/initval/countdowns and finds stale temporary sets", () => {
    const sets = parseIpsetSave(saved);
    expect(sets.get("lbs")?.header).toEqual({ type: "hash:net", family: "ipv4", maxelem: 65536, comment: true });
    expect(sets.get("t")?.header.timeout).toBe(300);
    expect([...(sets.get("t")?.entries.keys() ?? [])]).toEqual(["1.1.1.1"]);
    expect(staleTempSets(sets)).toEqual(["dfwtmp-1a2b3c4d"]);
  });

  it("changes a few members in place, adding before deleting, with an exact inverse; swaps when that is no cheaper", () => {
    const base = Array.from({ length: 8 }, (_, i) => ({ entry: `10.0.${i}.0/24`, comment: `c${i}` }));
    const spec = (entries: unknown[], extra: Record<string, unknown> = {}) =>
      ipSetArgs.parse({ name: "lbs", type: "hash:net", entries, ...extra });
    // What `ipset save` prints for a set made by a plan (the plan's last line renames it).
    const saved = (s: IpSetSpec) =>
      parseIpsetSave((planIpSet(s, undefined, "lbs").script ?? "").replace(/^rename .*\n/m, "")).get("lbs");
    const live = saved(spec(base));
    const changed = spec([
      ...base.slice(1, 7),
      { entry: "10.0.7.0/24", comment: "new comment" },
      { entry: "10.0.0.128/25", comment: "inside the removed one" },
    ]);
    const p = planIpSet(changed, live, "dfwtmp-0");
    expect(p.inPlace).toBe(true);
    expect(p.script).toBe(
      [
        'add lbs 10.0.7.0/24 comment "new comment"',
        'add lbs 10.0.0.128/25 comment "inside the removed one"',
        "del lbs 10.0.0.0/24",
        "",
      ].join("\n"),
    );
    expect(p.rollback).toBe(
      ['add lbs 10.0.0.0/24 comment "c0"', 'add lbs 10.0.7.0/24 comment "c7"', "del lbs 10.0.0.128/25", ""].join("\n"),
    );
    expect(p.changes[0]).toMatchObject({
      kind: "update",
      before: ['10.0.0.0/24 comment "c0"', '10.0.7.0/24 comment "c7"'],
    });
    // Most members replaced: a refill is fewer kernel operations.
    expect(planIpSet(spec(["192.0.2.0/24"]), live, "dfwtmp-0").inPlace).toBe(false);
    // old ∪ new would not fit maxelem: swapped.
    const full = saved(spec(base, { maxelem: 8 }));
    expect(planIpSet(spec([...base.slice(1), "192.0.2.0/24"], { maxelem: 8 }), full, "dfwtmp-0").inPlace).toBe(false);
  });

  it("plans nothing when equal, a swap when members change, a create for a new set", () => {
    const live = parseIpsetSave(saved).get("lbs");
    const same = ipSetArgs.parse({
      name: "lbs",
      type: "hash:net",
      entries: [{ entry: "10.0.0.0/24", comment: "office lan" }, "1.2.3.4"],
    });
    expect(planIpSet(same, live, "dfwtmp-0").script).toBeUndefined();
    const changed = ipSetArgs.parse({
      name: "lbs",
      type: "hash:net",
      entries: [{ entry: "10.0.0.0/24", comment: "office lan" }],
    });
    const p = planIpSet(changed, live, "dfwtmp-0");
    expect(p.script).toBe(
      [
        "create dfwtmp-0 hash:net family inet maxelem 65536 comment",
        'add dfwtmp-0 10.0.0.0/24 comment "office lan"',
        "swap dfwtmp-0 lbs",
        "destroy dfwtmp-0",
        "",
      ].join("\n"),
    );
    expect(p.changes[0]).toMatchObject({ kind: "update", before: ["1.2.3.4"], after: [] });
    const fresh = planIpSet(
      ipSetArgs.parse({ name: "new", type: "hash:ip", entries: ["1.1.1.1"] }),
      undefined,
      "dfwtmp-9",
    );
    // Built under the temporary name and renamed last: a failed step never destroys a set named "new".
    expect(fresh.script).toBe(
      "create dfwtmp-9 hash:ip family inet maxelem 65536\nadd dfwtmp-9 1.1.1.1\nrename dfwtmp-9 new\n",
    );
    expect(fresh.rollback).toBe("destroy dfwtmp-9\n");
    expect(() => planIpSet(ipSetArgs.parse({ name: "lbs", type: "hash:ip" }), live, "dfwtmp-0")).toThrow(/replacement/);
  });
});
