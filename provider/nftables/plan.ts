// PURE. Desired blocks and sets vs our live table -> one libnftables batch (all or nothing in the kernel) and what
// the table must read back as. Layout as on iptables (netfilter/plan-chain.ts): managed blocks ordered by
// (priority, id), then rules we do not own in their relative order. Docker's tables and foreign tables are never
// named: every command addresses `inet docker-firewall`.
import { canonicalJson } from "../model/canonical-json";
import { compareTags, type Tag, tagOfComment } from "../netfilter/tag";
import { NFT_CHAIN, NFT_FAMILY, NFT_TABLE, type NftRule, type NftSet } from "./nft-model";
import type { ReadRule, ReadTable } from "./parse-table";
import { addRawRule, addRule, deleteSet, ensureTableAndChain, flushChain, type Json, replaceSet } from "./render";

/** What one DockerUserRule wants in the table: its rules in block order, or null (deleted). */
export interface NftBlockChange {
  readonly tag: Tag;
  readonly rules: readonly NftRule[] | null;
}

/** What one IpSet wants: the set, or null (deleted). */
export interface NftSetChange {
  readonly name: string;
  readonly set: NftSet | null;
}

/** One rule as it must read back: ours by model, anything else by its listed statements. */
export type ExpectedRule =
  | { readonly kind: "ours"; readonly rule: NftRule }
  | { readonly kind: "raw"; readonly comment?: string; readonly expr: readonly Json[] };

export interface NftPlan {
  readonly commands: readonly Json[];
  readonly rules: readonly ExpectedRule[];
  readonly sets: readonly NftSet[];
}

export interface NftPlanOptions {
  /** Exclusive mode: rules of the table that no resource owns are removed. */
  readonly exclusive?: boolean;
}

const raw = (r: ReadRule): ExpectedRule =>
  r.rule && tagOfComment(r.rule.comment)
    ? { kind: "ours", rule: r.rule }
    : { kind: "raw", ...(r.comment !== undefined && { comment: r.comment }), expr: r.expr };

const sameSetShape = (a: NftSet, b: NftSet) =>
  a.family === b.family &&
  a.interval === b.interval &&
  a.ports === b.ports &&
  a.size === b.size &&
  a.timeout === b.timeout;

const chainRef = { family: NFT_FAMILY, table: NFT_TABLE, name: NFT_CHAIN };

