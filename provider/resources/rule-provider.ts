// The DockerUserRule dynamic provider: one logical rule = one tagged block of kernel rules in DOCKER-USER.
// check validates (no connection) and renders the literal iptables lines for previews; diff compares canonical
// lines; create/update/delete go through the node's batched transactions; read reports what is live.
import { createHash, randomBytes } from "node:crypto";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { IpFamily } from "../model/address";
import { canonicalJson } from "../model/canonical-json";
import { describeConnection } from "../model/connection";
import { type DockerUserRule, dockerUserRuleArgs } from "../model/rule";
import { containsUnknown, isUnknown, UNKNOWN } from "../model/unknown";
import { blockStatus } from "../netfilter/block-status";
import { expandRule } from "../netfilter/expand";
import type { HostFacts, HostState } from "../netfilter/host-state";
import { renderRule } from "../netfilter/render-rule";
import { makeRuleId, RULE_ID } from "../netfilter/tag";
import {
  argsOf,
  connectionChanged,
  connectionFailures,
  failuresOf,
  hostIdentityChanged,
  recordedHostKeys,
  resolveConnection,
  resourceError,
  seedRecordedHostKeys,
  trustRecordedHostKey,
} from "./common";
import { batcherFor, familiesOnce, incarnationOf, noteIncarnation, readShared, warnOnce } from "./hosts";
import { isUnknownOutcome, partiallyCreated } from "./partial";

export const RULE_TYPE = "DockerUserRule";
const COMPUTED = [
  "ruleName",
  "ruleScope",
  "ruleId",
  "generation",
  "rendered",
  "host",
  "hostKey",
  "bastionHostKey",
  "families",
  "lines",
  "inPlace",
] as const;

export interface RuleProps extends Record<string, unknown> {
  connection: unknown;
  ruleName: string;
  ruleId?: string;
  rendered?: Record<IpFamily, string[]>;
  families?: IpFamily[];
  lines?: Record<IpFamily, string[]>;
  inPlace?: boolean;
  /** Random per create: tells this incarnation's block from a same-id replacement's (see `delete`). */
  generation?: string;
}

const ruleOf = (props: Record<string, unknown>): DockerUserRule => dockerUserRuleArgs.parse(argsOf(props, COMPUTED));

function render(rule: DockerUserRule, id: string, families: readonly IpFamily[]): Record<IpFamily, string[]> {
  const blocks = expandRule(rule, { priority: rule.priority as number, id }, families);
  return { ipv4: blocks.ipv4.map(renderRule), ipv6: blocks.ipv6.map(renderRule) };
}

function outputs(inputs: RuleProps, state: HostState, facts: HostFacts): RuleProps {
  const conn = resolveConnection(inputs.connection);
  const status = blockStatus(state, facts, inputs.ruleId as string);
  return {
    ...inputs,
    host: describeConnection(conn),
    ...recordedHostKeys(conn),
    families: [...facts.families],
    lines: { ipv4: [...status.lines.ipv4], ipv6: [...status.lines.ipv6] },
    inPlace: status.inPlace,
  };
}

/**
 * The rule's id, derived from what identifies it: the program's scope (project and stack), its logical name,
 * and the fields whose change forces a replacement (node, family). The same program gets the same id at every
 * preview and up (so a create whose outcome was lost finds its own block again), and a replacement a new one (so
 * old and new blocks coexist until the engine deletes the old). Unknown while any of these is unknown.
 */
export function deriveRuleId(news: Record<string, unknown>): string {
  const conn = news.connection as { host?: unknown; port?: unknown } | undefined;
  const args = argsOf(news, COMPUTED);
  if (isUnknown(conn) || isUnknown(conn?.host) || isUnknown(conn?.port) || containsUnknown(args)) return UNKNOWN;
  if (isUnknown(news.ruleScope) || isUnknown(news.ruleName)) return UNKNOWN;
  const name = String(news.ruleName ?? "rule");
  const identity = [news.ruleScope ?? "", name, conn?.host, conn?.port ?? 22, ruleOf(news).family];
  return makeRuleId(name, createHash("sha256").update(canonicalJson(identity)).digest("hex"));
}

async function apply(props: RuleProps, rule: DockerUserRule | null, recorded?: RuleProps): Promise<RuleProps> {
  const conn = (() => {
    try {
      return resolveConnection(props.connection);
    } catch (e) {
      throw resourceError(RULE_TYPE, props.ruleName, undefined, e);
    }
  })();
  const id = props.ruleId as string;
  try {
    trustRecordedHostKey(conn, recorded);
    const settled = await batcherFor(conn).submit({
      kind: "rule",
      id,
      priority: rule ? (rule.priority as number) : 0,
      rule,
    });
    if (!settled.result.ok) throw settled.result.error;
    warnOnce(conn, settled.outcome.facts.warnings);
    return outputs(props, settled.outcome.after, settled.outcome.facts);
  } catch (e) {
    const err = resourceError(RULE_TYPE, `${props.ruleName} (${id})`, conn, e);
    throw isUnknownOutcome(e) ? Object.assign(err, { outcomeUnknown: true }) : err;
  }
}

