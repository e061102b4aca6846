// RulePriorities: the memory behind DockerHostFirewall's default priorities. A dynamic resource that never touches
// a host: its check gets the priorities it assigned last time (olds) and the rule keys in order now, and keeps every
// priority it can (resources/rule-priorities.ts), so inserting a rule changes that rule only. The priorities stay
// in each rule's ownership tag: the tag model is unchanged, only the choice of numbers has a memory.
import * as pulumi from "@pulumi/pulumi";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { canonicalJson } from "../model/canonical-json";
import { assignPriorities, type Priorities } from "./rule-priorities";
import { prioritiesShim } from "./shims";

export interface LedgerProps {
  keys: string[];
  priorities: Priorities;
}

const isKeyList = (v: unknown): v is string[] => Array.isArray(v) && v.every((k) => typeof k === "string");

export const priorityLedgerProvider: dynamic.ResourceProvider<LedgerProps, LedgerProps> = {
  async check(olds, news) {
    if (!isKeyList(news.keys)) return { failures: [{ property: "keys", reason: "must be a list of rule keys" }] };
    const previous = olds.priorities && typeof olds.priorities === "object" ? olds.priorities : {};
    return { inputs: { keys: news.keys, priorities: assignPriorities(previous, news.keys) } };
  },
  async diff(_id, olds, news) {
    return { changes: canonicalJson(olds.priorities) !== canonicalJson(news.priorities), replaces: [] };
  },
  create: async (inputs) => ({ id: "priorities", outs: inputs }),
  update: async (_id, _olds, news) => ({ outs: news }),
  read: async (id, props) => ({ id, props }),
  delete: async () => {},
};

export class PriorityLedger extends pulumi.dynamic.Resource {
  /** The default priority of each rule, by key. */
  declare readonly priorities: pulumi.Output<Priorities>;

  constructor(name: string, keys: readonly string[], opts?: pulumi.CustomResourceOptions) {
    super(prioritiesShim, name, { keys, priorities: undefined }, opts, "docker-firewall", "RulePriorities");
  }
}
