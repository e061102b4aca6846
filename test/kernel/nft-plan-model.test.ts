// Model-based test of the nftables plan + atomic apply on the real kernel (as test/kernel/plan-model.test.ts does
// for iptables): random sequences of create / update / delete / re-prioritise blocks and set changes, interleaved
// with rules inserted out of band. After every apply the live table holds the reference blocks in (priority, id)
// order, then the foreign rules in their order, and the reference sets. Plus: a batch the kernel refuses changes
// nothing, a read-back that differs (a concurrent writer) is undone, and a foreign table is never touched.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IpFamily } from "../../provider/model/address";
import { canonicalJson } from "../../provider/model/canonical-json";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import { compareTags, type Tag, tagOfComment } from "../../provider/netfilter/tag";
import { applyNft, type NftExec, readTable } from "../../provider/nftables/apply";
import { nftRuleOf } from "../../provider/nftables/from-kernel";
import { NFT_FAMILY, NFT_TABLE, type NftRule, type NftSet } from "../../provider/nftables/nft-model";
import type { ReadTable } from "../../provider/nftables/parse-table";
import { ipv4, portSetNameFor, ruleInput, setNameFor, withPortSets } from "../support/arbitraries";
import { ScratchNamespace } from "../support/netns";

const SEQUENCES = Number(process.env.DFW_PLAN_SEQUENCES ?? 12);
const STEPS = 10;
const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const MARK = { mark: 0x2b00, mask: 0xff00 };

type Step =
  | { kind: "upsert"; slot: number; rule: Record<string, unknown>; priority: number }
  | { kind: "delete"; slot: number }
  | { kind: "set"; name: string; entries: string[] | null }
  | { kind: "foreign"; n: number; top: boolean };

const stepArb = (family: IpFamily): fc.Arbitrary<Step> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("upsert" as const),
        slot: fc.nat(5),
        rule: ruleInput(family),
        priority: fc.integer({ min: 0, max: 30 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), slot: fc.nat(5) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("set" as const),
        name: fc.constantFrom("extra1", "extra2"),
        entries: fc.option(fc.array(ipv4, { maxLength: 8 }), { nil: null }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("foreign" as const),
        n: fc.integer({ min: 1, max: 250 }),
        top: fc.boolean(),
      }),
    },
  );

/**
 * The block one slot's rule renders to (SNAT/DNAT mixed with other states is refused on nftables: dropped; a two-flag
 * set match names the port set).
 */
function block(family: IpFamily, input: Record<string, unknown>, tag: Tag): NftRule[] {
  const states = (input.connectionStates as string[] | undefined)?.filter((s) => s !== "SNAT" && s !== "DNAT");
  const ported = withPortSets(input, family, tag.priority);
  const parsed = dockerUserRuleArgs.parse({ ...ported, connectionStates: states?.length ? states : undefined });
  return expandRule(parsed, tag, [family])
    [family].slice(0, 6)
    .map((k) => nftRuleOf(k, MARK))
    .filter((r): r is NftRule => !("reason" in r));
}

const ipSet = (name: string, entries: readonly string[]): NftSet => ({
  name,
  family: "ipv4",
  interval: false,
  elements: [...new Set(entries)].sort((a, b) => {
    const n = (x: string) => x.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    return n(a) - n(b);
  }),
});

