// The DockerUserRule dynamic provider: one logical rule = one tagged block of kernel rules in DOCKER-USER.
// check validates (no connection) and renders the literal iptables lines for previews; diff compares canonical
// lines; create/update/delete go through the host's batched transactions; read reports what is live.
import { createHash, randomBytes } from "node:crypto";
import type { ContainerList } from "../containers/container-list";
import { formatPorts, parsePorts, resolveRule } from "../containers/resolve";
import type { IpFamily } from "../model/address";
import { canonicalJson } from "../model/canonical-json";
import { endpointOf } from "../model/connection";
import { type DockerUserRule, dockerUserRuleArgs, dockerUserRulePreview } from "../model/rule";
import { containsUnknown, isUnknown, UNKNOWN } from "../model/unknown";
import { blockStatus } from "../netfilter/block-status";
import { expandRule } from "../netfilter/expand";
import { type HostState, isNftFacts, type NodeFacts } from "../netfilter/host-state";
import { renderRule } from "../netfilter/render-rule";
import { makeRuleId, RULE_ID } from "../netfilter/tag";
import { nftBlockLines, nftBlockStatus } from "../nftables/status";
import { argsOf, resolveConnection, trustRecordedHostKey } from "./common";
import { factsFor, incarnationOf, noteIncarnation, readShared } from "./hosts";
import { BASE_COMPUTED, type BaseProps, makeProvider, refusedByNftables } from "./provider-factory";

export const RULE_TYPE = "DockerUserRule";
const COMPUTED = [
  "ruleName",
  "ruleScope",
  "ruleId",
  "generation",
  "rendered",
  "families",
  "backend",
  "lines",
  "inPlace",
  "resolvedPorts",
];
const ALL_COMPUTED = [...BASE_COMPUTED, ...COMPUTED];

export interface RuleProps extends BaseProps {
  ruleName: string;
  ruleId?: string;
  rendered?: Record<IpFamily, string[]>;
  families?: IpFamily[];
  /** "nftables" when the host's Docker runs nftables: `lines` are then nft rules of our table. */
  backend?: string;
  lines?: Record<IpFamily, string[]>;
  inPlace?: boolean;
  /** Random per create: tells this incarnation's block from a same-id replacement's (see `skipDelete`). */
  generation?: string;
  /** A rule with a target: the published ports it matched at the last apply, or that it resolves to now (at read). */
  resolvedPorts?: string[];
}

const ruleOf = (props: Record<string, unknown>): DockerUserRule =>
  dockerUserRuleArgs.parse(argsOf(props, ALL_COMPUTED));
/** Set by check before any other operation sees the props. */
const idOf = (props: RuleProps): string => String(props.ruleId);

function render(rule: DockerUserRule, id: string, families: readonly IpFamily[]): Record<IpFamily, string[]> {
  const blocks = expandRule(rule, { priority: rule.priority, id }, families);
  return { ipv4: blocks.ipv4.map(renderRule), ipv6: blocks.ipv6.map(renderRule) };
}

/** The ports a target rule matches on a host with these containers; none when nothing matches. */
function resolvedPorts(rule: DockerUserRule, containers: ContainerList | undefined): string[] {
  const r = resolveRule(rule, containers);
  return "rule" in r ? formatPorts(r.rule.resolvedPorts ?? []) : [];
}

function outputs(props: RuleProps, state: HostState, facts: NodeFacts): Partial<RuleProps> {
  const nft = isNftFacts(facts);
  const status = nft ? nftBlockStatus(state, idOf(props)) : blockStatus(state, facts, idOf(props));
  // Parsed only for a target: state recorded by older versions must stay readable.
  const rule = props.target !== undefined && props.target !== null ? ruleOf(props) : undefined;
  return {
    families: [...facts.families],
    ...(nft && { backend: facts.backend }),
    lines: { ipv4: [...status.lines.ipv4], ipv6: [...status.lines.ipv6] },
    inPlace: status.inPlace,
    ...(rule?.target && { resolvedPorts: resolvedPorts(rule, state.containers) }),
  };
}

/**
 * A target rule as it would be planned now: resolved against the host's containers (a read shared by the diffs in
 * flight), or, the host unreachable, against the ports recorded at the last apply or read. Undefined: it cannot be
 * resolved (nothing matches), so the update must run and say why.
 */
async function resolvedNow(
  olds: RuleProps,
  news: RuleProps,
  rule: DockerUserRule,
): Promise<DockerUserRule | undefined> {
  if (!rule.target) return rule;
  let containers: ContainerList | undefined;
  try {
    const conn = resolveConnection(news.connection);
    trustRecordedHostKey(conn, olds);
    // Not cached for the run as families are: a container republished between two ups must be seen by the second.
    containers = (await readShared(conn, { containers: true })).state.containers;
  } catch {
    containers = undefined;
  }
  if (containers === undefined) {
    const recorded = parsePorts(olds.resolvedPorts ?? []);
    return recorded.length > 0 ? { ...rule, resolvedPorts: recorded } : undefined;
  }
  const r = resolveRule(rule, containers);
  return "rule" in r ? r.rule : undefined;
}

/**
 * The rule's id, derived from what identifies it: the program's scope (project and stack), its logical name,
 * and the fields whose change forces a replacement (host, family). The same program gets the same id at every
 * preview and up (so a create whose outcome was lost finds its own block again), and a replacement a new one (so
 * old and new blocks coexist until the engine deletes the old). Unknown while any of these is unknown.
 */
