// Port sets and set-entry comments on nftables hosts, pure: an IpSet's canonical elements (merges, comments,
// conflicts), the JSON render.ts writes, what parse-table.ts / parse.ts read back from `nft -n -j list` (the shapes
// measured on nft 1.0.6 in test/kernel/nft-roundtrip.test.ts), the preview text, drift and the rule's set flags.
import { describe, expect, it } from "vitest";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { describeDrift, nftDrift } from "../../provider/nftables/drift";
import { nftSetOf, setFlagsRefusal } from "../../provider/nftables/from-kernel";
import type { NftSet } from "../../provider/nftables/nft-model";
import { parseRuleExpr } from "../../provider/nftables/parse";
import { EMPTY_TABLE, parseTableJson } from "../../provider/nftables/parse-table";
import { replaceSet, ruleExpr, setObject } from "../../provider/nftables/render";
import { canonicalElements } from "../../provider/nftables/set-elements";
import { nftRuleText, nftSetText } from "../../provider/nftables/text";

const setOf = (args: Record<string, unknown>) => {
  const s = nftSetOf(ipSetArgs.parse({ name: "s", ...args }));
  if ("reason" in s) throw new Error(`${s.field} ${s.reason}`);
  return s;
};
const listed = (set: Record<string, unknown>) =>
  parseTableJson(
    JSON.stringify({ nftables: [{ set: { family: "inet", table: "docker-firewall", name: "s", ...set } }] }),
  );

describe("canonical elements", () => {
  it("interval sets merge overlaps and same-comment neighbours; neighbours with different comments stay apart", () => {
    const c = canonicalElements(
      [
        { text: "10.0.0.0/25", comment: "a" },
        { text: "10.0.0.128/25", comment: "a" },
        { text: "10.0.1.0/25", comment: "b" },
        { text: "10.0.1.128/25" },
        { text: "10.0.1.130" },
      ],
      "ipv4",
      true,
    );
    expect(c).toEqual({
      elements: ["10.0.0.0/24", "10.0.1.0/25", "10.0.1.128/25"],
      comments: { "10.0.0.0/24": "a", "10.0.1.0/25": "b" },
      bad: [],
    });
  });

  it("port sets merge per protocol and port; overlapping entries with different comments are a conflict", () => {
    const c = canonicalElements(
      [
        { text: "10.0.0.0/25 . tcp . 80" },
        { text: "10.0.0.128/25 . tcp . 80" },
        { text: "10.0.0.128/25 . udp . 80" },
        { text: "10.0.0.0/8 . sctp . 0", comment: "x" },
        { text: "10.9.0.0/16 . sctp . 0", comment: "y" },
      ],
      "ipv4",
      true,
      true,
    );
    expect(c.elements).toEqual(["10.0.0.0/8 . sctp . 0", "10.0.0.0/24 . tcp . 80", "10.0.0.128/25 . udp . 80"]);
    expect(c.conflict).toEqual({ index: 4, other: 3 });
    const bad = canonicalElements(
      [{ text: "10.0.0.1 . icmp . 8" }, { text: "10.0.0.1 . tcp . 65536" }],
      "ipv4",
      false,
      true,
    );
    expect(bad.bad).toEqual(["10.0.0.1 . icmp . 8", "10.0.0.1 . tcp . 65536"]);
  });
});

describe("an IpSet as a named set", () => {
  it("hash:ip,port and hash:net,port: concatenated type, elements address . protocol . port, comments", () => {
    const s = setOf({
      type: "hash:net,port",
      family: "ipv6",
      entries: [{ entry: "2001:db8::/64,udp:53", comment: "dns" }, "2001:db8:1::/48,443"],
    });
    expect(s).toEqual({
      name: "s",
      family: "ipv6",
      interval: true,
      ports: true,
      elements: ["2001:db8::/64 . udp . 53", "2001:db8:1::/48 . tcp . 443"],
      comments: { "2001:db8::/64 . udp . 53": "dns" },
    });
    expect(setObject(s).type).toEqual(["ipv6_addr", "inet_proto", "inet_service"]);
    expect(replaceSet(s)[2]).toEqual({
      add: {
        element: {
          family: "inet",
          table: "docker-firewall",
          name: "s",
          elem: [
            { elem: { val: { concat: [{ prefix: { addr: "2001:db8::", len: 64 } }, "udp", 53] }, comment: "dns" } },
            { concat: [{ prefix: { addr: "2001:db8:1::", len: 48 } }, "tcp", 443] },
          ],
        },
      },
    });
    expect(nftSetText(s)).toBe(
      'set s { type ipv6_addr . inet_proto . inet_service; flags interval; elements = { 2001:db8::/64 . udp . 53 comment "dns", 2001:db8:1::/48 . tcp . 443 } }',
    );
  });

  it("refusals name the entry's comment: a conflict, a comment nft cannot keep", () => {
    const overlap = { type: "hash:net", entries: ["10.0.0.0/8", { entry: "10.1.0.0/16", comment: "lab" }] };
    expect(nftSetOf(ipSetArgs.parse({ name: "s", ...overlap }))).toEqual({
      field: "entries.1.comment",
      reason:
        "10.1.0.0/16 overlaps 10.0.0.0/8, whose comment differs: an nftables interval set holds them as one element, with one comment (give both the same comment, or none)",
    });
    const long = { type: "hash:ip", entries: ["10.0.0.1", { entry: "10.0.0.2", comment: "é".repeat(126) }] };
    expect(nftSetOf(ipSetArgs.parse({ name: "s", ...long }))).toEqual({
      field: "entries.1.comment",
      reason: "is 252 bytes; an nftables set element keeps at most 251",
    });
  });

  it("reads back what nft -n -j lists (protocols as numbers, comments wrapped) as the same model", () => {
    const want = setOf({
      type: "hash:ip,port",
      entries: [{ entry: "192.0.2.2,udplite:0", comment: "it's $x" }, "192.0.2.1,tcp:80"],
    });
    const read = listed({
      type: ["ipv4_addr", "inet_proto", "inet_service"],
      elem: [
        { elem: { val: { concat: ["192.0.2.2", 136, 0] }, comment: "it's $x" } },
        { concat: ["192.0.2.1", 6, 80] },
      ],
    });
    expect(read.sets).toEqual([want]);
    expect(read.otherSets).toEqual([]);
  });

  it("a listed set that is not one we write is another set, never misread", () => {
    const odd = [
      { type: ["ipv4_addr", "inet_service"], elem: [{ concat: ["192.0.2.1", 80] }] },
      { type: ["ipv4_addr", "inet_proto", "inet_service"], elem: [{ concat: ["192.0.2.1", 1, 8] }] },
      {
        type: ["ipv4_addr", "inet_proto", "inet_service"],
        elem: [{ elem: { val: { concat: ["192.0.2.1", 6, 8] }, comment: 7 } }],
      },
      { type: ["ipv4_addr", "inet_proto", "inet_service"], elem: [{ concat: ["192.0.2.1", 6, 8, 9] }] },
      { type: "constructor", elem: [] },
    ];
    for (const set of odd) expect(listed(set).otherSets).toEqual(["s"]);
  });
});

