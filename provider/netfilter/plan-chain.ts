// Desired managed blocks vs the live chain -> one `iptables-restore --noflush` table block that deletes and
// inserts only our rules, so foreign rules (Docker's RETURN included) keep their content and relative order.
// Target layout: managed blocks ordered by (priority, id), right after the last foreign rule the host policy keeps
// above them (netfilter/foreign.ts; at the top when none), foreign rules in their live order around them.
import type { IpFamily } from "../model/address";
import type { ForeignRulesPolicy } from "../model/foreign-rules";
import { keptAboveIndex, keptForeignRules } from "./foreign";
import { DOCKER_USER } from "./kernel-rule";
import type { SavedRule } from "./parse-iptables-save";
import { compareTags, type Tag } from "./tag";

/** What one resource wants in the chain: its block of rendered lines, or nothing (deleted). */
export interface BlockChange {
  readonly tag: Tag;
  /** Exact `-A DOCKER-USER …` lines in block order; empty or null removes the block. */
  readonly lines: readonly string[] | null;
}

export type ChainOp =
  | { readonly kind: "delete"; readonly line: string }
  | { readonly kind: "insert"; readonly position: number; readonly line: string }
  | { readonly kind: "append"; readonly line: string };

export type ChangeKind = "create" | "update" | "delete" | "reorder" | "unmanaged";

export interface Change {
  readonly kind: ChangeKind;
  readonly family: IpFamily | "set";
  /** Resource id for managed blocks, set name for sets, undefined for unmanaged rules. */
  readonly subject?: string;
  readonly before: readonly string[];
  readonly after: readonly string[];
}

/** A line of a restore payload and the op it carries (none for the table header and COMMIT). */
export interface ScriptLine {
  readonly text: string;
  readonly op?: ChainOp;
}

export interface ChainPlan {
  readonly family: IpFamily;
  readonly ops: readonly ChainOp[];
  /** The restore payload, or undefined when nothing changes. Never declares a chain (that would flush it). */
  readonly script: string | undefined;
  /** The payload's lines, in order (empty when nothing changes). */
  readonly lines: readonly ScriptLine[];
  /** The chain's lines as they must read back after apply (for verification). */
  readonly expected: readonly string[];
  readonly changes: readonly Change[];
}

export interface ChainPlanOptions {
  readonly chain?: string;
  /** Exclusive mode: unmanaged rules are removed, except Docker's trailing `-j RETURN` and those the policy names. */
  readonly exclusive?: boolean;
  /** The host's policy for foreign rules: which stay above our blocks, which exclusive mode leaves alone. */
  readonly foreign?: ForeignRulesPolicy;
}

interface Item {
  readonly line: string;
  readonly managedId?: string;
}

/** The live managed blocks by id, each line once, in chain order. */
export function groupLiveBlocks(live: readonly SavedRule[]): Map<string, { tag: Tag; lines: string[] }> {
  const blocks = new Map<string, { tag: Tag; lines: string[] }>();
  for (const r of live) {
    if (!r.tag) continue;
    const b = blocks.get(r.tag.id);
    // A block never holds one line twice; a duplicate is drift and is collapsed.
    if (b) {
      if (!b.lines.includes(r.line)) b.lines.push(r.line);
    } else blocks.set(r.tag.id, { tag: r.tag, lines: [r.line] });
  }
  return blocks;
}

/** The changes that put blocks `ids` back as `live` holds them (no lines: the block was not there). */
export function blocksAsIn(
  live: ReadonlyMap<string, { tag: Tag; lines: string[] }>,
  ids: readonly string[],
): BlockChange[] {
  return ids.map((id) => live.get(id) ?? { tag: { priority: 0, id }, lines: null });
}

/**
 * Indices into `a` of a longest common subsequence of a and b (by equal strings), for lines unique on each side
 * (a managed line carries its block's id): the longest increasing run of b-positions, O(n log n) time, O(n) memory.
 */
