// The DockerUserRule dynamic provider: one logical rule = one tagged block of kernel rules in DOCKER-USER.
// check validates (no connection) and renders the literal iptables lines for previews; diff compares canonical
// lines; create/update/delete go through the node's batched transactions; read reports what is live.
import { randomBytes } from "node:crypto";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { IpFamily } from "../model/address";
import { canonicalJson } from "../model/canonical-json";
import { describeConnection } from "../model/connection";
import { type DockerUserRule, dockerUserRuleArgs } from "../model/rule";
import { containsUnknown } from "../model/unknown";
import { blockStatus } from "../netfilter/block-status";
import { expandRule } from "../netfilter/expand";
import type { HostFacts, HostState } from "../netfilter/host-state";
import { renderRule } from "../netfilter/render-rule";
import { makeRuleId, RULE_ID } from "../netfilter/tag";
import { observedHostKey } from "../node/host-key";
import {
  argsOf,
  connectionChanged,
  connectionFailures,
  failuresOf,
  hostIdentityChanged,
  resolveConnection,
  resourceError,
  trustRecordedHostKey,
} from "./common";
import { batcherFor, readShared, warnOnce } from "./hosts";

export const RULE_TYPE = "DockerUserRule";
const COMPUTED = ["ruleName", "ruleId", "rendered", "host", "hostKey", "families", "lines", "inPlace"] as const;

export interface RuleProps extends Record<string, unknown> {
  connection: unknown;
  ruleName: string;
  ruleId?: string;
  rendered?: Record<IpFamily, string[]>;
  families?: IpFamily[];
  lines?: Record<IpFamily, string[]>;
  inPlace?: boolean;
}

const ruleOf = (props: Record<string, unknown>): DockerUserRule => dockerUserRuleArgs.parse(argsOf(props, COMPUTED));

function render(rule: DockerUserRule, id: string, families: readonly IpFamily[]): Record<IpFamily, string[]> {
  const blocks = expandRule(rule, { priority: rule.priority as number, id }, families);
  return { ipv4: blocks.ipv4.map(renderRule), ipv6: blocks.ipv6.map(renderRule) };
}

function outputs(inputs: RuleProps, state: HostState, facts: HostFacts): RuleProps {
  const conn = resolveConnection(inputs.connection);
  const status = blockStatus(state, facts, inputs.ruleId as string);
  const hostKey = observedHostKey(conn);
  return {
    ...inputs,
    host: describeConnection(conn),
    ...(hostKey && { hostKey }),
    families: [...facts.families],
    lines: { ipv4: [...status.lines.ipv4], ipv6: [...status.lines.ipv6] },
    inPlace: status.inPlace,
  };
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
    throw resourceError(RULE_TYPE, `${props.ruleName} (${id})`, conn, e);
  }
}

export const ruleProvider: dynamic.ResourceProvider<RuleProps, RuleProps> = {
  async check(olds, news) {
    const failures = [
      ...connectionFailures(news.connection),
      ...failuresOf(dockerUserRuleArgs, argsOf(news, COMPUTED)),
    ];
    if (failures.length > 0) return { failures };
    // The id is made once and kept for the resource's life; a replacement (olds = {}) gets a new one, so the
    // new block can coexist with the old until the engine deletes it.
    const ruleId =
      typeof olds.ruleId === "string" && RULE_ID.test(olds.ruleId)
        ? olds.ruleId
        : makeRuleId(String(news.ruleName ?? "rule"), randomBytes(4).toString("hex"));
    const args = argsOf(news, COMPUTED);
    const rendered = containsUnknown(args) ? undefined : render(ruleOf(news), ruleId, ["ipv4", "ipv6"]);
    return { inputs: { ...news, ruleId, ...(rendered && { rendered }) } };
  },

  async diff(_id, olds, news) {
    const replaces: string[] = [];
    if (hostIdentityChanged(olds.connection, news.connection)) replaces.push("connection");
    const newArgs = argsOf(news, COMPUTED);
    const oldRule = ruleOf(olds);
    if (containsUnknown(newArgs)) return { changes: true, replaces };
    const newRule = dockerUserRuleArgs.parse(newArgs);
    if (newRule.family !== oldRule.family) replaces.push("family");
    const families = olds.families ?? ["ipv4"];
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
    const outs = await apply(inputs, ruleOf(inputs));
    return { id: inputs.ruleId as string, outs };
  },

  async update(_id, olds, news) {
    return { outs: await apply(news, ruleOf(news), olds) };
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
    await apply({ ...props, ruleId: id }, null, props);
  },
};
