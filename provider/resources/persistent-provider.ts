// The PersistentRuleset dynamic provider: one per node. Turns boot persistence on (files under /etc plus a
// systemd unit before docker.service); every later transaction of any of our resources on the node keeps the
// files in step. Refresh reports files or the unit that no longer match, and in exclusive mode unmanaged rules.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { z } from "zod";
import { describeConnection, endpointIdentity } from "../model/connection";
import { UNKNOWN } from "../model/unknown";
import type { HostFacts, HostState } from "../netfilter/host-state";
import { PERSISTED_PATHS } from "../persistence/files";
import { type PersistenceDrift, persistenceDrift } from "../persistence/managed-state";

export type { PersistenceDrift };

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

export const PERSISTENT_TYPE = "PersistentRuleset";
const COMPUTED = ["host", "hostKey", "bastionHostKey", "backend", "files", "drift"] as const;

const persistentArgs = z
  .object({
    /** DOCKER-USER holds only managed rules (and Docker's RETURN): others are drift, removed by the next up. */
    exclusive: z.union([z.literal(UNKNOWN), z.boolean({ message: "must be true or false" })]).default(false),
  })
  .strict();
export type PersistentRulesetInput = z.input<typeof persistentArgs>;

export interface PersistentProps extends Record<string, unknown> {
  connection: unknown;
  exclusive?: boolean;
  drift?: PersistenceDrift;
}

const exclusiveOf = (props: Record<string, unknown>) =>
  persistentArgs.parse(argsOf(props, COMPUTED)).exclusive === true;

function outputs(props: PersistentProps, state: HostState, facts: HostFacts): PersistentProps {
  const conn = resolveConnection(props.connection);
  const drift = persistenceDrift(state, facts, { exclusive: exclusiveOf(props) });
  return {
    ...props,
    host: describeConnection(conn),
    ...recordedHostKeys(conn),
    backend: facts.backend,
    files: Object.values(PERSISTED_PATHS),
    drift,
  };
}

async function apply(props: PersistentProps, on: boolean, recorded?: PersistentProps): Promise<PersistentProps> {
  let conn: ReturnType<typeof resolveConnection> | undefined;
  try {
    conn = resolveConnection(props.connection);
    trustRecordedHostKey(conn, recorded);
    const config = on ? { exclusive: exclusiveOf(props) } : null;
    const settled = await batcherFor(conn).submit({ kind: "persistence", config });
    if (!settled.result.ok) throw settled.result.error;
    const out = outputs(props, settled.outcome.after, settled.outcome.facts);
    for (const w of out.drift?.warnings ?? []) console.warn(`${PERSISTENT_TYPE} on ${describeConnection(conn)}: ${w}`);
    return out;
  } catch (e) {
    throw resourceError(PERSISTENT_TYPE, conn ? endpointIdentity(conn) : "?", conn, e);
  }
}

export const persistentProvider: dynamic.ResourceProvider<PersistentProps, PersistentProps> = {
  async check(_olds, news) {
    const failures = [...connectionFailures(news.connection), ...failuresOf(persistentArgs, argsOf(news, COMPUTED))];
    return failures.length > 0 ? { failures } : { inputs: news };
  },

  async diff(_id, olds, news) {
    // Another resource on the same node may be created in this run: hold it to the keys recorded here.
    seedRecordedHostKeys(olds);
    const replaces = hostIdentityChanged(olds.connection, news.connection) ? ["connection"] : [];
    const d = olds.drift;
    const drifted =
      d !== undefined && (d.staleFiles.length > 0 || !d.unitEnabled || (d.exclusive && d.unmanagedRules.length > 0));
    const changes =
      replaces.length > 0 ||
      drifted ||
      (news.exclusive ?? false) !== (olds.exclusive ?? false) ||
      connectionChanged(olds.connection, news.connection);
    return { changes, replaces, deleteBeforeReplace: true };
  },

  async create(inputs) {
    const outs = await apply(inputs, true);
    return { id: `persistence:${outs.host as string}`, outs };
  },

  async update(_id, olds, news) {
    return { outs: await apply(news, true, olds) };
  },

  async read(id, props) {
    if (!props) return {};
    const conn = resolveConnection(props.connection);
    try {
      trustRecordedHostKey(conn, props);
      const { state, facts } = await readShared(conn);
      const live = outputs(props, state, facts);
      // Persistence switched off by hand (the config file is gone): the resource is gone.
      return live.drift?.enabled ? { id, props: live } : {};
    } catch (e) {
      throw resourceError(PERSISTENT_TYPE, id, conn, e);
    }
  },

  async delete(_id, props) {
    await apply(props, false, props);
  },
};