function lcsIndices(a: readonly string[], b: readonly string[]): Set<number> {
  const posInB = new Map<string, number>();
  b.forEach((line, j) => {
    if (!posInB.has(line)) posInB.set(line, j);
  });
  const seq: Array<{ readonly i: number; readonly j: number }> = [];
  a.forEach((line, i) => {
    const j = posInB.get(line);
    if (j !== undefined) seq.push({ i, j });
  });
  // tails[len] = the seq index ending the best increasing run of length len+1 found so far (smallest last j).
  const tails: number[] = [];
  const prev = new Int32Array(seq.length).fill(-1);
  seq.forEach(({ j }, k) => {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((seq[tails[mid] as number] as { j: number }).j < j) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[k] = tails[lo - 1] as number;
    tails[lo] = k;
  });
  const keep = new Set<number>();
  for (let k = tails[tails.length - 1] ?? -1; k >= 0; k = prev[k] as number) keep.add((seq[k] as { i: number }).i);
  return keep;
}

type Indexed = ReadonlyArray<{ readonly r: SavedRule; readonly i: number }>;

/** The live indices of the managed lines that stay in place: a longest common subsequence with the target. */
function lcsKept(headManaged: Indexed, targetManaged: readonly string[]): number[] {
  const lcs = lcsIndices(
    headManaged.map(({ r }) => r.line),
    targetManaged,
  );
  return headManaged.filter((_, k) => lcs.has(k)).map(({ i }) => i);
}

/** The live indices of the managed lines that already start the target's region, in order. */
function inPlacePrefix(headManaged: Indexed, targetManaged: readonly string[]): number[] {
  const kept: number[] = [];
  for (const { r, i } of headManaged) {
    if (r.line !== targetManaged[kept.length]) break;
    kept.push(i);
  }
  return kept;
}

export function planChainChanges(
  family: IpFamily,
  live: readonly SavedRule[],
  changes: readonly BlockChange[],
  options: ChainPlanOptions = {},
): ChainPlan {
  const chain = options.chain ?? DOCKER_USER;
  const liveBlocks = groupLiveBlocks(live);
  const wanted = new Map(liveBlocks);
  for (const c of changes) {
    if (c.lines && c.lines.length > 0) wanted.set(c.tag.id, { tag: c.tag, lines: [...new Set(c.lines)] });
    else wanted.delete(c.tag.id);
  }
  const ordered = [...wanted.values()].sort((a, b) => compareTags(a.tag, b.tag));
  const keptForeign = keptForeignRules(live, { ...options, chain });
  // Our blocks go right after the last kept-above foreign rule: the foreign rules up to it stay above them.
  const anchor = keptAboveIndex(live, (r) => keptForeign.has(r), chain, options.foreign);
  const keptList = live.filter((r) => keptForeign.has(r));
  const split = live.slice(0, anchor + 1).filter((r) => keptForeign.has(r)).length;
  const foreignItems = keptList.map((r) => ({ line: r.line }));
  const target: Item[] = [
    ...foreignItems.slice(0, split),
    ...ordered.flatMap((b) => b.lines.map((line) => ({ line, managedId: b.tag.id }))),
    ...foreignItems.slice(split),
  ];

  // Every kept foreign rule stays, so only managed rules between the anchor and the next kept foreign rule can
  // stay in place.
  const next = live.findIndex((r, i) => i > anchor && keptForeign.has(r));
  const head = live.slice(anchor + 1, next < 0 ? live.length : next);
  // `-D spec` removes the first identical rule, so a line present twice cannot be kept in place: all copies go.
  const counts = new Map<string, number>();
  for (const r of live) counts.set(r.line, (counts.get(r.line) ?? 0) + 1);
  const headManaged = head
    .map((r, k) => ({ r, i: anchor + 1 + k }))
    .filter(({ r }) => r.tag && counts.get(r.line) === 1);
  const targetManaged = target.filter((t) => t.managedId !== undefined).map((t) => t.line);
  // With a policy in force and nothing kept below our blocks, they are appended: `-A` lands below whatever a tool
  // inserted at the top since our read, where a position read before it would land one rule too high (above a
  // kept-above rule). Only the part of our region already in place at its start stays then.
  const tail = (options.foreign?.keepAbove.length ?? 0) > 0 && next < 0;
  const keptLive = new Set<number>(
    tail ? inPlacePrefix(headManaged, targetManaged) : lcsKept(headManaged, targetManaged),
  );
  live.forEach((r, i) => {
    if (keptForeign.has(r)) keptLive.add(i);
  });

  const ops: ChainOp[] = [];
  live.forEach((r, i) => {
    if (!keptLive.has(i)) ops.push({ kind: "delete", line: r.line });
  });
  // After the deletions the chain is the kept subsequence of the target; inserting the rest in ascending
  // target order at their final positions rebuilds the target exactly (positions count from 1).
  const keptLines = [...keptLive].sort((a, b) => a - b).map((i) => (live[i] as SavedRule).line);
  let k = 0;
  target.forEach((t, j) => {
    if (k < keptLines.length && keptLines[k] === t.line) {
      k++;
      return;
    }
    ops.push(tail ? { kind: "append", line: t.line } : { kind: "insert", position: j + 1, line: t.line });
  });

  const lines = scriptLines(chain, ops);
  return {
    family,
    ops,
    script: lines.length === 0 ? undefined : `${lines.map((l) => l.text).join("\n")}\n`,
    lines,
    expected: target.map((t) => t.line),
    changes: describeChanges(
      family,
      live,
      keptLive,
      liveBlocks,
      wanted,
      ordered,
      live.filter((r) => !r.tag && !keptForeign.has(r)),
    ),
  };
}