describe("a rule matching a port set", () => {
  const kernelRule = (setFlags: string, protocol = "tcp") =>
    dockerUserRuleArgs.parse({ action: "DROP", protocol, family: "ipv4", source: { set: "p", setFlags } });

  it("renders ip saddr . meta l4proto . th dport @set and parses nft's listing of it (th shown as tcp)", () => {
    const r = {
      family: "ipv4" as const,
      comment: "dfw:0100:r",
      l4proto: "tcp" as const,
      addresses: [{ field: "daddr" as const, value: "@p", not: true, port: "sport" as const }],
      verdict: { kind: "drop" as const },
    };
    const expr = ruleExpr(r);
    expect(expr[2]).toEqual({
      match: {
        op: "!=",
        left: {
          concat: [
            { payload: { protocol: "ip", field: "daddr" } },
            { meta: { key: "l4proto" } },
            { payload: { protocol: "th", field: "sport" } },
          ],
        },
        right: "@p",
      },
    });
    expect(parseRuleExpr(expr, r.comment)).toEqual(r);
    // nft 1.0.6 lists it without `meta l4proto tcp` and with `tcp sport`: the protocol comes from there.
    const concat = (expr[2] as { match: { left: { concat: unknown[] } } }).match.left.concat;
    const asListed = [
      expr[0],
      {
        match: {
          op: "!=",
          right: "@p",
          left: { concat: [concat[0], concat[1], { payload: { protocol: "tcp", field: "sport" } }] },
        },
      },
      expr[3],
    ];
    expect(parseRuleExpr(asListed as never, r.comment)).toEqual(r);
    expect(nftRuleText(r)).toBe(
      'meta nfproto ipv4 meta l4proto tcp ip daddr . meta l4proto . th sport != @p drop comment "dfw:0100:r"',
    );
    // Not a shape we render: kept raw (a fourth member, an address set, a protocol that contradicts the rule's).
    const tampered = [
      { concat: [...concat, { meta: { key: "mark" } }] },
      { concat: [concat[0], concat[1], { payload: { protocol: "udp", field: "sport" } }] },
    ];
    for (const left of tampered)
      expect(parseRuleExpr([expr[0], expr[1], { match: { op: "!=", left, right: "@p" } }, expr[3]] as never, "c")).toBe(
        undefined,
      );
  });

  it("the set flags must fit the set: two for a port set, one for an address set (undefined: set unknown)", () => {
    const ports = (n: string) => (n === "p" ? true : undefined);
    expect(setFlagsRefusal(kernelRule("src,dst"), ports)).toBeUndefined();
    expect(setFlagsRefusal(kernelRule("src"), ports)?.field).toBe("source.setFlags");
    expect(setFlagsRefusal(kernelRule("src,dst"), () => false)?.reason).toMatch(/^set p holds addresses only/);
    expect(setFlagsRefusal(kernelRule("src"), () => undefined)).toBeUndefined();
  });
});

describe("drift of a port set", () => {
  it("a changed comment shows as the element removed and added back with the live comment", () => {
    const want: NftSet = setOf({ type: "hash:ip,port", entries: [{ entry: "192.0.2.1,tcp:80", comment: "web" }] });
    const live = { ...want, comments: { "192.0.2.1 . tcp . 80": "edited" } };
    const d = nftDrift({ ...EMPTY_TABLE, exists: true, sets: [live] }, { blocks: [], sets: [want] });
    expect(d).toEqual([
      {
        kind: "set",
        name: "s",
        added: ['192.0.2.1 . tcp . 80 comment "edited"'],
        removed: ['192.0.2.1 . tcp . 80 comment "web"'],
      },
    ]);
    expect(describeDrift(d[0] as (typeof d)[number])).toMatch(/^set s: members changed \(\+192\.0\.2\.1 \. tcp \. 80/);
    const reshaped = nftDrift({ ...EMPTY_TABLE, sets: [{ ...want, ports: undefined }] }, { blocks: [], sets: [want] });
    expect(reshaped[0]).toMatchObject({ kind: "set", reshaped: true });
  });
});