describe.each(["ipv4", "ipv6"] as const)("nft plans, %s rules", (family) => {
  let ns: ScratchNamespace;
  const exec: NftExec = (argv, stdin) => ns.exec(argv, stdin);
  const read = async () => {
    const t = await readTable(exec);
    if ("error" in t) throw new Error(t.error);
    return t;
  };
  const setsOnly = [setNameFor(family), portSetNameFor(family)].map((name) => ({
    name,
    set: {
      name,
      family,
      interval: true,
      ...(name === portSetNameFor(family) && { ports: true }),
      elements: [],
    } as NftSet,
  }));

  beforeAll(async () => {
    ns = await ScratchNamespace.create("dfwnftp");
  });
  afterAll(async () => ns?.destroy());

  it(`${SEQUENCES} random sequences of ${STEPS} steps keep the table equal to the reference`, async () => {
    const sequences = fc.sample(fc.array(stepArb(family), { minLength: STEPS, maxLength: STEPS }), {
      numRuns: SEQUENCES,
      seed: SEED + (family === "ipv4" ? 0 : 1),
    });
    let applies = 0;
    for (const steps of sequences) {
      await ns.exec(["nft", "delete", "table", NFT_FAMILY, NFT_TABLE]);
      // The set every generated rule may name, created by the first apply.
      const first = await applyNft(exec, [], setsOnly);
      expect(first.ok, JSON.stringify(first)).toBe(true);
      const blocks = new Map<number, { tag: Tag; rules: NftRule[] }>();
      const sets = new Map<string, NftSet>(setsOnly.map((s) => [s.name, s.set]));
      const foreign: string[] = [];
      for (const step of steps) {
        if (step.kind === "foreign") {
          const rule = `ip saddr 192.0.2.${step.n} drop`;
          await ns.mustRun([
            "nft",
            step.top ? "insert" : "add",
            "rule",
            NFT_FAMILY,
            NFT_TABLE,
            "forward",
            ...rule.split(" "),
          ]);
          if (step.top) foreign.unshift(`192.0.2.${step.n}`);
          else foreign.push(`192.0.2.${step.n}`);
          continue;
        }
        let result: Awaited<ReturnType<typeof applyNft>>;
        if (step.kind === "set") {
          const set = step.entries ? ipSet(step.name, step.entries) : null;
          result = await applyNft(exec, [], [{ name: step.name, set }]);
          if (set) sets.set(step.name, set);
          else sets.delete(step.name);
        } else {
          const tag = { priority: step.kind === "upsert" ? step.priority : 0, id: `slot${step.slot}` };
          const rules = step.kind === "upsert" ? block(family, step.rule, tag) : null;
          result = await applyNft(exec, [{ tag, rules }], []);
          if (rules && rules.length > 0) blocks.set(step.slot, { tag, rules });
          else blocks.delete(step.slot);
        }
        applies++;
        expect(result.ok, JSON.stringify(result).slice(0, 2000)).toBe(true);
        const live = await read();
        const ours = live.rules.filter((r) => r.comment !== undefined && tagOfComment(r.comment));
        const want = [...blocks.values()].sort((a, b) => compareTags(a.tag, b.tag)).flatMap((b) => b.rules);
        expect(ours.map((r) => canonicalJson(r.rule))).toEqual(want.map((r) => canonicalJson(r)));
        // Managed blocks first, then the foreign rules in their relative order.
        expect(live.rules.slice(0, ours.length).every((r) => r.comment !== undefined)).toBe(true);
        const others = live.rules.slice(ours.length).map((r) => JSON.stringify(r.expr).match(/192\.0\.2\.\d+/)?.[0]);
        expect(others).toEqual(foreign);
        expect(new Map(live.sets.map((s) => [s.name, canonicalJson(s)]))).toEqual(
          new Map([...sets].map(([n, s]) => [n, canonicalJson(s)])),
        );
      }
    }
    console.log(
      `[nft plan model] ${family}: ${sequences.length} sequences, ${applies} applies verified (seed ${SEED})`,
    );
  });

  it("a batch the kernel refuses changes nothing; a foreign table is never touched", async () => {
    await ns.exec(["nft", "delete", "table", NFT_FAMILY, NFT_TABLE]);
    await ns.mustRun(
      ["nft", "-f", "-"],
      'table inet someone-else {\n chain c { type filter hook forward priority 0; ip saddr 203.0.113.7 drop comment "dfw:0001:looks-ours"; }\n}\n',
    );
    const foreignBefore = await ns.mustRun(["nft", "-j", "list", "table", "inet", "someone-else"]);
    const tag = { priority: 5, id: "a" };
    const ok = await applyNft(exec, [{ tag, rules: block(family, { action: "DROP", family }, tag) }], setsOnly);
    expect(ok.ok).toBe(true);
    const before = await ns.mustRun(["nft", "-j", "list", "table", NFT_FAMILY, NFT_TABLE]);
    // A rule naming a missing set is refused at plan time, naming both.
    const bad = { priority: 6, id: "b" };
    const unplanned = await applyNft(
      exec,
      [{ tag: bad, rules: block(family, { action: "DROP", family, source: { set: "nosuchset" } }, bad) }],
      [],
    );
    expect(unplanned).toMatchObject({ ok: false, stage: "plan", restored: true });
    expect(!unplanned.ok && unplanned.message).toMatch(/dfw:0006:b.*nosuchset/);
    // The kernel refuses this batch only at its last command (a set holding more elements than its size): nothing
    // of it is committed, the new block and set included.
    const refused = await applyNft(
      exec,
      [{ tag: bad, rules: block(family, { action: "DROP", family }, bad) }],
      [{ name: "extra1", set: { ...ipSet("extra1", ["192.0.2.1", "192.0.2.2"]), size: 1 } }],
    );
    expect(refused).toMatchObject({ ok: false, stage: "apply", restored: true });
    expect(await ns.mustRun(["nft", "-j", "list", "table", NFT_FAMILY, NFT_TABLE])).toBe(before);
    expect(await ns.mustRun(["nft", "-j", "list", "table", "inet", "someone-else"])).toBe(foreignBefore);
  });

  it("a read-back that differs from the plan (a concurrent writer) is undone to the snapshot", async () => {
    const snapshot: ReadTable = await read();
    const tag = { priority: 9, id: "c" };
    const result = await applyNft(exec, [{ tag, rules: block(family, { action: "RETURN", family }, tag) }], [], {
      afterCommit: () =>
        ns
          .mustRun(["nft", "add", "rule", NFT_FAMILY, NFT_TABLE, "forward", "ip", "saddr", "198.51.100.9", "drop"])
          .then(() => undefined),
    });
    expect(result).toMatchObject({ ok: false, stage: "verify", restored: true });
    const after = await read();
    const strip = (t: ReadTable) => canonicalJson({ ...t, rules: t.rules.map(({ handle: _h, ...r }) => r) });
    expect(strip(after)).toBe(strip(snapshot));
  });
});
