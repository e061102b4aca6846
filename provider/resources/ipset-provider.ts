// The IpSet dynamic provider: one set on one node, named by the user (the set name is its identity). Members
// change atomically (temporary set + swap); type and family changes replace the set; deleting a set that rules
// still use fails with the rules named.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { canonicalJson } from "../model/canonical-json";
import { describeConnection } from "../model/connection";
import { type IpSetSpec, ipSetArgs } from "../model/ipset";
import { containsUnknown, isUnknown } from "../model/unknown";
import type { HostState } from "../netfilter/host-state";
import { headerOf, type SetHeader } from "../netfilter/ipset-text";
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
import { batcherFor, readShared } from "./hosts";

export const IPSET_TYPE = "IpSet";
const COMPUTED = ["host", "hostKey", "bastionHostKey", "live"] as const;

export interface LiveMembers {
  readonly header: SetHeader;
  /** Canonical members, sorted: "10.0.0.0/24" or "10.0.0.0/24 comment \"office\"". */
  readonly entries: readonly string[];
}

export interface IpSetProps extends Record<string, unknown> {
  connection: unknown;
  name: string;
  live?: LiveMembers | null;
}

const specOf = (props: Record<string, unknown>): IpSetSpec => ipSetArgs.parse(argsOf(props, COMPUTED));

function members(spec: IpSetSpec): LiveMembers {
  return {
    header: headerOf(spec),
    entries: spec.entries.map((e) => (e.comment === undefined ? e.entry : `${e.entry} comment "${e.comment}"`)).sort(),
  };
}

function liveMembers(state: HostState, name: string): LiveMembers | null {
  const set = state.sets.get(name);
  if (!set) return null;
  const entries = [...set.entries].map(([e, c]) => (c === undefined ? e : `${e} comment "${c}"`)).sort();
  return { header: set.header, entries };
}

async function apply(props: IpSetProps, spec: IpSetSpec | null, recorded?: IpSetProps): Promise<IpSetProps> {
  let conn: ReturnType<typeof resolveConnection> | undefined;
  try {
    conn = resolveConnection(props.connection);
    trustRecordedHostKey(conn, recorded);
    const settled = await batcherFor(conn).submit({ kind: "set", name: props.name, spec });
    if (!settled.result.ok) throw settled.result.error;
    return {
      ...props,
      host: describeConnection(conn),
      ...recordedHostKeys(conn),
      live: liveMembers(settled.outcome.after, props.name),
    };
  } catch (e) {
    throw resourceError(IPSET_TYPE, props.name, conn, e);
  }
}

export const ipSetProvider: dynamic.ResourceProvider<IpSetProps, IpSetProps> = {
  async check(_olds, news) {
    const failures = [...connectionFailures(news.connection), ...failuresOf(ipSetArgs, argsOf(news, COMPUTED))];
    return failures.length > 0 ? { failures } : { inputs: news };
  },

  async diff(_id, olds, news) {
    // Another resource on the same node may be created in this run: hold it to the keys recorded here.
    seedRecordedHostKeys(olds);
    const replaces: string[] = [];
    if (hostIdentityChanged(olds.connection, news.connection)) replaces.push("connection");
    for (const k of ["name", "type", "family"] as const) {
      if (
        isUnknown(news[k]) ||
        (news[k] ?? (k === "family" ? "ipv4" : undefined)) !== (olds[k] ?? (k === "family" ? "ipv4" : undefined))
      )
        replaces.push(k);
    }
    const args = argsOf(news, COMPUTED);
    if (containsUnknown(args)) return { changes: true, replaces, deleteBeforeReplace: !replaces.includes("name") };
    const want = members(ipSetArgs.parse(args));
    const same = canonicalJson(want) === canonicalJson(olds.live);
    const changes = replaces.length > 0 || !same || connectionChanged(olds.connection, news.connection);
    // Same name, new type or family: the old set must go before the new one can be created.
    return { changes, replaces, deleteBeforeReplace: replaces.length > 0 && !replaces.includes("name") };
  },

  async create(inputs) {
    return { id: inputs.name, outs: await apply(inputs, specOf(inputs)) };
  },

  async update(_id, olds, news) {
    return { outs: await apply(news, specOf(news), olds) };
  },

  async read(id, props) {
    if (!props) return {};
    const conn = resolveConnection(props.connection);
    try {
      trustRecordedHostKey(conn, props);
      const { state } = await readShared(conn);
      // Sets that could not be read are unknown: reporting this one gone would make the next up recreate it.
      if (state.ipsetError) throw new Error(`cannot read the sets: ${state.ipsetError}`);
      const live = liveMembers(state, id);
      return live ? { id, props: { ...props, live } } : {};
    } catch (e) {
      throw resourceError(IPSET_TYPE, id, conn, e);
    }
  },

  async delete(id, props) {
    await apply({ ...props, name: id }, null, props);
  },
};