export function planTable(
  live: ReadTable,
  blocks: readonly NftBlockChange[],
  sets: readonly NftSetChange[],
  options: NftPlanOptions = {},
): NftPlan {
  const changed = new Set(blocks.map((b) => b.tag.id));
  const managed = new Map<string, { tag: Tag; rules: ExpectedRule[] }>();
  const foreign: ExpectedRule[] = [];
  for (const r of live.rules) {
    const tag = r.comment === undefined ? undefined : tagOfComment(r.comment);
    if (!tag) {
      if (!options.exclusive) foreign.push(raw(r));
      continue;
    }
    if (changed.has(tag.id)) continue;
    // Another resource's block stays as read, tampered rules included: its own refresh reports them.
    const b = managed.get(tag.id) ?? { tag, rules: [] };
    b.rules.push(raw(r));
    managed.set(tag.id, b);
  }
  for (const b of blocks) {
    if (b.rules && b.rules.length > 0)
      managed.set(b.tag.id, { tag: b.tag, rules: b.rules.map((rule) => ({ kind: "ours" as const, rule })) });
  }
  const ordered = [...managed.values()].sort((a, b) => compareTags(a.tag, b.tag)).flatMap((b) => b.rules);
  const rules = [...ordered, ...foreign];

  const liveSets = new Map(live.sets.map((s) => [s.name, s]));
  const finalSets = new Map(liveSets);
  const setCommands: Json[] = [];
  for (const c of sets) {
    const before = liveSets.get(c.name);
    const retyped = before && c.set && !sameSetShape(before, c.set);
    // A set of another shape (or one nft lists in a type we never create) is deleted and re-created; the chain is
    // flushed first in the same batch, so no rule references it in between.
    if ((before && (!c.set || retyped)) || (c.set && live.otherSets.includes(c.name)))
      setCommands.push(deleteSet(c.name));
    if (c.set) {
      if (!before || retyped || canonicalJson(before) !== canonicalJson(c.set)) setCommands.push(...replaceSet(c.set));
      finalSets.set(c.name, c.set);
    } else finalSets.delete(c.name);
  }

  // A rule naming a set that will not exist, or one of the other shape (a port set match on an address set or the
  // reverse), would make the kernel refuse the whole batch with a bare "No such file or directory" or "Datatype
  // mismatch": name the rule and the set instead.
  for (const r of rules) {
    if (r.kind !== "ours") continue;
    for (const a of r.rule.addresses) {
      const name = a.value.startsWith("@") ? a.value.slice(1) : undefined;
      const set = name === undefined ? undefined : finalSets.get(name);
      if (name === undefined || live.otherSets.includes(name)) continue;
      if (!set)
        throw new Error(`rule "${r.rule.comment}" matches set ${name}, which ${NFT_FAMILY} ${NFT_TABLE} does not hold`);
      if ((a.port !== undefined) !== (set.ports === true))
        throw new Error(
          `rule "${r.rule.comment}" matches set ${name} as ${a.port ? "a port set" : "an address set"}, which it is not`,
        );
    }
  }

  const commands: Json[] = [
    ...(live.chainPresent ? [flushChain()] : []),
    ...(live.chainPresent && !live.chainOk ? [{ delete: { chain: chainRef } }] : []),
    ...ensureTableAndChain(),
    ...setCommands,
    ...rules.map((r) => (r.kind === "ours" ? addRule(r.rule) : addRawRule(r.expr, r.comment))),
  ];
  return { commands, rules, sets: [...finalSets.values()] };
}

/** The batch that puts the table back as it was read (undo after a failed verification). */
export function restoreCommands(snapshot: ReadTable, now: ReadTable): Json[] {
  const drop: Json[] = now.exists ? [{ delete: { table: { family: NFT_FAMILY, name: NFT_TABLE } } }] : [];
  if (!snapshot.exists) return drop;
  // Only what parse-table.ts understood can be rebuilt; a table holding anything else is never deleted here.
  if (snapshot.otherChains.length > 0 || snapshot.otherSets.length > 0 || now.otherChains.length > 0)
    throw new Error("our table holds chains or sets we did not create: it cannot be rebuilt from the snapshot");
  return [
    ...drop,
    ...ensureTableAndChain(),
    ...snapshot.sets.flatMap(replaceSet),
    ...snapshot.rules.map((r) => addRawRule(r.expr, r.comment)),
  ];
}

/** Differences between what was read back and the plan's expectation, as readable lines (empty: verified). */
export function verifyTable(read: ReadTable, plan: Pick<NftPlan, "rules" | "sets">): string[] {
  const problems: string[] = [];
  if (!read.chainOk) problems.push(`chain ${NFT_CHAIN} is missing or not a forward hook at priority filter - 1`);
  if (read.rules.length !== plan.rules.length)
    problems.push(`${read.rules.length} rules read back, ${plan.rules.length} expected`);
  plan.rules.forEach((want, i) => {
    const got = read.rules[i];
    const same =
      got &&
      (want.kind === "ours"
        ? canonicalJson(got.rule) === canonicalJson(want.rule)
        : got.comment === want.comment && canonicalJson(got.expr) === canonicalJson(want.expr));
    if (!same) problems.push(`rule ${i + 1} (handle ${got?.handle ?? "-"}) differs from the plan`);
  });
  const readSets = new Map(read.sets.map((s) => [s.name, s]));
  const planned = new Set(plan.sets.map((s) => s.name));
  for (const s of read.sets) if (!planned.has(s.name)) problems.push(`set ${s.name} should not exist`);
  for (const s of plan.sets) {
    if (canonicalJson(readSets.get(s.name)) !== canonicalJson(s)) problems.push(`set ${s.name} differs from the plan`);
  }
  return problems;
}
