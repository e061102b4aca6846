// PURE. One transaction on an nftables host (docs/docker29-nftables.md): the intents and the state read -> the apply
// script's steps (one `nft -j -f` batch for our table, then the boot files), what our table must read back as, and
// per-intent refusals found before anything runs. node/transaction.ts runs it under the node lock.
import { resolveTargets } from "../containers/resolve";
import type { HostState, NftHostFacts } from "../netfilter/host-state";
import type { Intent, PersistenceConfig, PlannedStep } from "../netfilter/intent";
import { MISSING_SET_HINT } from "../netfilter/set-uses";
import { sha256 } from "../persistence/files";
import { NFT_PERSISTED_PATHS, PERSISTED_PATHS, UNIT_LINKS } from "../protocol/paths";
import type { Step } from "../protocol/steps";
import { nftChangesOf } from "./intents";
import { NFT_FAMILY, NFT_TABLE } from "./nft-model";
import { EMPTY_TABLE, NftListError, parseTableJson, type ReadTable } from "./parse-table";
import { nftBootBatch, nftBootUnit } from "./persist";
import { type NftBlockChange, type NftPlan, type NftSetChange, planTable, restoreCommands, verifyTable } from "./plan";
import { batch } from "./render";

/** Our table as the state read listed it; absent (never created, or nft said "No such file") is empty. */
export function liveTable(state: HostState): ReadTable {
  const text = state.nft?.table.trim() ?? "";
  if (text === "" || (!text.startsWith("{") && /No such file or directory/.test(text))) return EMPTY_TABLE;
  try {
    return parseTableJson(text);
  } catch (e) {
    if (e instanceof NftListError) throw new Error(`cannot read ${NFT_FAMILY} ${NFT_TABLE}: ${e.message}`);
    throw e;
  }
}

export interface NftTransactionPlan {
  readonly steps: readonly PlannedStep[];
  /** What our table must read back as; null: no table (nothing left in it, so it is deleted). */
  readonly table: NftPlan | null;
  readonly refused: ReadonlyMap<number, string>;
  /** Boot files rewritten (by fixed name), and the persistence mode after the transaction. */
  readonly persisted: { readonly written: readonly string[]; readonly config?: PersistenceConfig };
}

/** The boot files of an nftables host for the table `plan` leaves, by fixed name (protocol/paths.ts). */
export function nftBootFiles(plan: Pick<NftPlan, "rules" | "sets">, config: PersistenceConfig): Record<string, string> {
  return {
    config: `${JSON.stringify({ version: 1, backend: "nftables", exclusive: config.exclusive })}\n`,
    nftables: nftBootBatch(plan),
    unit: nftBootUnit(),
  };
}

const BOOT_PATHS: Readonly<Record<string, string>> = { ...PERSISTED_PATHS, ...NFT_PERSISTED_PATHS };

/** Boot files whose content on the host differs from `files` (missing ones included), and whether the unit is off. */
export function staleBootFiles(state: HostState, files: Record<string, string>) {
  const stale = Object.keys(files).filter(
    (n) => state.persisted.hashes.get(BOOT_PATHS[n] ?? "") !== sha256(files[n] ?? ""),
  );
  return {
    stale,
    paths: stale.map((n) => BOOT_PATHS[n] ?? n),
    linksMissing: UNIT_LINKS.some((l) => !state.persisted.links.includes(l)),
  };
}

const TABLE_REF = { family: NFT_FAMILY, name: NFT_TABLE };

const setRefs = (b: NftBlockChange) =>
  (b.rules ?? []).flatMap((r) => r.addresses.flatMap((a) => (a.value.startsWith("@") ? [a.value.slice(1)] : [])));

