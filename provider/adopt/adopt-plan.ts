// The pure core of `adopt`: a host's live DOCKER-USER chains (v4, v6) and ipsets -> the DockerHostFirewall
// rules and sets that declare the same policy, in the same order, plus every line left out and why.
// Order is the policy, so per family only the rules above the first one our model cannot express are adopted:
// adopting a rule below it would move that rule above it (our rules sit above foreign ones).
import type { IpFamily } from "../model/address";
import { PRIORITY_MAX } from "../model/limits";
import { comment as commentSchema } from "../model/primitives";
import type { LiveSet } from "../netfilter/ipset-text";
import type { KernelRule } from "../netfilter/kernel-rule";
import type { SavedRule } from "../netfilter/parse-iptables-save";
import { type SetInput, setJudge } from "./adopt-sets";
import { readForeignRule } from "./foreign-rule";
import { type Candidate, candidateOf, disproof, neutralKey, type RuleInput } from "./to-model";

export interface AdoptInput {
  /** DOCKER-USER of each family the host has, in kernel order. */
  readonly chains: Partial<Record<IpFamily, readonly SavedRule[]>>;
  readonly sets: ReadonlyMap<string, LiveSet>;
  /** False when `ipset save` failed on the host (sets unknown, not empty). */
  readonly setsKnown: boolean;
}

export interface SourceLine {
  readonly family: IpFamily;
  readonly line: string;
}

export interface AdoptedRule {
  readonly key: string;
  readonly priority: number;
  readonly input: RuleInput;
  /** The live lines this rule replaces. */
  readonly from: readonly SourceLine[];
  readonly notes: readonly string[];
}

export interface LeftLine extends SourceLine {
  readonly reason: string;
}

export interface AdoptPlan {
  readonly sets: ReadonlyArray<{ readonly name: string; readonly input: SetInput; readonly notes: readonly string[] }>;
  readonly rules: readonly AdoptedRule[];
  /** Lines of the host's policy our model cannot take over (they stay as they are). */
  readonly flagged: readonly LeftLine[];
  /** Lines that are not the user's to adopt: Docker's RETURN, rules another stack already manages. */
  readonly skipped: readonly LeftLine[];
  /** True when every user rule was adopted, so exclusive mode may remove the untagged originals. */
  readonly exclusive: boolean;
}

interface Item {
  readonly family: IpFamily;
  readonly rules: KernelRule[];
  readonly lines: string[];
  readonly input: RuleInput;
  readonly notes: string[];
}

const DOCKER_RETURN = "-A DOCKER-USER -j RETURN";
const only = (family: IpFamily, rules: readonly KernelRule[]) =>
  family === "ipv4" ? { ipv4: rules, ipv6: [] } : { ipv4: [], ipv6: rules };

function setsOf(input: RuleInput): string[] {
  return [input.source, input.destination].flatMap((m) =>
    m && typeof m === "object" && "set" in m ? [String((m as { set: unknown }).set)] : [],
  );
}

function readFamily(
  family: IpFamily,
  live: readonly SavedRule[],
  judge: ReturnType<typeof setJudge>,
  out: { flagged: LeftLine[]; skipped: LeftLine[] },
): Item[] {
  const items: Item[] = [];
  let blockedBy: string | undefined;
  live.forEach((r, i) => {
    if (r.tag) {
      out.skipped.push({ family, line: r.line, reason: `already managed (tag of ${r.tag.id})` });
      return;
    }
    if (r.line === DOCKER_RETURN) {
      out.skipped.push({ family, line: r.line, reason: "Docker's own RETURN: it stays, below our rules" });
      blockedBy ??= `below the unconditional RETURN at ${family} rule ${i + 1}: never reached, so not adopted`;
      return;
    }
    if (blockedBy) {
      out.flagged.push({ family, line: r.line, reason: blockedBy });
      return;
    }
    const read = readForeignRule(r.line, family);
    const notes = read.ok ? [...read.notes] : [];
    // A comment is no part of the policy: one our model refuses is left out rather than the rule.
    const kept = read.ok && read.comment !== undefined ? commentSchema.safeParse(read.comment) : undefined;
    if (kept && !kept.success)
      notes.push(`its comment was left out: it ${kept.error.issues[0]?.message ?? "is invalid"}`);
    const comment = kept?.success ? kept.data : undefined;
    let c: Candidate = read.ok ? candidateOf(read.rule, comment) : { ok: false, reason: read.reason };
    if (c.ok) {
      const bad = setsOf(c.input)
        .map((name) => judge(name, family))
        .find((v) => !v.ok);
      if (bad && !bad.ok) c = { ok: false, reason: bad.reason };
    }
    if (c.ok && read.ok) {
      const why = disproof(c.input, only(family, [read.rule]));
      if (why) c = { ok: false, reason: why };
    }
    if (!c.ok || !read.ok) {
      out.flagged.push({ family, line: r.line, reason: c.ok ? "unreadable" : c.reason });
      blockedBy = `below ${family} rule ${i + 1}, which cannot be adopted: adopting this one would move it above that rule`;
      return;
    }
    items.push({ family, rules: [read.rule], lines: [r.line], input: c.input, notes });
  });
  return mergeLogPairs(items);
}

