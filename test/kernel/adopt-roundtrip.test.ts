// Adoption round trip on the real kernel (both backends): the seeds' hand-written rules are loaded by hand into a
// scratch namespace, `adopt` reads them through the provider's own read script, and the adopted rules and sets
// go through the provider's transaction layer. The chain ends with the same kernel rules, now tagged, and the
// untagged originals gone; the swap is one iptables-restore per family (atomic). In the engine's order (rules
// first, exclusive persistence after them) the policy is there, doubled, in between.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AdoptPlan } from "../../provider/adopt/adopt-plan";
import { readAndPlan } from "../../provider/adopt/cli";
import type { IpFamily } from "../../provider/model/address";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/intent";
import { tagOfComment } from "../../provider/netfilter/tag";
import { HostBatcher } from "../../provider/node/batch";
import { runTransaction } from "../../provider/node/transaction";
import { HAND_RECIPES, type HandRecipe } from "../adopt/seed-hand-rules";
import { type Backend, ScratchNamespace, savedChain, tools } from "../support/netns";
import { netnsSession } from "../support/netns-session";

const RETURN = "-A DOCKER-USER -j RETURN";
const COMMENT = / -m comment --comment (?:"(?:[^"\\]|\\.)*"|\S+)/;
const stripComment = (l: string) => l.replace(COMMENT, "");
const stripBareTcp = (l: string) => l.replace(/ -m tcp(?= -m | -j )/, "");
const isTagged = (l: string) => {
  const m = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(l);
  return m !== null && tagOfComment(m[1] ?? m[2] ?? "") !== undefined;
};

/** What a DockerHostFirewall of the plan asks of the transaction layer (its IpSets and DockerUserRules). */
function intentsOf(plan: AdoptPlan): { sets: Intent[]; rules: Intent[] } {
  return {
    sets: plan.sets.map((s) => ({ kind: "set", name: s.name, spec: ipSetArgs.parse({ name: s.name, ...s.input }) })),
    rules: plan.rules.map((r) => ({
      kind: "rule",
      id: `adopted-${r.key}`,
      priority: r.priority,
      rule: dockerUserRuleArgs.parse({ ...r.input, priority: r.priority }),
    })),
  };
}
const EXCLUSIVE: Intent = { kind: "persistence", config: { exclusive: true } };

const familiesOf = (r: HandRecipe): IpFamily[] => (r.ipv6 ? ["ipv4", "ipv6"] : ["ipv4"]);
const handLines = (r: HandRecipe, f: IpFamily) => (f === "ipv4" ? r.ipv4 : (r.ipv6 ?? []));
const savedLines = (r: HandRecipe, f: IpFamily) => (f === "ipv4" ? r.saved4 : (r.saved6 ?? []));

