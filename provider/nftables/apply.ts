// Imperative shell: read our table, apply one planned batch (`nft -j -f -`: the kernel commits all of it or none),
// read it back and verify; when the read-back differs (a concurrent writer), put the snapshot back. The caller holds
// the node lock and supplies `exec` (ssh on a host, `ip netns exec` in tests). Errors are values with the stage and
// the kernel's message.
import { NFT_FAMILY, NFT_TABLE } from "./nft-model";
import { EMPTY_TABLE, NftListError, parseTableJson, type ReadTable } from "./parse-table";
import {
  type NftBlockChange,
  type NftPlan,
  type NftPlanOptions,
  type NftSetChange,
  planTable,
  restoreCommands,
  verifyTable,
} from "./plan";
import { batch, type Json, NFT_APPLY_ARGV } from "./render";

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
export type NftExec = (argv: readonly string[], stdin?: string) => Promise<ExecResult>;

export const NFT_LIST_ARGV: readonly string[] = ["nft", "-n", "-j", "list", "table", NFT_FAMILY, NFT_TABLE];

export type NftApplyResult =
  | { readonly ok: true; readonly plan: NftPlan; readonly changed: boolean }
  | {
      readonly ok: false;
      readonly stage: "read" | "plan" | "apply" | "verify";
      readonly message: string;
      /** Whether the kernel is as it was before the call (always true unless the undo itself failed). */
      readonly restored: boolean;
    };

const firstLines = (text: string) => text.trim().split("\n").slice(0, 6).join(" | ").slice(0, 600);

/** Our table as it is now; absent is an empty table (nft says "No such file or directory"). */
export async function readTable(exec: NftExec): Promise<ReadTable | { error: string }> {
  const r = await exec(NFT_LIST_ARGV);
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return EMPTY_TABLE;
    return { error: `nft list table ${NFT_FAMILY} ${NFT_TABLE} failed (rc=${r.code}): ${firstLines(r.stderr)}` };
  }
  try {
    return parseTableJson(r.stdout);
  } catch (e) {
    if (e instanceof NftListError) return { error: e.message };
    throw e;
  }
}

/**
 * Applies block and set changes in one transaction. `afterCommit` runs between the commit and the read-back (tests
 * use it to play a concurrent writer on the real kernel).
 */
export async function applyNft(
  exec: NftExec,
  blocks: readonly NftBlockChange[],
  sets: readonly NftSetChange[],
  options: NftPlanOptions & { afterCommit?: () => Promise<void> } = {},
): Promise<NftApplyResult> {
  const snapshot = await readTable(exec);
  if ("error" in snapshot) return { ok: false, stage: "read", message: snapshot.error, restored: true };
  let plan: NftPlan;
  try {
    plan = planTable(snapshot, blocks, sets, options);
  } catch (e) {
    return { ok: false, stage: "plan", message: (e as Error).message, restored: true };
  }
  if (verifyTable(snapshot, plan).length === 0 && snapshot.exists) return { ok: true, plan, changed: false };
  const applied = await exec(NFT_APPLY_ARGV, batch(plan.commands));
  if (applied.code !== 0) {
    // One batch: the kernel refused all of it, nothing changed.
    return {
      ok: false,
      stage: "apply",
      message: `nft refused the transaction (rc=${applied.code}): ${firstLines(applied.stderr)}`,
      restored: true,
    };
  }
  await options.afterCommit?.();
  const after = await readTable(exec);
  const problems = "error" in after ? [after.error] : verifyTable(after, plan);
  if (problems.length === 0) return { ok: true, plan, changed: true };
  const message = `read-back differs from the plan: ${problems.slice(0, 5).join("; ")}`;
  let undo: Json[] | undefined;
  try {
    undo = restoreCommands(snapshot, "error" in after ? snapshot : after);
  } catch (e) {
    return { ok: false, stage: "verify", message: `${message}; not undone: ${(e as Error).message}`, restored: false };
  }
  const restored = await exec(NFT_APPLY_ARGV, batch(undo));
  return {
    ok: false,
    stage: "verify",
    message: restored.code === 0 ? `${message}; undone` : `${message}; undo failed: ${firstLines(restored.stderr)}`,
    restored: restored.code === 0,
  };
}