/** A LOG rule right above an action rule with the same matches is one rule with `log` (log-before-drop). */
function mergeLogPairs(items: Item[]): Item[] {
  const out: Item[] = [];
  for (let i = 0; i < items.length; i++) {
    const a = items[i] as Item;
    const b = items[i + 1];
    if (b && a.input.action === "LOG" && b.input.action !== "LOG" && a.input.comment === b.input.comment) {
      const merged = { ...b.input, log: a.input.log };
      if (!disproof(merged, only(a.family, [...a.rules, ...b.rules]))) {
        out.push({
          ...b,
          rules: [...a.rules, ...b.rules],
          lines: [...a.lines, ...b.lines],
          input: merged,
          notes: [...a.notes, ...b.notes],
        });
        i++;
        continue;
      }
    }
    out.push(a);
  }
  return out;
}

/** Indices (in a, in b) of a longest common subsequence by key. */
function lcsPairs(a: readonly string[], b: readonly string[]): Array<[number, number]> {
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      (dp[i] as number[])[j] =
        a[i] === b[j] ? (dp[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(dp[i + 1]?.[j] ?? 0, dp[i]?.[j + 1] ?? 0);
  const pairs: Array<[number, number]> = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    if (a[i] === b[j]) pairs.push([i++, j++]);
    else if ((dp[i + 1]?.[j] ?? 0) >= (dp[i]?.[j + 1] ?? 0)) i++;
    else j++;
  }
  return pairs;
}

/** One ordered list for both families: an IPv4 rule and its IPv6 twin become one rule with family "both". */
function mergeFamilies(v4: Item[], v6: Item[]): Array<Omit<Item, "family" | "rules"> & { from: SourceLine[] }> {
  const merged: Array<Omit<Item, "family" | "rules"> & { from: SourceLine[] }> = [];
  const single = (x: Item) => ({ ...x, from: x.lines.map((line) => ({ family: x.family, line })) });
  let i = 0;
  let j = 0;
  const pairs = lcsPairs(
    v4.map((x) => neutralKey(x.input)),
    v6.map((x) => neutralKey(x.input)),
  );
  for (const [pi, pj] of [...pairs, [v4.length, v6.length] as [number, number]]) {
    while (i < pi) merged.push(single(v4[i++] as Item));
    while (j < pj) merged.push(single(v6[j++] as Item));
    const a = v4[pi];
    const b = v6[pj];
    if (!a || !b) break;
    const both = { ...a.input, family: "both" };
    if (disproof(both, { ipv4: a.rules, ipv6: b.rules })) merged.push(single(a), single(b));
    else
      merged.push({ ...a, input: both, notes: [...a.notes, ...b.notes], from: [...single(a).from, ...single(b).from] });
    i = pi + 1;
    j = pj + 1;
  }
  return merged;
}

/** A readable, resource-name-safe key: position, action and what the rule matches first. */
function ruleKey(n: number, input: RuleInput): string {
  const words = [String(input.action).toLowerCase()];
  for (const m of [input.source, input.destination]) {
    if (m && typeof m === "object" && "set" in m) words.push(String((m as { set: unknown }).set));
  }
  if (input.protocol) words.push(String(input.protocol));
  const ports = (input.publishedPorts ?? input.containerPorts) as unknown[] | undefined;
  if (ports?.[0] !== undefined) words.push(String(ports[0]));
  const slug = words
    .join("-")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, 32)
    .replace(/-+$/, "");
  return `${String(n).padStart(2, "0")}-${slug}`;
}

export function planAdoption(input: AdoptInput): AdoptPlan {
  const out = { flagged: [] as LeftLine[], skipped: [] as LeftLine[] };
  const judge = setJudge(input.sets, input.setsKnown);
  const v4 = readFamily("ipv4", input.chains.ipv4 ?? [], judge, out);
  const v6 = readFamily("ipv6", input.chains.ipv6 ?? [], judge, out);
  const merged = mergeFamilies(v4, v6);
  // Room between priorities for rules added by hand later; always strictly increasing.
  const step = Math.min(10, Math.floor(PRIORITY_MAX / (merged.length + 1)));
  if (step < 1) throw new Error(`${merged.length} rules do not fit in priorities ${PRIORITY_MAX} and below`);
  const rules = merged.map((m, k) => ({
    key: ruleKey(k + 1, m.input),
    priority: (k + 1) * step,
    input: m.input,
    from: m.from,
    notes: m.notes,
  }));
  const used = [...new Set(rules.flatMap((r) => setsOf(r.input)))].sort();
  const sets = used.map((name) => {
    const family = input.sets.get(name)?.header.family ?? "ipv4";
    const v = judge(name, family);
    if (!v.ok) throw new Error(`set ${name} was accepted for a rule and then refused: ${v.reason}`);
    return { name, input: v.input, notes: v.notes };
  });
  return { sets, rules, flagged: out.flagged, skipped: out.skipped, exclusive: out.flagged.length === 0 };
}