describe.each(["nft", "legacy"] as const)("adopting hand-written rules on iptables-%s", (backend: Backend) => {
  let ns: ScratchNamespace;
  let session: ReturnType<typeof netnsSession>;
  const chain = (f: IpFamily) => savedChain(ns, backend, f, "DOCKER-USER");

  beforeEach(async () => {
    ns = await ScratchNamespace.create();
    session = netnsSession(ns);
  });
  afterEach(async () => {
    session?.dispose();
    await ns?.destroy();
  });

  /** Loads a recipe by hand, as its article does, above Docker's RETURN. */
  async function loadByHand(r: HandRecipe) {
    if (r.ipset) await ns.mustRun(["ipset", "-exist", "restore"], r.ipset);
    for (const f of familiesOf(r)) {
      await ns.installDockerUserChain(backend, f);
      const script = ["*filter", ":DOCKER-USER - [0:0]", ...handLines(r, f), RETURN, "COMMIT", ""].join("\n");
      await ns.mustRun([tools(backend, f).restore, "-w", "5", "--noflush"], script);
      // The unit tests' fixture is what the kernel really prints.
      expect(await chain(f)).toEqual([...savedLines(r, f), RETURN]);
    }
  }

  it.each(HAND_RECIPES)("$name: replaced by tagged rules in one restore per family", async (r) => {
    await loadByHand(r);
    const { plan } = await readAndPlan(session);
    expect(plan.flagged).toEqual([]);
    expect(plan.exclusive).toBe(true);

    const { sets, rules } = intentsOf(plan);
    const out = await runTransaction(session, [...sets, ...rules, EXCLUSIVE], "adopt-test");
    expect(out.results.every((x) => x.ok)).toBe(true);

    for (const f of familiesOf(r)) {
      const after = await chain(f);
      // (a) The same kernel rules, in the same order, each now tagged; Docker's RETURN stays last, untagged.
      expect(after.map(stripComment)).toEqual([...savedLines(r, f).map(stripBareTcp), RETURN]);
      expect(after.slice(0, -1).every(isTagged)).toBe(true);
      expect(after.filter((l) => !isTagged(l))).toEqual([RETURN]);
      // One iptables-restore for the family deletes every original and inserts every tagged copy: all or nothing.
      const steps = out.plan.steps.filter((s) => s.label === `iptables-${backend} ${f}`);
      expect(steps).toHaveLength(1);
      const script = steps[0]?.run.text ?? "";
      for (const line of savedLines(r, f)) expect(script).toContain(`-D DOCKER-USER ${line.slice(15)}`);
      const inserts = script.split("\n").filter((l) => l.startsWith("-I DOCKER-USER "));
      expect(inserts.map((l) => l.replace(/^-I DOCKER-USER \d+ /, ""))).toEqual(
        after.slice(0, -1).map((l) => l.slice(15)),
      );
    }
    // Adopting again finds nothing left to adopt.
    const again = (await readAndPlan(session)).plan;
    expect(again.rules).toEqual([]);
    expect(again.flagged).toEqual([]);
  });

  it("in the engine's order (rules, then exclusive persistence) the policy is never missing in between", async () => {
    const r = HAND_RECIPES[3] as HandRecipe;
    await loadByHand(r);
    const { plan } = await readAndPlan(session);
    const { sets, rules } = intentsOf(plan);
    const batcher = new HostBatcher(session, "adopt-test");
    const first = await Promise.all([...sets, ...rules].map((x) => batcher.submit(x)));
    expect(first.every((s) => s.result.ok)).toBe(true);
    for (const f of familiesOf(r)) {
      // Tagged copies on top, the untagged originals still below them: the same verdict for every packet.
      const between = await chain(f);
      const tagged = between.filter(isTagged);
      expect(tagged.map(stripComment)).toEqual(savedLines(r, f).map(stripBareTcp));
      expect(between.slice(tagged.length)).toEqual([...savedLines(r, f), RETURN]);
    }
    const second = await batcher.submit(EXCLUSIVE);
    expect(second.result.ok).toBe(true);
    for (const f of familiesOf(r)) {
      expect((await chain(f)).filter((l) => !isTagged(l))).toEqual([RETURN]);
    }
    expect(batcher.transactions).toBe(2);
  });

  it("leaves the host's policy alone where a line cannot be adopted (exclusive stays off)", async () => {
    await ns.installDockerUserChain(backend, "ipv4");
    const lines = [
      "-A DOCKER-USER -p tcp -m tcp --dport 80 -j RETURN",
      "-A DOCKER-USER -p tcp -m multiport --dports 25,465 -j DROP",
    ];
    const script = [
      "*filter",
      ":DOCKER-USER - [0:0]",
      "-N f2b-x",
      ...lines,
      "-A DOCKER-USER -j f2b-x",
      RETURN,
      "COMMIT",
      "",
    ];
    await ns.mustRun([tools(backend, "ipv4").restore, "-w", "5", "--noflush"], script.join("\n"));
    const before = await chain("ipv4");
    const { plan } = await readAndPlan(session);
    expect(plan.rules).toHaveLength(1);
    expect(plan.flagged.map((x) => x.line)).toEqual(before.slice(1, 3));
    const { rules } = intentsOf(plan);
    const out = await runTransaction(
      session,
      [...rules, { kind: "persistence", config: { exclusive: plan.exclusive } }],
      "t",
    );
    expect(out.results.every((x) => x.ok)).toBe(true);
    const after = await chain("ipv4");
    expect(after.filter((l) => !isTagged(l))).toEqual(before);
  });
});
