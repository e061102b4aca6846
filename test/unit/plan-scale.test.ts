// Planning stays near-linear in the number of rules on a host: deleting thousands of rules at once, and changing
// one rule in a long chain. Guards against the O(n³) blame/undo lookups and the O(n²)-memory LCS that made a
// 2,000-rule delete take 35 s. No time is asserted: on the old code these plans never finish within the timeout
// (hours for 5,000 deletes, gigabytes for the 20,000-rule LCS); on the current code they take well under a second.
import { describe, expect, it } from "vitest";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import { deriveFacts, type HostFacts, parseHostState } from "../../provider/netfilter/host-state";
import { type Intent, planTransaction } from "../../provider/netfilter/plan-transaction";
import { renderRule } from "../../provider/netfilter/render-rule";
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
function hostWith(intents: ReadonlyArray<Intent & { kind: "rule" }>) {
  const lines = intents
    .flatMap((x) => (x.rule ? expandRule(x.rule, { priority: x.priority, id: x.id }, ["ipv4"]).ipv4 : []))
    .map(renderRule);
  const chain = [...lines, RET];
  const save = ["*filter", ":FORWARD ACCEPT [0:0]", ":DOCKER-USER - [0:0]", ...chain, "COMMIT"].join("\n");
  const state = parseHostState(`\n@@${N} tools\nipset\n@@${N} nft4\n${save}\n@@${N} end\n`, N);
  const facts = deriveFacts(state) as HostFacts;
  return { state, facts, chain };
}

const tempName = (s: string) => `dfwtmp-${s}`;

describe("planning at scale", () => {
  it(
    "deletes 5,000 rules in one plan, with blame and undo for every line",
    () => {
      const intents = ruleIntents(5000);
      const { state, facts, chain } = hostWith(intents);
      const deletes = intents.map((x) => ({ ...x, rule: null }));
      const plan = planTransaction(state, facts, deletes, tempName);
      expect(plan.expectedChains.ipv4).toEqual([RET]);
      const [step] = plan.steps;
      expect(applyRestoreOps(chain, step?.run.text)).toEqual([RET]);
      // Every deleted line is blamed on the intent that deletes it; the undo puts the whole chain back.
      const owners = plan.lineOwners.get(0);
      expect(owners?.size).toBe(5000);
      expect(owners?.get(2)).toBe(0);
      expect(owners?.get(5001)).toBe(4999);
      expect(applyRestoreOps([RET], step?.undo?.text)).toEqual(chain);
    },
    TIMEOUT_MS,
  );

  it(
    "changes one rule in a 20,000-rule chain with a two-line script",
    () => {
      const intents = ruleIntents(20_000);
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
