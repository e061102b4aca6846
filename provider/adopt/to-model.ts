// KernelRule(s) read from a host -> the DockerUserRule input that declares them, proven by the model itself:
// a candidate counts only if the model's schema accepts it and expandRule renders exactly the kernel rules
// it came from (comments aside). Whatever fails that proof is reported with the reason, never guessed.
import { type IpFamily, parseCidr } from "../model/address";
import { dockerUserRuleArgs, REJECT_WITH } from "../model/rule";
import { fieldFailures } from "../model/validation";
import { canonicalRejectWith } from "../netfilter/canonical";
import { expandRule } from "../netfilter/expand";
import type { KernelRule, Negatable, PortRange } from "../netfilter/kernel-rule";
import { formatPortRange, renderRule } from "../netfilter/render-rule";

/** A DockerUserRule input as plain data (what the generated program spells out). */
export type RuleInput = Record<string, unknown>;

export type Candidate =
  | { readonly ok: true; readonly input: RuleInput }
  | { readonly ok: false; readonly reason: string };

const fail = (reason: string): Candidate => ({ ok: false, reason });

/** An address as the user would write it: no /32 or /128 on a single address. */
function address(n: Negatable<string>): unknown {
  const c = parseCidr(n.value);
  const bits = c?.family === "ipv6" ? 128 : 32;
  const text = c && c.prefix === bits ? n.value.replace(/\/\d+$/, "") : n.value;
  return n.not ? { address: text, not: true } : text;
}

const port = (p: PortRange): number | string => (p.from === p.to ? p.from : formatPortRange(p).replace(":", "-"));

function rejectReason(kernel: string, family: IpFamily): string | undefined {
  return REJECT_WITH.find((r) => canonicalRejectWith(r, family) === kernel);
}

/** The candidate input for one kernel rule of `family`, before any proof. */
export function candidateOf(k: KernelRule, comment: string | undefined): Candidate {
  const input: RuleInput = {};
  const t = k.target;
  if (k.limit && t.kind !== "LOG")
    return fail(`rate-limits a ${t.kind} rule (-m limit): our model limits only the LOG of a rule`);
  input.action = t.kind;
  if (t.kind === "REJECT") {
    const reason = rejectReason(t.with, k.family);
    if (!reason) return fail(`rejects with ${t.with}, which our model has no name for`);
    if (reason !== "port-unreachable") input.rejectWith = reason;
  }
  if (t.kind === "LOG") {
    input.log = {
      ...(t.prefix !== undefined && { prefix: t.prefix }),
      ...(t.level !== undefined && t.level !== 4 && { level: t.level }),
      ...(k.limit && { rate: k.limit.rate }),
      ...(k.limit?.burst !== undefined && { burst: k.limit.burst }),
    };
  }
  if (k.protocol) input.protocol = k.protocol === "ipv6-icmp" ? "icmp" : k.protocol;

  const srcSets = k.sets.filter((s) => !s.flags.startsWith("dst"));
  const dstSets = k.sets.filter((s) => s.flags.startsWith("dst"));
  const src = [k.source && address(k.source), k.srcRange && range(k.srcRange), ...srcSets.map(setMatch("src"))];
  const dst = [
    k.destination && address(k.destination),
    k.dstRange && range(k.dstRange),
    ...dstSets.map(setMatch("dst")),
  ];
  const srcGiven = src.filter((x) => x !== undefined);
  const dstGiven = dst.filter((x) => x !== undefined);
  if (srcGiven.length > 1) return fail("matches the source twice (an address, a range or sets together)");
  if (dstGiven.length > 1) return fail("matches the destination twice (an address, a range or sets together)");
  if (srcGiven[0] !== undefined) input.source = srcGiven[0];
  if (dstGiven[0] !== undefined) input.destination = dstGiven[0];

  if (k.inInterface) input.inInterface = iface(k.inInterface);
  if (k.outInterface) input.outInterface = iface(k.outInterface);
  if (k.dport) input.containerPorts = [port(k.dport)];
  if (k.icmpType !== undefined) input.icmpType = k.icmpType;
  const ct = k.conntrack;
  if (ct) {
    if ((ct.origDstPort || ct.origDst) && !ct.dir)
      return fail(
        "matches the original destination (--ctorigdstport/--ctorigdst) without --ctdir ORIGINAL, so it also " +
          "matches replies to connections the containers open; our publishedPorts always adds --ctdir ORIGINAL " +
          "(add it to the rule on the host if that is what you mean, then adopt again)",
      );
    if (ct.dir && !ct.origDstPort && !ct.origDst)
      return fail("matches --ctdir alone, which our model has no field for");
    if (ct.states) input.connectionStates = [...ct.states];
    if (ct.origDstPort) input.publishedPorts = [port(ct.origDstPort)];
    if (ct.origDst) input.originalDestination = ct.origDst;
  }
  const pinned = [k.source, k.destination, ct?.origDst && { value: ct.origDst, not: false }].some(
    (n) => n && parseCidr(n.value) !== undefined,
  );
  if (!pinned) input.family = k.family;
  if (comment) input.comment = comment;
  return { ok: true, input };
}

const range = (n: Negatable<string>) => ({ range: n.value, ...(n.not && { not: true }) });
const iface = (n: Negatable<string>) => (n.not ? { name: n.value, not: true } : n.value);
const setMatch = (defaultFlags: string) => (s: { name: string; flags: string; not: boolean }) => ({
  set: s.name,
  ...(s.flags !== defaultFlags && { setFlags: s.flags }),
  ...(s.not && { not: true }),
});

const withoutComment = (k: KernelRule) => renderRule({ ...k, comment: "" });

/**
 * Proves `input` declares exactly `expected` (per family, in order, comments aside): undefined when it does,
 * else the reason (the model's refusal, or the line it would render instead).
 */
export function disproof(
  input: RuleInput,
  expected: Readonly<Record<IpFamily, readonly KernelRule[]>>,
): string | undefined {
  const parsed = dockerUserRuleArgs.safeParse(input);
  if (!parsed.success) {
    const f = fieldFailures(parsed.error, input)[0];
    return `our model refuses it: ${f ? `${f.property}: ${f.reason}` : parsed.error.message}`;
  }
  let blocks: ReturnType<typeof expandRule>;
  try {
    blocks = expandRule(parsed.data, { priority: 0, id: "adopt" }, ["ipv4", "ipv6"]);
  } catch (e) {
    return `our model cannot render it: ${(e as Error).message}`;
  }
  for (const family of ["ipv4", "ipv6"] as const) {
    const want = expected[family].map(withoutComment);
    const got = blocks[family].map(withoutComment);
    if (want.length !== got.length || want.some((l, i) => l !== got[i])) {
      const first = got.find((l, i) => l !== want[i]) ?? got[0];
      return first === undefined
        ? `our model would not put it in ${family}`
        : `our model would render it as ${JSON.stringify(first.replace(' -m comment --comment ""', ""))}`;
    }
  }
  return undefined;
}

/** A comparison key that ignores the family: the IPv4 and IPv6 twins of one rule share it. */
export function neutralKey(input: RuleInput): string {
  const { family: _family, ...rest } = input;
  return JSON.stringify(rest);
}
