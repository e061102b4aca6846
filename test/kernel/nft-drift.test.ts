// Drift of our nftables table, on the real kernel: each kind made by hand with `nft` (as an admin would), read
// back and reported by nftDrift, then repaired by the next apply (after which no drift is left); port sets too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import { applyNft, type NftExec, readTable } from "../../provider/nftables/apply";
import { describeDrift, nftDrift } from "../../provider/nftables/drift";
import { nftRuleOf, nftSetOf } from "../../provider/nftables/from-kernel";
import { NFT_FAMILY, NFT_TABLE, type NftRule, type NftSet } from "../../provider/nftables/nft-model";
import type { NftBlockChange } from "../../provider/nftables/plan";
import { ScratchNamespace } from "../support/netns";

const MARK = { mark: 0x2b00, mask: 0xff00 };

function block(id: string, priority: number, args: Record<string, unknown>): NftBlockChange {
  const tag = { priority, id };
  const k = expandRule(dockerUserRuleArgs.parse(args), tag, ["ipv4", "ipv6"]);
  return { tag, rules: [...k.ipv4, ...k.ipv6].map((r) => nftRuleOf(r, MARK) as NftRule) };
}

describe("nft drift (real kernel)", () => {
  let ns: ScratchNamespace;
  const exec: NftExec = (argv, stdin) => ns.exec(argv, stdin);
  const nft = (...args: string[]) => ns.mustRun(["nft", ...args]);
  const blocks = [
    block("allow", 10, {
      action: "ACCEPT",
      protocol: "tcp",
      publishedPorts: [8080],
      source: { set: "lbs" },
      log: { prefix: "dfw-allow " },
    }),
    block("drop", 20, { action: "DROP", protocol: "tcp", publishedPorts: [8080], inInterface: "eth0" }),
  ];
  const sets: NftSet[] = [{ name: "lbs", family: "ipv4", interval: true, elements: ["198.51.100.0/26"] }];
  const want = { blocks, sets };
  const drift = async (exclusive = false) => {
    const t = await readTable(exec);
    if ("error" in t) throw new Error(t.error);
    return nftDrift(t, want, { exclusive });
  };
  const handles = async () => {
    const t = await readTable(exec);
    if ("error" in t) throw new Error(t.error);
    return t.rules.map((r) => ({ handle: String(r.handle), comment: r.comment ?? "" }));
  };
  const repair = async (exclusive = false) => {
    const r = await applyNft(
      exec,
      blocks,
      sets.map((s) => ({ name: s.name, set: s })),
      { exclusive },
    );
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(await drift(exclusive)).toEqual([]);
  };

  beforeAll(async () => {
    ns = await ScratchNamespace.create("dfwnftd");
    await repair();
  });
  afterAll(async () => ns?.destroy());

  it("a rule deleted by hand: missing / modified", async () => {
    const drop = (await handles()).filter((h) => h.comment.startsWith("dfw:0020:drop"));
    for (const h of drop) await nft("delete", "rule", NFT_FAMILY, NFT_TABLE, "forward", "handle", h.handle);
    expect(await drift()).toEqual([{ kind: "missing", id: "drop" }]);
    await repair();
    const one = (await handles()).find((h) => h.comment.startsWith("dfw:0010:allow"));
    await nft("delete", "rule", NFT_FAMILY, NFT_TABLE, "forward", "handle", one?.handle as string);
    expect(await drift()).toEqual([{ kind: "modified", id: "allow", live: 1, want: 2 }]);
    await repair();
  });

  it("a rule edited by hand (same comment, other port): modified", async () => {
    const h = (await handles()).find((x) => x.comment.startsWith("dfw:0020:drop"));
    await nft(
      "replace",
      "rule",
      NFT_FAMILY,
      NFT_TABLE,
      "forward",
      "handle",
      h?.handle as string,
      "meta",
      "nfproto",
      "ipv4",
      "tcp",
      "dport",
      "9090",
      "drop",
      "comment",
      `"${h?.comment}"`,
    );
    expect(await drift()).toEqual([{ kind: "modified", id: "drop", live: 2, want: 2 }]);
    await repair();
  });

  it("a foreign rule inserted above ours: reordered; in exclusive mode also unmanaged, removed by the apply", async () => {
    await nft("insert", "rule", NFT_FAMILY, NFT_TABLE, "forward", "ip", "saddr", "203.0.113.9", "drop");
    expect(await drift()).toEqual([
      { kind: "reordered", id: "allow" },
      { kind: "reordered", id: "drop" },
    ]);
    expect((await drift(true)).at(-1)).toEqual({ kind: "unmanaged", count: 1 });
    await repair(true);
    expect((await handles()).every((h) => h.comment.startsWith("dfw:"))).toBe(true);
  });

  it("set members changed, the set deleted: set drift", async () => {
    await nft("add", "element", NFT_FAMILY, NFT_TABLE, "lbs", "{", "203.0.113.0/24", "}");
    const d = await drift();
    expect(d).toEqual([{ kind: "set", name: "lbs", added: ["203.0.113.0/24"], removed: [] }]);
    expect(describeDrift(d[0] as (typeof d)[number])).toBe("set lbs: members changed (+203.0.113.0/24, -none)");
    await repair();
    await nft("delete", "element", NFT_FAMILY, NFT_TABLE, "lbs", "{", "198.51.100.0/26", "}");
    expect(await drift()).toEqual([{ kind: "set", name: "lbs", added: [], removed: ["198.51.100.0/26"] }]);
    await repair();
  });

  it("a port set: an element added and a comment edited by hand are set drift, repaired by the next apply", async () => {
    const ports = nftSetOf(
      ipSetArgs.parse({ name: "web", type: "hash:ip,port", entries: [{ entry: "192.0.2.1,tcp:80", comment: "lb a" }] }),
    ) as NftSet;
    const use = block("ports", 30, { action: "DROP", family: "ipv4", source: { set: "web", setFlags: "src,dst" } });
    const mine = { blocks: [...blocks, use], sets: [...sets, ports] };
    const apply = async (b: NftBlockChange[], s: Array<{ name: string; set: NftSet | null }>) => {
      const r = await applyNft(exec, b, s);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    };
    const driftOf = async () => {
      const t = await readTable(exec);
      if ("error" in t) throw new Error(t.error);
      return nftDrift(t, mine);
    };
    await apply([use], [{ name: "web", set: ports }]);
    expect(await driftOf()).toEqual([]);
    await nft("add", "element", NFT_FAMILY, NFT_TABLE, "web", "{", "192.0.2.9", ".", "udp", ".", "53", "}");
    await nft("delete", "element", NFT_FAMILY, NFT_TABLE, "web", "{", "192.0.2.1", ".", "tcp", ".", "80", "}");
    await nft("add", "element", NFT_FAMILY, NFT_TABLE, "web", "{", "192.0.2.1 . tcp . 80", "comment", '"lb b"', "}");
    const d = await driftOf();
    expect(d).toEqual([
      {
        kind: "set",
        name: "web",
        added: ['192.0.2.1 . tcp . 80 comment "lb b"', "192.0.2.9 . udp . 53"],
        removed: ['192.0.2.1 . tcp . 80 comment "lb a"'],
      },
    ]);
    await apply([use], [{ name: "web", set: ports }]);
    expect(await driftOf()).toEqual([]);
    await apply([{ tag: use.tag, rules: null }], [{ name: "web", set: null }]);
    expect(await drift()).toEqual([]);
  });
});
