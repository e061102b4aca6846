// The provider's intents (netfilter/intent.ts) on an nftables host: each rule and set intent
// becomes a block or set change, or a refusal naming the field and why, before anything runs; then one atomic apply.
// Host facts come from the live ruleset (netfilter/firewall-backend.ts).
import type { IpFamily } from "../model/address";
import { expandRule } from "../netfilter/expand";
import {
  detectFirewallBackend,
  type FirewallBackendFact,
  NftJsonError,
  parseNftRulesetJson,
} from "../netfilter/firewall-backend";
import type { Backend } from "../netfilter/host-state";
import type { Intent } from "../netfilter/intent";
import { type IptablesSave, parseIptablesSave } from "../netfilter/parse-iptables-save";
import { applyNft, type NftApplyResult, type NftExec } from "./apply";
import { type NftRefusal, nftRuleOf, nftSetOf, setFlagsRefusal } from "./from-kernel";
import type { NftRule, NftSet } from "./nft-model";
import type { NftBlockChange, NftSetChange } from "./plan";

const SAVES: ReadonlyArray<readonly [Backend, IpFamily, string]> = [
  ["nft", "ipv4", "iptables-nft-save"],
  ["nft", "ipv6", "ip6tables-nft-save"],
  ["legacy", "ipv4", "iptables-legacy-save"],
  ["legacy", "ipv6", "ip6tables-legacy-save"],
];

/**
 * The host's firewall fact from `nft -j list ruleset`, plus the iptables saves that show a DOCKER-USER left by an
 * earlier iptables backend (a tool that is missing or fails counts as no chain there).
 */
export async function readNftFact(exec: NftExec): Promise<FirewallBackendFact | { error: string }> {
  const r = await exec(["nft", "-j", "list", "ruleset"]);
  if (r.code !== 0) return { error: `nft -j list ruleset failed (rc=${r.code}): ${r.stderr.trim().slice(0, 300)}` };
  const saves: Record<Backend, Partial<Record<IpFamily, IptablesSave>>> = { nft: {}, legacy: {} };
  for (const [backend, family, tool] of SAVES) {
    const s = await exec([tool, "-t", "filter"]);
    if (s.code === 0) saves[backend][family] = parseIptablesSave(s.stdout);
  }
  try {
    return detectFirewallBackend({ nft: parseNftRulesetJson(r.stdout), saves });
  } catch (e) {
    if (e instanceof NftJsonError) return { error: e.message };
    throw e;
  }
}

export interface NftIntentPlan {
  readonly blocks: readonly NftBlockChange[];
  readonly sets: readonly NftSetChange[];
  /** Intent index -> why it cannot be applied on this host. */
  readonly refused: ReadonlyMap<number, string>;
}

/** PURE. Intents -> nft changes; a refused intent contributes nothing (its resource reports the reason). */
export function nftChangesOf(
  intents: readonly Intent[],
  fact: Pick<FirewallBackendFact, "families" | "acceptMark">,
  /** Intents already refused by the caller (a container target that did not resolve): left as they are. */
  skip: ReadonlySet<number> = new Set(),
  /** The sets our table holds now: a rule's set flags must fit the shape of the set it names. */
  liveSets: readonly NftSet[] = [],
): NftIntentPlan {
  const refused = new Map<number, string>();
  const blocks: NftBlockChange[] = [];
  const sets: NftSetChange[] = [];
  const families = fact.families as IpFamily[];
  const portSet = new Map<string, boolean | undefined>(liveSets.map((s) => [s.name, s.ports === true]));
  for (const x of intents)
    if (x.kind === "set") portSet.set(x.name, x.spec ? x.spec.type.endsWith(",port") : undefined);
  for (const [i, x] of intents.entries()) {
    if (x.kind === "persistence" || skip.has(i)) continue; // the caller writes nftBootBatch / nftBootUnit (persist.ts)
    if (x.kind === "set") {
      const s = x.spec && nftSetOf(x.spec);
      if (s && "reason" in s) refused.set(i, `${s.field} ${s.reason}`);
      else sets.push({ name: x.name, set: s });
      continue;
    }
    const tag = { priority: x.priority, id: x.id };
    const kernel = x.rule ? expandRule(x.rule, tag, families) : undefined;
    const rules = kernel ? families.flatMap((f) => kernel[f]).map((k) => nftRuleOf(k, fact.acceptMark)) : [];
    const refusal =
      rules.find((r): r is NftRefusal => "reason" in r) ?? (x.rule && setFlagsRefusal(x.rule, (n) => portSet.get(n)));
    if (refusal) refused.set(i, `${refusal.field} ${refusal.reason}`);
    else blocks.push({ tag, rules: x.rule ? (rules as NftRule[]) : null });
  }
  return { blocks, sets, refused };
}

export interface NftIntentOutcome {
  readonly refused: ReadonlyMap<number, string>;
  /** Undefined when every intent was refused (nothing ran). */
  readonly apply?: NftApplyResult;
}

/** Reads the fact, plans, applies the intents that can be applied in one transaction. The caller holds the lock. */
export async function runNftIntents(
  exec: NftExec,
  intents: readonly Intent[],
  options: { readonly exclusive?: boolean } = {},
): Promise<NftIntentOutcome | { error: string }> {
  const fact = await readNftFact(exec);
  if ("error" in fact) return fact;
  if (fact.backend !== "nftables") return { error: `the host's Docker uses ${fact.backend}, not nftables` };
  const plan = nftChangesOf(intents, fact);
  if (plan.blocks.length === 0 && plan.sets.length === 0) return { refused: plan.refused };
  return { refused: plan.refused, apply: await applyNft(exec, plan.blocks, plan.sets, options) };
}