export function planNftTransaction(
  state: HostState,
  facts: NftHostFacts,
  intents: readonly Intent[],
): NftTransactionPlan {
  const live = liveTable(state);
  // Rules that follow a container: resolved against the containers listed by the same read, as on iptables hosts.
  const targets = resolveTargets(
    intents.flatMap((x, owner) => (x.kind === "rule" ? [{ owner, rule: x.rule }] : [])),
    state.containers,
  );
  const byOwner = new Map(targets.intents.map((t) => [t.owner, t.rule]));
  const resolved = intents.map((x, i): Intent => (x.kind === "rule" ? { ...x, rule: byOwner.get(i) ?? x.rule } : x));
  const changes = nftChangesOf(resolved, facts, new Set(targets.refused.keys()), live.sets);
  const refused = new Map([...changes.refused, ...targets.refused]);
  const persistence = intents.findIndex((x) => x.kind === "persistence");
  const intent = intents[persistence];
  const config = intent?.kind === "persistence" ? (intent.config ?? undefined) : (state.persisted.config ?? undefined);
  const ownerOf = (pred: (x: Intent) => boolean) => intents.findIndex(pred);

  // A rule naming a set the table will not hold is refused by name (the kernel would say only "No such file").
  const setsAfter = new Set([...live.sets.map((s) => s.name), ...live.otherSets]);
  for (const c of changes.sets) c.set ? setsAfter.add(c.name) : setsAfter.delete(c.name);
  const blocks = changes.blocks.filter((b) => {
    const missing = setRefs(b).find((n) => !setsAfter.has(n));
    if (missing === undefined) return true;
    const owner = ownerOf((x) => x.kind === "rule" && x.id === b.tag.id);
    refused.set(owner, `set ${missing} does not exist in ${NFT_FAMILY} ${NFT_TABLE} on the host (${MISSING_SET_HINT})`);
    return false;
  });
  const options = { exclusive: config?.exclusive ?? false };
  let table: NftPlan;
  try {
    table = planTable(live, blocks, changes.sets, options);
  } catch (e) {
    // Only a set deletion can still break a rule (another resource's block uses it): those deletions are refused.
    const why = (e as Error).message;
    for (const s of changes.sets.filter((c) => c.set === null))
      refused.set(
        ownerOf((x) => x.kind === "set" && x.name === s.name),
        `cannot delete set ${s.name}: ${why}`,
      );
    table = planOrRefuseAll(
      live,
      blocks,
      changes.sets.filter((c) => c.set !== null),
      options,
      (reason) => {
        for (const [i, x] of intents.entries()) if (x.kind !== "persistence" && !refused.has(i)) refused.set(i, reason);
      },
    );
  }
  const kernelOwners = intents.flatMap((x, i) => (x.kind !== "persistence" && !refused.has(i) ? [i] : []));
  const steps: PlannedStep[] = [];
  // Nothing left in our table: it goes, so a host whose resources are all destroyed holds only Docker's tables.
  const gone =
    table.rules.length === 0 && table.sets.length === 0 && live.otherChains.length === 0 && live.otherSets.length === 0;
  if (gone && live.exists) steps.push({ ...tableStep(live, null), owners: kernelOwners });
  if (!gone && (!live.exists || verifyTable(live, table).length > 0)) {
    steps.push({ ...tableStep(live, table), owners: kernelOwners });
  }
  const written: string[] = [];
  const persistOwners = persistence >= 0 ? [persistence] : [];
  if (config) {
    const files = nftBootFiles(table, config);
    const { stale, linksMissing } = staleBootFiles(state, files);
    const write = Object.fromEntries(
      Object.entries(files).filter(([n]) => stale.includes(n) || (n === "unit" && linksMissing)),
    );
    if (Object.keys(write).length > 0) {
      written.push(...Object.keys(write));
      steps.push({ ...persistStep(write), owners: [...persistOwners, ...kernelOwners] });
    }
  } else if (state.persisted.config !== undefined) {
    written.push("(all removed)");
    steps.push({ label: "remove persisted files", run: { tool: "unpersist", text: "" }, owners: persistOwners });
  }
  return { steps, table: gone ? null : table, refused, persisted: { written, ...(config && { config }) } };
}

/** The plan, or (when it still cannot be made) every kernel intent refused with why and the table left as read. */
function planOrRefuseAll(
  live: ReadTable,
  blocks: readonly NftBlockChange[],
  sets: readonly NftSetChange[],
  options: { exclusive: boolean },
  refuseAll: (reason: string) => void,
): NftPlan {
  try {
    return planTable(live, blocks, sets, options);
  } catch (e) {
    refuseAll((e as Error).message);
    return planTable(live, [], []); // as read: nothing changes
  }
}

function tableStep(live: ReadTable, table: NftPlan | null): Step {
  let undo: string | undefined;
  try {
    undo = batch(restoreCommands(live, { ...live, exists: true }));
  } catch {
    // A table holding chains we did not create cannot be rebuilt: a later failing step leaves ours applied.
  }
  return {
    label: `nftables ${NFT_FAMILY} ${NFT_TABLE}`,
    run: { tool: "nftables", text: batch(table ? table.commands : [{ delete: { table: TABLE_REF } }]) },
    ...(undo && { undo: { tool: "nftables", text: undo } }),
  };
}

const persistStep = (files: Record<string, string>): Step => ({
  label: `persisted files (${Object.keys(files).join(", ")})`,
  run: { tool: "persist", text: "" },
  files,
});

/** How the read-back differs from the plan (undefined: verified). */
export function verifyNft(after: HostState, plan: NftTransactionPlan): string | undefined {
  let table: ReadTable;
  try {
    table = liveTable(after);
  } catch (e) {
    return (e as Error).message;
  }
  if (!plan.table) return table.exists ? `${NFT_FAMILY} ${NFT_TABLE} still exists` : undefined;
  const problems = verifyTable(table, plan.table);
  return problems.length === 0 ? undefined : `${NFT_FAMILY} ${NFT_TABLE}: ${problems.slice(0, 3).join("; ")}`;
}

/** The steps that put our table and the boot files this run rewrote back as `before` had them. */
export function nftRestoreSteps(before: HostState, after: HostState, plan: NftTransactionPlan): Step[] {
  const was = liveTable(before);
  const steps: Step[] = [
    { label: "restore nftables", run: { tool: "nftables", text: batch(restoreCommands(was, liveTable(after))) } },
  ];
  if (plan.persisted.written.length === 0) return steps;
  const config = before.persisted.config;
  if (!config) return [...steps, { label: "remove persisted files", run: { tool: "unpersist", text: "" } }];
  const files = nftBootFiles(planTable(was, [], []), config);
  return [
    ...steps,
    persistStep(Object.fromEntries(plan.persisted.written.filter((n) => n in files).map((n) => [n, files[n] ?? ""]))),
  ];
}
