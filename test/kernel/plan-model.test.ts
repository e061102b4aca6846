// Model-based test of planChainChanges on the real kernel: random sequences of create / update / delete /
// re-prioritise, interleaved with out-of-band foreign inserts and tampering, against a chain that also holds
// foreign rules and Docker's RETURN. After every applied plan the live chain equals the reference model and the
// foreign rules are untouched and in order.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IpFamily } from "../../provider/model/address";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import { chainRules, parseIptablesSave } from "../../provider/netfilter/parse-iptables-save";
import { type BlockChange, planChainChanges } from "../../provider/netfilter/plan-chain";
import { renderRule } from "../../provider/netfilter/render-rule";
import { compareTags, type Tag } from "../../provider/netfilter/tag";
import { ruleInput } from "../support/arbitraries";
import { type Backend, ScratchNamespace, tools } from "../support/netns";

const SEQUENCES = Number(process.env.DFW_PLAN_SEQUENCES ?? 25);
const STEPS = 10;
const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

type Step =
  | { kind: "create" | "update"; slot: number; rule: Record<string, unknown>; priority: number }
  | { kind: "delete"; slot: number }
  | { kind: "foreign"; position: number; n: number }
  | { kind: "tamper"; slot: number };

const stepArb = (family: IpFamily): fc.Arbitrary<Step> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("create" as const),
        slot: fc.nat(5),
        rule: ruleInput(family),
        priority: fc.integer({ min: 0, max: 30 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("update" as const),
        slot: fc.nat(5),
        rule: ruleInput(family),
        priority: fc.integer({ min: 0, max: 30 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), slot: fc.nat(5) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("foreign" as const),
        position: fc.nat(20),
        n: fc.integer({ min: 1, max: 250 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("tamper" as const), slot: fc.nat(5) }) },
  );

function blockLines(family: IpFamily, rule: Record<string, unknown>, tag: Tag): string[] {
  const parsed = dockerUserRuleArgs.parse(rule);
  return expandRule(parsed, tag, [family])[family].slice(0, 6).map(renderRule);
}

describe.each([
  ["nft", "ipv4"],
  ["legacy", "ipv4"],
  ["nft", "ipv6"],
  ["legacy", "ipv6"],
] as const)("plans on iptables-%s %s", (backend: Backend, family: IpFamily) => {
  let ns: ScratchNamespace;
  const t = tools(backend, family);
  const foreignSource = (n: number) => (family === "ipv4" ? `192.0.2.${n}/32` : `2001:db8:ffff::${n.toString(16)}/128`);
  const initialChain = `*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -s ${foreignSource(1)} -j DROP\n-A DOCKER-USER -j RETURN\nCOMMIT\n`;
  const save = async () => chainRules(parseIptablesSave(await ns.mustRun([t.save, "-t", "filter"])), "DOCKER-USER");

  beforeAll(async () => {
    ns = await ScratchNamespace.create();
    await ns.mustRun(["ipset", "restore"], "create fcset4 hash:net family inet\ncreate fcset6 hash:net family inet6\n");
  });
  afterAll(async () => ns?.destroy());

  it(`${SEQUENCES} random sequences of ${STEPS} steps keep the chain equal to the reference model`, async () => {
    const runs = fc.sample(fc.array(stepArb(family), { minLength: STEPS, maxLength: STEPS }), {
      numRuns: family === "ipv4" ? SEQUENCES : Math.ceil(SEQUENCES / 2),
      seed: SEED,
    });
    let applied = 0;
    let kernelOps = 0;
    for (const [r, steps] of runs.entries()) {
      await ns.mustRun([t.restore, "-w", "5"], initialChain);
      const model = new Map<string, { tag: Tag; lines: string[] }>();
      let foreign = [`-A DOCKER-USER -s ${foreignSource(1)} -j DROP`, "-A DOCKER-USER -j RETURN"];
      for (const step of steps) {
        const id = `s${"slot" in step ? step.slot : 0}`;
        const changes: BlockChange[] = [];
        if (step.kind === "create" || step.kind === "update") {
          const tag = { priority: step.priority, id };
          const lines = blockLines(family, step.rule, tag);
          model.set(id, { tag, lines });
          changes.push({ tag, lines });
        } else if (step.kind === "delete") {
          const had = model.get(id);
          model.delete(id);
          if (had) changes.push({ tag: had.tag, lines: null });
        } else if (step.kind === "foreign") {
          // Another tool inserts its own rule somewhere; our next plan must leave it be, below our blocks.
          const live = await save();
          const pos = (step.position % (live.length + 1)) + 1;
          const rule = `-s ${foreignSource(step.n)} -p udp -j DROP`;
          await ns.mustRun([t.iptables, "-w", "5", "-I", "DOCKER-USER", String(pos), ...rule.split(" ")]);
          const after = await save();
          foreign = after.filter((x) => !x.tag).map((x) => x.line);
        } else {
          // Someone deletes one of our rules by hand: the next plan, given the desired block, repairs it.
          const b = model.get(id);
          const victim = b?.lines[0];
          if (b && victim && (await save()).some((x) => x.line === victim)) {
            await ns.mustRun(
              [t.restore, "-w", "5", "--noflush"],
              `*filter\n-D DOCKER-USER ${victim.slice(15)}\nCOMMIT\n`,
            );
            changes.push({ tag: b.tag, lines: b.lines });
          }
        }
        const plan = planChainChanges(family, await save(), changes);
        if (plan.script) {
          expect(plan.script.split("\n").some((l) => l.startsWith(":"))).toBe(false);
          await ns.mustRun([t.restore, "-w", "5", "--noflush"], plan.script);
          kernelOps += plan.ops.length;
        }
        applied++;
        const live = (await save()).map((x) => x.line);
        const reference = [
          ...[...model.values()].sort((a, b) => compareTags(a.tag, b.tag)).flatMap((b) => b.lines),
          ...foreign,
        ];
        expect(live, `sequence ${r}, step ${JSON.stringify(step).slice(0, 200)}`).toEqual(reference);
        expect(live).toEqual(plan.expected);
      }
    }
    console.log(
      `[plan model] iptables-${backend} ${family}: ${runs.length} sequences, ${applied} plans applied (${kernelOps} kernel ops), chain == model after each (seed ${SEED})`,
    );
  });

  it("a plan with a line the kernel rejects applies nothing", async () => {
    await ns.mustRun([t.restore, "-w", "5"], initialChain);
    const a = { priority: 1, id: "ok" };
    const b = { priority: 2, id: "bad" };
    const good = blockLines(family, { action: "ACCEPT", protocol: "tcp", publishedPorts: [443] }, a);
    const before = await save();
    const plan = planChainChanges(family, before, [
      { tag: a, lines: good },
      {
        tag: b,
        lines: [`-A DOCKER-USER -m comment --comment dfw:0002:bad -m set --match-set no-such-set src -j ACCEPT`],
      },
    ]);
    const res = await ns.exec([t.restore, "-w", "5", "--noflush"], plan.script);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/no-such-set|line/);
    expect((await save()).map((x) => x.line)).toEqual(before.map((x) => x.line));
  });
});
