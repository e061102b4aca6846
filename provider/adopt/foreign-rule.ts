// A hand-written (untagged) DOCKER-USER line as iptables-save prints it -> KernelRule, through the same parser
// that reads our own rules (netfilter/parse-rule.ts), or the reason it cannot be read in our grammar.
// Hand-written rules differ from ours in two harmless ways that are normalised first: the comment match is
// optional (or sits elsewhere), and a bare `-m tcp`/`-m udp` (no options) may follow `-p tcp`/`-p udp`.
import type { IpFamily } from "../model/address";
import type { KernelRule } from "../netfilter/kernel-rule";
import { parseRuleTokens } from "../netfilter/parse-rule";
import { tokenizeRestoreLine } from "../netfilter/quote";

export type ForeignRule =
  | {
      readonly ok: true;
      /** The rule with comment "" (the user's own comment, if any, is in `comment`). */
      readonly rule: KernelRule;
      readonly comment?: string;
      /** Harmless differences removed while reading (said in the generated program). */
      readonly notes: readonly string[];
    }
  | { readonly ok: false; readonly reason: string };

const TARGETS = ["ACCEPT", "DROP", "RETURN", "REJECT", "LOG"];
const MATCHES = ["comment", "tcp", "udp", "icmp", "icmp6", "iprange", "set", "conntrack", "limit"];
const PROTOCOLS = ["tcp", "udp", "icmp", "ipv6-icmp"];

/** Why a line is outside our grammar, as precisely as a scan of its words allows. */
function whyNot(tokens: readonly string[]): string {
  const at = (flag: string) => tokens.indexOf(flag);
  const jump = at("-g") >= 0 ? at("-g") : at("-j");
  const target = jump >= 0 ? tokens[jump + 1] : undefined;
  if (target === undefined) return "has no target (-j): it only counts packets";
  if (tokens[jump] === "-g") return `goes to chain ${target} (-g): our rules end in ${TARGETS.join(", ")}`;
  if (!TARGETS.includes(target)) return `jumps to ${target}: our rules end in ${TARGETS.join(", ")}`;
  const p = at("-p");
  if (p >= 0 && !PROTOCOLS.includes(tokens[p + 1] ?? ""))
    return `matches protocol ${tokens[p + 1]}: our rules match tcp, udp, icmp or all`;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === "-m" && !MATCHES.includes(tokens[i + 1] ?? ""))
      return `uses the ${tokens[i + 1]} match, which our rule model has no field for`;
  }
  if (tokens.includes("--sport") || tokens.includes("--source-port")) return "matches a source port (--sport)";
  if (tokens.includes("--dports") || tokens.includes("--sports")) return "uses multiport";
  return "has an option or an option order our rule model cannot express";
}

/** Drops `-m comment --comment X` wherever it is, returning X. */
function takeComment(tokens: string[]): string | undefined {
  for (let i = 0; i + 3 < tokens.length; i++) {
    if (tokens[i] === "-m" && tokens[i + 1] === "comment" && tokens[i + 2] === "--comment") {
      const text = tokens[i + 3];
      tokens.splice(i, 4);
      return text;
    }
  }
  return undefined;
}

/** Drops a `-m tcp`/`-m udp` that has no options and repeats `-p`: it matches every packet `-p` lets through. */
function dropBareProtocolMatch(tokens: string[]): string | undefined {
  const p = tokens.indexOf("-p");
  const proto = p >= 0 ? tokens[p + 1] : undefined;
  for (let i = 0; i + 2 < tokens.length; i++) {
    const next = tokens[i + 2];
    if (tokens[i] === "-m" && tokens[i + 1] === proto && (next === "-m" || next === "-j")) {
      tokens.splice(i, 2);
      return `a bare "-m ${proto}" (no options) was dropped: with "-p ${proto}" it matches every packet already`;
    }
  }
  return undefined;
}

export function readForeignRule(line: string, family: IpFamily): ForeignRule {
  const tokens = tokenizeRestoreLine(line);
  if (tokens?.[0] !== "-A") return { ok: false, reason: "cannot be tokenized as an iptables-save line" };
  const notes: string[] = [];
  const comment = takeComment(tokens);
  const bare = dropBareProtocolMatch(tokens);
  if (bare) notes.push(bare);
  // Our grammar has the comment right after the address/interface/protocol part.
  let insertAt = tokens.findIndex((t, i) => i >= 2 && (t === "-m" || t === "-j" || t === "-g"));
  if (insertAt < 0) insertAt = tokens.length;
  tokens.splice(insertAt, 0, "-m", "comment", "--comment", "");
  const rule = parseRuleTokens(tokens, family);
  if (!rule) return { ok: false, reason: whyNot(tokens) };
  return { ok: true, rule, ...(comment !== undefined && { comment }), notes };
}
