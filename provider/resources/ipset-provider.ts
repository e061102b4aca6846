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
import { batcherFor, readNow, readShared } from "./hosts";
import { isUnknownOutcome, partiallyCreated } from "./partial";
import { adoptionRefusal } from "./set-ownership";

export const IPSET_TYPE = "IpSet";
const COMPUTED = ["host", "hostKey", "bastionHostKey", "live", "adopt", "adopted"] as const;

export interface LiveMembers {
  readonly header: SetHeader;
  /** Canonical members, sorted: "10.0.0.0/24" or "10.0.0.0/24 comment \"office\"". */
  readonly entries: readonly string[];
}

export interface IpSetProps extends Record<string, unknown> {
  connection: unknown;
  name: string;
  live?: LiveMembers | null;
  /** Take over a set of this name that already exists on the node (otherwise its create is refused). */
  adopt?: boolean;
  /** The create found the set existing and took it over (`adopt: true`). */
  adopted?: boolean;
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
    const err = resourceError(IPSET_TYPE, props.name, conn, e);
    throw isUnknownOutcome(e) && conn ? Object.assign(err, { outcomeUnknown: true }) : err;
  }
}

export const ipSetProvider: dynamic.ResourceProvider<IpSetProps, IpSetProps> = {
  async check(_olds, news) {
    const failures = [...connectionFailures(news.connection), ...failuresOf(ipSetArgs, argsOf(news, COMPUTED))];
    if (news.adopt !== undefined && typeof news.adopt !== "boolean" && !isUnknown(news.adopt))
      failures.push({ property: "adopt", reason: "must be true or false" });
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
    const spec = specOf(inputs);
    let conn: ReturnType<typeof resolveConnection> | undefined;
    let adopted = false;
    try {
      conn = resolveConnection(inputs.connection);
      // A fresh read (not a shared snapshot): a replacement's delete of the same name has just run.
      const { state } = await readNow(conn);
      if (state.ipsetError) throw new Error(`cannot read the sets: ${state.ipsetError}`);
      const refusal = adoptionRefusal(state, inputs.name, inputs.adopt === true);
      if (refusal) throw new Error(refusal);
      adopted = state.sets.has(inputs.name);
    } catch (e) {
      throw resourceError(IPSET_TYPE, inputs.name, conn, e);
    }
    try {
      return { id: inputs.name, outs: { ...(await apply(inputs, spec)), adopted } };
    } catch (e) {
      // The payload may have reached the node: the engine keeps the set, and the next up updates it.
      if ((e as { outcomeUnknown?: boolean }).outcomeUnknown)
        throw partiallyCreated(e as Error, inputs.name, { ...inputs, adopted, live: null });
      throw e;
    }
  },

  async update(_id, olds, news) {
    const outs = await apply(news, specOf(news), olds);
    return { outs: { ...outs, ...(typeof olds.adopted === "boolean" && { adopted: olds.adopted }) } };
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
