// Planning stays near-linear in the number of rules on a host: deleting many rules at once, and changing one rule
// in a long chain. Work is counted, not timed: every read of a live rule's fields is counted, and doubling the
// rules may at most about double the reads (the O(n³) blame/undo lookups that made a 2,000-rule delete take 35 s
// read them n³/2 times).
import { describe, expect, it } from "vitest";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import { deriveFacts, type HostFacts, isNftFacts, parseHostState } from "../../provider/netfilter/host-state";
import type { Intent } from "../../provider/netfilter/intent";
import type { SavedRule } from "../../provider/netfilter/parse-iptables-save";
import { renderRule } from "../../provider/netfilter/render-rule";
import { planTransaction } from "../../provider/plan/transaction";
import { applyRestoreOps } from "../support/chain-sim";

const N = "0123456789abcdef01234567";
const RET = "-A DOCKER-USER -j RETURN";
const TIMEOUT_MS = 60_000;

function ruleIntents(n: number): Array<Intent & { kind: "rule" }> {
  return Array.from({ length: n }, (_, i) => ({
    kind: "rule" as const,
    // Ids sort in intent order, so the chain built below is already in plan order.
    id: `r${String(i).padStart(6, "0")}`,
    priority: 500,
    rule: dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", publishedPorts: [1 + (i % 65000)] }),
  }));
}

/** A host whose ipv4 DOCKER-USER holds the given managed rules (in plan order), then Docker's RETURN. */
function hostWith(intents: ReadonlyArray<Intent & { kind: "rule" }>, counter?: { reads: number }) {
  const lines = intents
    .flatMap((x) => (x.rule ? expandRule(x.rule, { priority: x.priority, id: x.id }, ["ipv4"]).ipv4 : []))
    .map(renderRule);
  const chain = [...lines, RET];
  const save = [
    "*filter",
    ":FORWARD ACCEPT [0:0]",
    ":DOCKER-USER - [0:0]",
    "-A FORWARD -j DOCKER-USER",
    ...chain,
    "COMMIT",
  ].join("\n");
  const state = parseHostState(`\n@@${N} tools\nipset\n@@${N} nft4\n${save}\n@@${N} end\n`, N);
  const derived = deriveFacts(state);
  if ("error" in derived) throw new Error(derived.error);
  if (isNftFacts(derived)) throw new Error("not an iptables host");
  const facts: HostFacts = derived;
  const rules = state.saves.nft.ipv4?.tables.get("filter")?.rules as SavedRule[];
  if (counter) {
    rules.forEach((r, i) => {
      const counted = {} as SavedRule;
      for (const key of ["chain", "line", "tag"] as const) {
        Object.defineProperty(counted, key, {
          enumerable: r[key] !== undefined,
          get: () => {
            counter.reads++;
            return r[key];
          },
        });
      }
      rules[i] = counted;
    });
  }
  return { state, facts, chain };
}

const tempName = (s: string) => `dfwtmp-${s}`;

describe("planning at scale", () => {
  /** Plans deleting all of n rules; returns how many times the planner read a live rule's fields. */
  function deleteAll(n: number): number {
    const counter = { reads: 0 };
    const intents = ruleIntents(n);
    const { state, facts, chain } = hostWith(intents, counter);
    counter.reads = 0;
    const plan = planTransaction(
      state,
      facts,
      intents.map((x) => ({ ...x, rule: null })),
      tempName,
    );
    const reads = counter.reads;
    expect(plan.expectedChains.ipv4).toEqual([RET]);
    const [step] = plan.steps;
    expect(applyRestoreOps(chain, step?.run.text)).toEqual([RET]);
    // Every deleted line is blamed on the intent that deletes it; the undo puts the whole chain back.
    const owners = plan.steps[0]?.lineOwners;
    expect(owners?.size).toBe(n);
    expect(owners?.get(2)).toBe(0);
    expect(owners?.get(n + 1)).toBe(n - 1);
    expect(applyRestoreOps([RET], step?.undo?.text)).toEqual(chain);
    return reads;
  }

  it("deleting twice the rules reads the live chain about twice as much, not 8 times", () => {
    const small = deleteAll(300);
    const large = deleteAll(600);
    expect(large / small, `${small} reads for 300 rules, ${large} for 600`).toBeLessThan(2.5);
    expect(large, "reads per rule").toBeLessThan(600 * 50);
  });

  it(
    "changes one rule in a 10,000-rule chain with a two-line script (the LCS needs no n×m table)",
    () => {
      const intents = ruleIntents(10_000);
      const { state, facts, chain } = hostWith(intents);
      const changed = { ...(intents[7] as Intent & { kind: "rule" }) };
      changed.rule = dockerUserRuleArgs.parse({ action: "DROP", protocol: "tcp", publishedPorts: [8] });
      const plan = planTransaction(state, facts, [changed], tempName);
      const script = plan.steps[0]?.run.text ?? "";
      expect(script.split("\n").filter((l) => /^-[DI] /.test(l))).toHaveLength(2);
      const after = applyRestoreOps(chain, script);
      expect(after).toEqual(plan.expectedChains.ipv4);
      expect(after.filter((l, i) => l !== chain[i])).toHaveLength(1);
      expect(applyRestoreOps(after, plan.steps[0]?.undo?.text)).toEqual(chain);
    },
    TIMEOUT_MS,
  );
});
