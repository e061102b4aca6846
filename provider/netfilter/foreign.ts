// PURE. Which foreign DOCKER-USER rules the host policy (model/foreign-rules.ts) keeps above our blocks or tells
// exclusive mode to leave alone, and where the last kept-above one is: read from the saved line for the planner,
// and rendered as an awk condition for the boot script, which must place our rules the same way
// (test/kernel/coexist-boot.test.ts runs both).
import type { ForeignMatcher, ForeignRulesPolicy } from "../model/foreign-rules";
import type { SavedRule } from "./parse-iptables-save";
import { tokenizeRestoreLine } from "./quote";

/** What a foreign rule is to the policy: kept above our blocks, ignored by exclusive mode, or neither. */
export type ForeignRole = "above" | "ignored" | undefined;

interface RuleWords {
  readonly jump?: string;
  readonly sets: readonly string[];
  readonly comment?: string;
}

function wordsOf(line: string): RuleWords {
  const t = tokenizeRestoreLine(line) ?? [];
  let jump: string | undefined;
  let comment: string | undefined;
  const sets: string[] = [];
  t.forEach((w, i) => {
    const next = t[i + 1];
    if (next === undefined) return;
    if (w === "-j") jump = next;
    else if (w === "--match-set") sets.push(next);
    else if (w === "--comment" && comment === undefined) comment = next;
  });
  return { ...(jump !== undefined && { jump }), sets, ...(comment !== undefined && { comment }) };
}

const escapeJs = (c: string) => c.replace(/[.+\\^$()[\]{}|/]/g, (x) => `\\${x}`);

/** An anchored glob as a JS RegExp (`*` any run, `?` one character). */
export function globRegExp(glob: string): RegExp {
  const body = [...glob].map((c) => (c === "*" ? ".*" : c === "?" ? "." : escapeJs(c))).join("");
  return new RegExp(`^${body}$`, "s");
}

const cache = new Map<string, RegExp>();
const globTest = (glob: string, value: string | undefined) => {
  if (value === undefined) return false;
  let re = cache.get(glob);
  if (!re) {
    re = globRegExp(glob);
    cache.set(glob, re);
  }
  return re.test(value);
};

function matcherMatches(m: ForeignMatcher, w: RuleWords): boolean {
  if (m.jump !== undefined && !globTest(m.jump, w.jump)) return false;
  if (m.set !== undefined && !w.sets.some((s) => globTest(m.set as string, s))) return false;
  if (m.comment !== undefined && !globTest(m.comment, w.comment)) return false;
  return true;
}

/** The rule's role under `policy` (ours, the tagged ones, have none). Keeping above wins over ignoring. */
export function foreignRole(rule: SavedRule, policy: ForeignRulesPolicy | undefined): ForeignRole {
  if (rule.tag || !policy || (policy.keepAbove.length === 0 && policy.ignore.length === 0)) return undefined;
  const w = wordsOf(rule.line);
  if (policy.keepAbove.some((m) => matcherMatches(m, w))) return "above";
  if (policy.ignore.some((m) => matcherMatches(m, w))) return "ignored";
  return undefined;
}

/**
 * The live index of the last foreign rule the policy keeps above our blocks (-1: none), among the `kept` ones and
 * above Docker's bare RETURN (a rule below it is never reached, and ours placed after it would not be either).
 */
export function keptAboveIndex(
  live: readonly SavedRule[],
  kept: (r: SavedRule) => boolean,
  chain: string,
  policy: ForeignRulesPolicy | undefined,
): number {
  let anchor = -1;
  for (let i = 0; i < live.length; i++) {
    const r = live[i] as SavedRule;
    if (r.tag || !kept(r)) continue;
    if (isBareReturn(r.line, chain)) break;
    if (foreignRole(r, policy) === "above") anchor = i;
  }
  return anchor;
}

/** The foreign rules that stay: all of them, or in exclusive mode Docker's RETURN and those the policy names. */
export function keptForeignRules(
  live: readonly SavedRule[],
  options: { readonly chain: string; readonly exclusive?: boolean; readonly foreign?: ForeignRulesPolicy },
): Set<SavedRule> {
  const chain = options.chain;
  return new Set(
    live.filter(
      (r) =>
        !r.tag && (!options.exclusive || isBareReturn(r.line, chain) || foreignRole(r, options.foreign) !== undefined),
    ),
  );
}

/** Docker's own last rule: nothing below it is reached, so a kept-above rule there is not a place for ours. */
export const isBareReturn = (line: string, chain: string): boolean => line === `-A ${chain} -j RETURN`;

// awk (POSIX ERE in a regex literal): the validated glob characters that are special there, made literal.
const ERE_LITERAL: Readonly<Record<string, string>> = { ".": "[.]", "+": "[+]", "/": "\\/" };
const ere = (glob: string, wild: string) =>
  [...glob].map((c) => (c === "*" ? `${wild}*` : c === "?" ? wild : (ERE_LITERAL[c] ?? c))).join("");

function awkMatcher(m: ForeignMatcher): string {
  const parts: string[] = [];
  if (m.jump !== undefined) parts.push(`/ -j ${ere(m.jump, "[^ ]")}( |$)/`);
  if (m.set !== undefined) parts.push(`/ --match-set ${ere(m.set, "[^ ]")} /`);
  // iptables-save prints a comment bare when it is only [A-Za-z0-9_-], else in double quotes.
  if (m.comment !== undefined)
    parts.push(`(/ --comment "${ere(m.comment, '[^"]')}"( |$)/ || / --comment ${ere(m.comment, "[^ ]")}( |$)/)`);
  return `(${parts.join(" && ")})`;
}

/** An awk condition over `$0` (a saved `-A …` line) true when any matcher matches; "0" for none. */
export function awkCondition(matchers: readonly ForeignMatcher[]): string {
  return matchers.length === 0 ? "0" : matchers.map(awkMatcher).join(" || ");
}