function scriptLines(chain: string, ops: readonly ChainOp[]): ScriptLine[] {
  if (ops.length === 0) return [];
  const prefix = `-A ${chain} `;
  const specOf = (line: string) => line.slice(prefix.length);
  return [
    { text: "*filter" },
    ...ops.map((op) => ({
      text:
        op.kind === "delete"
          ? `-D ${chain} ${specOf(op.line)}`
          : op.kind === "append"
            ? `-A ${chain} ${specOf(op.line)}`
            : `-I ${chain} ${op.position} ${specOf(op.line)}`,
      op,
    })),
    { text: "COMMIT" },
  ];
}

function describeChanges(
  family: IpFamily,
  live: readonly SavedRule[],
  keptLive: ReadonlySet<number>,
  liveBlocks: Map<string, { tag: Tag; lines: string[] }>,
  wanted: Map<string, { tag: Tag; lines: string[] }>,
  ordered: ReadonlyArray<{ tag: Tag; lines: string[] }>,
  removedForeign: readonly SavedRule[],
): Change[] {
  const out: Change[] = [];
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((l, i) => l === b[i]);
  // An unchanged block that the ops still delete and re-insert is being moved into place.
  const moved = new Set(live.filter((r, i) => r.tag && !keptLive.has(i)).map((r) => r.tag?.id));
  for (const b of ordered) {
    const before = liveBlocks.get(b.tag.id);
    if (!before) out.push({ kind: "create", family, subject: b.tag.id, before: [], after: b.lines });
    else if (!same(before.lines, b.lines))
      out.push({ kind: "update", family, subject: b.tag.id, before: before.lines, after: b.lines });
    else if (moved.has(b.tag.id))
      out.push({ kind: "reorder", family, subject: b.tag.id, before: before.lines, after: b.lines });
  }
  for (const [id, b] of liveBlocks) {
    if (!wanted.has(id)) out.push({ kind: "delete", family, subject: id, before: b.lines, after: [] });
  }
  for (const r of removedForeign) out.push({ kind: "unmanaged", family, before: [r.line], after: [] });
  return out;
}
