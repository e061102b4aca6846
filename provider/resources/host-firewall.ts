// DockerHostFirewall: one Docker host's whole DOCKER-USER policy as one declarative object, so a fleet is one
// line per host. It creates the host's IpSets and DockerUserRules as children; a rule that names one of the
// component's sets (`source: { set: "lbs" }`) gets the set resource's `name` output instead, so it depends on
// the set (created first, deleted last).
import * as pulumi from "@pulumi/pulumi";
import type { IpFamily } from "../model/address";
import type { ForeignRulesInput } from "../model/foreign-rules";
import { DockerUserRule, type DockerUserRuleArgs } from "./docker-user-rule";
import type { ConnectionInput } from "./inputs";
import { IpSet, type IpSetArgs } from "./ip-set";
import { PersistentRuleset } from "./persistent-ruleset";
import { PriorityLedger } from "./priority-ledger";

export { PRIORITY_STEP } from "./rule-priorities";

/** An IpSet of the host: the set's name on the host defaults to its key in `sets`. */
export type HostSetArgs = Omit<IpSetArgs, "connection" | "name"> & { readonly name?: pulumi.Input<string> };

/**
 * A DockerUserRule of the host. The priority defaults to the rule's position in `rules` × 10 (10, 20, …) the first
 * time; later, rules keep their priority and a rule inserted between others takes a number between theirs.
 */
export type HostRuleArgs = Omit<DockerUserRuleArgs, "connection" | "priority"> & {
  readonly priority?: pulumi.Input<number>;
};

export interface DockerHostFirewallArgs {
  /** How to reach the Docker host (shared by every child). Secret in state. */
  readonly connection: ConnectionInput;
  /** The host's ipsets, by key. A rule names one by key (or by its host name) in `source`/`destination.set`. */
  readonly sets?: Readonly<Record<string, HostSetArgs>>;
  /** The host's rules, by key, in the order they should sit in DOCKER-USER (unless priorities say otherwise). */
  readonly rules: Readonly<Record<string, HostRuleArgs>>;
  /**
   * Make the host's managed rules and sets survive a reboot (a PersistentRuleset child). `exclusive: true` also
   * treats rules nobody manages in DOCKER-USER as drift. Default: off. `foreignRules` is the host's policy for
   * other tools' rules (fail2ban, CrowdSec): which stay above ours, which exclusive mode leaves alone (README,
   * "Living with fail2ban and CrowdSec"); it is kept on the host, so every transaction there plans with it.
   */
  readonly persistence?:
    | boolean
    | { readonly exclusive?: boolean; readonly foreignRules?: pulumi.Input<ForeignRulesInput> };
}

type AddressInput = DockerUserRuleArgs["source"];

/** `{ set: "lbs" }` naming one of the component's sets → `{ set: <that IpSet>.name }`; anything else unchanged. */
function linkSet(match: AddressInput, sets: ReadonlyMap<string, IpSet>): AddressInput {
  if (match === undefined || typeof match !== "object" || pulumi.Output.isInstance(match)) return match;
  if (!("set" in match) || typeof match.set !== "string") return match;
  const set = sets.get(match.set);
  return set ? { ...match, set: set.name } : match;
}

export class DockerHostFirewall extends pulumi.ComponentResource {
  /** The child IpSets, by key. */
  readonly sets: Readonly<Record<string, IpSet>>;
  /** The child DockerUserRules, by key. */
  readonly rules: Readonly<Record<string, DockerUserRule>>;
  /** The host's PersistentRuleset, when `persistence` is on. */
  readonly persistence?: PersistentRuleset;
  /** The iptables lines of every rule, in chain order (priority, then key), per family: what a preview shows. */
  readonly rendered: pulumi.Output<Record<IpFamily, string[]>>;

  constructor(name: string, args: DockerHostFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("docker-firewall:index:DockerHostFirewall", name, {}, opts);
    const child = { parent: this };

    const sets: Record<string, IpSet> = {};
    const byName = new Map<string, IpSet>();
    for (const [key, { name: setName, ...rest }] of Object.entries(args.sets ?? {})) {
      const set = new IpSet(`${name}-${key}`, { ...rest, connection: args.connection, name: setName ?? key }, child);
      sets[key] = set;
      byName.set(key, set);
      if (typeof setName === "string") byName.set(setName, set);
    }

    // A policy that keeps foreign rules above ours must be on the host before our first rule is (else that rule
    // would sit above fail2ban's jump until the policy arrives); exclusive mode still comes last (see below).
    const persistence = args.persistence;
    const policyFirst = typeof persistence === "object" && !persistence.exclusive && !!persistence.foreignRules;
    if (persistence && policyFirst) this.persistence = this.persistenceChild(name, args, child, []);
    const ruleOpts = this.persistence ? { ...child, dependsOn: [this.persistence] } : child;

    const rules: Record<string, DockerUserRule> = {};
    const order: Array<{ key: string; priority: pulumi.Output<number> }> = [];
    // Default priorities with a memory, so inserting a rule re-tags no other rule (resources/rule-priorities.ts);
    // a host whose rules all name their priority (an adopted program) needs none.
    const defaulted = Object.values(args.rules).some((r) => r.priority === undefined);
    const ledger = defaulted ? new PriorityLedger(`${name}-priorities`, Object.keys(args.rules), child) : undefined;
    for (const [key, rule] of Object.entries(args.rules)) {
      const priority = rule.priority ?? (ledger as PriorityLedger).priorities.apply((p) => p[key] as number);
      rules[key] = new DockerUserRule(
        `${name}-${key}`,
        {
          ...rule,
          priority,
          source: linkSet(rule.source, byName),
          destination: linkSet(rule.destination, byName),
          connection: args.connection,
        },
        ruleOpts,
      );
      order.push({ key, priority: pulumi.output(priority) });
    }

    if (persistence && !policyFirst)
      // After every rule and set: exclusive mode run first would strip a host's existing rules before ours exist.
      this.persistence = this.persistenceChild(name, args, child, [...Object.values(rules), ...Object.values(sets)]);

    this.sets = sets;
    this.rules = rules;
    this.rendered = pulumi
      .all(order.map((o) => pulumi.all([o.priority, rules[o.key]?.rendered ?? pulumi.output(undefined)])))
      .apply((entries) => {
        const sorted = entries
          .map(([priority, lines], i) => ({ priority, key: order[i]?.key ?? "", lines }))
          .sort((a, b) => a.priority - b.priority || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        return {
          ipv4: sorted.flatMap((e) => e.lines?.ipv4 ?? []),
          ipv6: sorted.flatMap((e) => e.lines?.ipv6 ?? []),
        };
      });
    this.registerOutputs({ rendered: this.rendered });
  }

  private persistenceChild(
    name: string,
    args: DockerHostFirewallArgs,
    child: pulumi.ComponentResourceOptions,
    dependsOn: pulumi.Resource[],
  ): PersistentRuleset {
    const p = args.persistence === true || !args.persistence ? {} : args.persistence;
    return new PersistentRuleset(
      `${name}-persistence`,
      {
        connection: args.connection,
        ...(p.exclusive !== undefined && { exclusive: p.exclusive }),
        ...(p.foreignRules !== undefined && { foreignRules: p.foreignRules }),
      },
      { ...child, dependsOn },
    );
  }
}