export function deriveRuleId(news: Record<string, unknown>): string {
  const endpoint = endpointOf(news.connection);
  if (endpoint === undefined || containsUnknown(argsOf(news, ALL_COMPUTED))) return UNKNOWN;
  if (isUnknown(news.ruleScope) || isUnknown(news.ruleName)) return UNKNOWN;
  const name = String(news.ruleName ?? "rule");
  const identity = [news.ruleScope ?? "", name, endpoint.host, endpoint.port, ruleOf(news).family];
  return makeRuleId(name, createHash("sha256").update(canonicalJson(identity)).digest("hex"));
}

/**
 * The lines the rule wants on its host now. A rule with family auto follows the host: when Docker starts making an
 * IPv6 DOCKER-USER, the next up must plan the v6 lines, so its diff reads the host (one shared read per host) instead
 * of trusting the families recorded at the last apply; a host whose Docker runs nftables gets nft lines (with its
 * accept mark). Unreachable: the families and backend recorded at the last apply, iptables lines.
 */
async function wantedLines(olds: RuleProps, news: RuleProps, rule: DockerUserRule) {
  const facts = await factsFor("diff", news.connection, olds);
  const recorded = olds.families ?? ["ipv4"];
  const families = rule.family === "auto" ? (facts?.families ?? recorded) : recorded;
  if (facts && isNftFacts(facts)) {
    const lines = nftBlockLines(rule, idOf(olds), families, facts.acceptMark);
    // A rule the host refuses shows as a change: the up reports the refusal with its field.
    return { families, want: "error" in lines ? undefined : lines };
  }
  return { families, want: render(rule, idOf(olds), families) };
}

export const ruleProvider = makeProvider<DockerUserRule, RuleProps>({
  type: RULE_TYPE,
  previewSchema: dockerUserRulePreview,
  schema: dockerUserRuleArgs,
  computed: COMPUTED,
  label: (props, id) => `${props.ruleName} (${id ?? props.ruleId})`,
  withId: (props, id) => ({ ...props, ruleId: id }),

  complete(olds, news) {
    // An existing resource keeps its id (ids minted at random by earlier versions included); a new one, or a
    // replacement (olds = {}), gets the id derived from its identity.
    const ruleId = typeof olds.ruleId === "string" && RULE_ID.test(olds.ruleId) ? olds.ruleId : deriveRuleId(news);
    const known = !containsUnknown(argsOf(news, ALL_COMPUTED)) && !isUnknown(ruleId);
    // A target's lines depend on the host's containers: rendered at apply, not at check.
    const rendered = known && !ruleOf(news).target ? render(ruleOf(news), ruleId, ["ipv4", "ipv6"]) : undefined;
    return { ...news, ruleId, ...(rendered && { rendered }) };
  },

  forHost: {
    // `olds` are the last check's inputs: a new rule (no id yet) or one checked for nftables reads; a rule applied
    // on an iptables host keeps iptables lines (its diff reads the host for what changed).
    reads: (olds) => olds.ruleId === undefined || olds.backend === "nftables",
    fit(inputs, facts) {
      if (!isNftFacts(facts) || !inputs.rendered) return inputs;
      const lines = nftBlockLines(ruleOf(inputs), idOf(inputs), facts.families, facts.acceptMark);
      if ("error" in lines) return refusedByNftables(inputs.connection, lines.field, lines.reason);
      return { ...inputs, rendered: lines, backend: facts.backend };
    },
  },

  async compare(olds, news) {
    const newArgs = argsOf(news, ALL_COMPUTED);
    if (containsUnknown(newArgs)) return { changes: true, replaces: [] };
    const newRule = dockerUserRuleArgs.parse(newArgs);
    const replaces = newRule.family !== ruleOf(olds).family ? ["family"] : [];
    const planned = await resolvedNow(olds, news, newRule);
    if (!planned) return { changes: true, replaces };
    const { families, want } = await wantedLines(olds, news, planned);
    const have = olds.lines ?? { ipv4: [], ipv6: [] };
    const linesDiffer = !want || families.some((f) => canonicalJson(want[f]) !== canonicalJson(have[f] ?? []));
    return { changes: linesDiffer || olds.inPlace === false, replaces };
  },

  intent: (props, rule) => ({ kind: "rule", id: idOf(props), priority: rule?.priority ?? 0, rule }),

  outputs,
  readsContainers: (props) => props.target !== undefined && props.target !== null,

  live(_id, props, state, facts) {
    const live = outputs(props, state, facts);
    const total = (live.lines?.ipv4.length ?? 0) + (live.lines?.ipv6.length ?? 0);
    // No rule of ours left on the host: the resource is gone (the next up recreates it).
    return total === 0 ? undefined : live;
  },

  create: {
    id: (inputs) => idOf(inputs),
    async prepare(inputs) {
      const generation = randomBytes(6).toString("hex");
      noteIncarnation(inputs.connection, idOf(inputs), generation);
      return { generation };
    },
    partial: (inputs, prepared) => ({ ...inputs, ...prepared, inPlace: false }),
  },
  kept: ["generation"],

  // A replacement that kept the id (a forced `--replace`: check cannot tell it from a first create) created
  // its block in this process before the engine deletes the old incarnation: that block is no longer the old one's.
  skipDelete(id, props) {
    const current = incarnationOf(props.connection, id);
    return typeof props.generation === "string" && current !== undefined && current !== props.generation;
  },
});