/**
 * The families the node has now. A rule with family auto follows the host: when Docker starts making an IPv6
 * DOCKER-USER, the next up must plan the v6 lines, so its diff reads the node (one shared read per node) instead of
 * trusting the families recorded at the last apply (once per node and run). Unreachable: the recorded ones.
 */
async function familiesNow(olds: RuleProps, news: RuleProps, rule: DockerUserRule): Promise<readonly IpFamily[]> {
  const recorded = olds.families ?? ["ipv4"];
  if (rule.family !== "auto" || containsUnknown(news.connection)) return recorded;
  try {
    const conn = resolveConnection(news.connection);
    trustRecordedHostKey(conn, olds);
    return (await familiesOnce(conn)) ?? recorded;
  } catch {
    return recorded;
  }
}

export const ruleProvider: dynamic.ResourceProvider<RuleProps, RuleProps> = {
  async check(olds, news) {
    const failures = [
      ...connectionFailures(news.connection),
      ...failuresOf(dockerUserRuleArgs, argsOf(news, COMPUTED)),
    ];
    if (failures.length > 0) return { failures };
    // An existing resource keeps its id (ids minted at random by earlier versions included); a new one, or a
    // replacement (olds = {}), gets the id derived from its identity.
    const ruleId = typeof olds.ruleId === "string" && RULE_ID.test(olds.ruleId) ? olds.ruleId : deriveRuleId(news);
    const args = argsOf(news, COMPUTED);
    const rendered =
      containsUnknown(args) || isUnknown(ruleId) ? undefined : render(ruleOf(news), ruleId, ["ipv4", "ipv6"]);
    return { inputs: { ...news, ruleId, ...(rendered && { rendered }) } };
  },

  async diff(_id, olds, news) {
    // Another resource on the same node may be created in this run: hold it to the keys recorded here.
    seedRecordedHostKeys(olds);
    const replaces: string[] = [];
    if (hostIdentityChanged(olds.connection, news.connection)) replaces.push("connection");
    const newArgs = argsOf(news, COMPUTED);
    const oldRule = ruleOf(olds);
    if (containsUnknown(newArgs)) return { changes: true, replaces };
    const newRule = dockerUserRuleArgs.parse(newArgs);
    if (newRule.family !== oldRule.family) replaces.push("family");
    const families = await familiesNow(olds, news, newRule);
    const want = render(newRule, olds.ruleId as string, families);
    const have = olds.lines ?? { ipv4: [], ipv6: [] };
    const linesDiffer = families.some((f) => canonicalJson(want[f]) !== canonicalJson(have[f] ?? []));
    const changes =
      replaces.length > 0 ||
      linesDiffer ||
      olds.inPlace === false ||
      connectionChanged(olds.connection, news.connection);
    return { changes, replaces, deleteBeforeReplace: false };
  },

  async create(inputs) {
    const id = inputs.ruleId as string;
    const generation = randomBytes(6).toString("hex");
    noteIncarnation(inputs.connection, id, generation);
    try {
      const outs = await apply(inputs, ruleOf(inputs));
      return { id, outs: { ...outs, generation } };
    } catch (e) {
      // The payload may have reached the node: have the engine keep the resource, so the next up or refresh
      // reconciles that block instead of leaving it live and unowned.
      if ((e as { outcomeUnknown?: boolean }).outcomeUnknown)
        throw partiallyCreated(e as Error, id, { ...inputs, generation, inPlace: false });
      throw e;
    }
  },

  async update(_id, olds, news) {
    const outs = await apply(news, ruleOf(news), olds);
    return { outs: { ...outs, ...(typeof olds.generation === "string" && { generation: olds.generation }) } };
  },

  async read(id, props) {
    if (!props) return {};
    const conn = resolveConnection(props.connection);
    try {
      trustRecordedHostKey(conn, props);
      const { state, facts } = await readShared(conn);
      const live = outputs({ ...props, ruleId: id }, state, facts);
      const total = (live.lines?.ipv4.length ?? 0) + (live.lines?.ipv6.length ?? 0);
      // No rule of ours left on the host: the resource is gone (the next up recreates it).
      return total === 0 ? {} : { id, props: live };
    } catch (e) {
      throw resourceError(RULE_TYPE, `${props.ruleName} (${id})`, conn, e);
    }
  },

  async delete(id, props) {
    // A replacement that kept the id (a forced `--replace`: check cannot tell it from a first create) created
    // its block in this process before the engine deletes the old incarnation: that block is no longer the old one's.
    const current = incarnationOf(props.connection, id);
    if (typeof props.generation === "string" && current !== undefined && current !== props.generation) return;
    await apply({ ...props, ruleId: id }, null, props);
  },
};
