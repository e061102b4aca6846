// The one dynamic-provider skeleton every resource shares: check (connection + preview schema), diff (host identity,
// credentials), create/update/delete through the host's batcher, read from a shared snapshot. Each operation resolves
// the connection inside the same error context, so every error names the resource, its host and the field at fault.
// A resource supplies only what differs (resources/definitions of rule, ipset, persistence).
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { z } from "zod";
import { type Connection, endpointOf } from "../model/connection";
import type { HostState, NodeFacts } from "../netfilter/host-state";
import type { HostBatcher } from "../node/batch";
import {
  argsOf,
  connectionChanged,
  connectionFailures,
  failuresOf,
  hostIdentityChanged,
  hostOutputs,
  resolveConnection,
  resourceError,
  seedRecordedHostKeys,
  trustRecordedHostKey,
} from "./common";
import { batcherFor, factsFor, readShared, warnOnce } from "./hosts";
import { isUnknownOutcome, partiallyCreated } from "./partial";

/** What the host's batcher applies for one resource (the core's intent type, whoever owns it). */
export type Intent = Parameters<HostBatcher["submit"]>[0];

/** Every resource's state: its connection (secret), the host it lives on and what the host said. */
export interface BaseProps extends Record<string, unknown> {
  connection: unknown;
  host?: string;
  hostKey?: string;
  bastionHostKey?: string;
  /** Problems the host showed at the last apply or read (unfiltered IPv6, another tool restoring rules…). */
  warnings?: string[];
}

/** Outputs every resource records: see `hostOutputs`. */
export const BASE_COMPUTED = ["host", "hostKey", "bastionHostKey", "warnings"] as const;

export interface Diffed {
  readonly changes: boolean;
  readonly replaces: readonly string[];
  readonly deleteBeforeReplace?: boolean;
}

export interface ResourceDefinition<Spec, P extends BaseProps> {
  /** The resource type, as errors name it ("DockerUserRule"). */
  readonly type: string;
  /** What `check` validates: unknown (preview) values allowed, known ones checked. */
  readonly previewSchema: z.ZodType;
  /** The arguments once every value is known: what the core is typed with. */
  readonly schema: z.ZodType<Spec>;
  /** Output fields of this resource (beyond BASE_COMPUTED): never arguments. */
  readonly computed: readonly string[];
  /** How an error names the resource. */
  label(props: P, id?: string): string;
  /** The props of an existing resource with its id filled in (delete and read get the id separately). */
  withId(props: P, id: string): P;
  /** check: failures beyond the schema's, and the inputs completed (derived ids, rendered lines). */
  extraFailures?(news: P): dynamic.CheckFailure[];
  complete?(olds: P, news: P): P;
  /**
   * check, once the inputs are valid: what the host's firewall backend changes. On an nftables host a rule's
   * preview lines become nft rules, and what nftables cannot carry fails here, naming the field, instead of at up.
   * `reads`: whether this check reads the host (once per host and process; skipped when it cannot be read).
   */
  readonly forHost?: {
    reads(olds: P): boolean;
    fit(inputs: P, facts: NodeFacts): P | { failures: dynamic.CheckFailure[] };
  };
  /** diff beyond the connection: what changed and what forces a replacement. */
  compare(olds: P, news: P): Promise<Diffed>;
  /** The host's intent: `spec` null removes the resource. */
  intent(props: P, spec: Spec | null): Intent;
  /** Resource outputs from a host snapshot (after an apply or at read). */
  outputs(props: P, state: HostState, facts: NodeFacts): Partial<P>;
  /** read: the shared read must list the host's containers too (a rule that follows one). */
  readsContainers?(props: P): boolean;
  /** read: undefined when the resource is gone from the host (the next up recreates it); throws when unknowable. */
  live(id: string, props: P, state: HostState, facts: NodeFacts): Partial<P> | undefined;
  /** create: the id, work done before the apply (nothing is sent yet), and the props a lost outcome records. */
  readonly create: {
    id(inputs: P, outs: P): string;
    prepare?(inputs: P, conn: Connection): Promise<Partial<P>>;
    /** Absent: a create whose outcome is unknown is a plain error (the resource is not recorded). */
    partial?(inputs: P, prepared: Partial<P>): P;
  };
  /** Outputs an update carries over from the old state. */
  readonly kept?: readonly string[];
  /** delete: true when this delete must leave the host alone. */
  skipDelete?(id: string, props: P): boolean;
}

/** A check failure for what the host's Docker nftables backend cannot carry (see `forHost`). */
export function refusedByNftables(connection: unknown, field: string, reason: string) {
  const e = endpointOf(connection);
  return {
    failures: [{ property: field, reason: `${reason} (Docker on ${e?.host}:${e?.port} runs its nftables backend)` }],
  };
}

/**
 * Runs `work` with the resolved connection; any failure, resolving the connection included, becomes an error naming
 * the resource and its host. `sent`: the work may have reached the host, so an unknown outcome is marked as such.
 */
export async function inContext<T>(
  type: string,
  label: string,
  rawConnection: unknown,
  work: (conn: Connection) => Promise<T>,
  sent = false,
): Promise<T> {
  let conn: Connection | undefined;
  try {
    conn = resolveConnection(rawConnection);
    return await work(conn);
  } catch (e) {
    const err = resourceError(type, label, conn ?? rawConnection, e);
    throw sent && conn && isUnknownOutcome(e) ? Object.assign(err, { outcomeUnknown: true }) : err;
  }
}

export function makeProvider<Spec, P extends BaseProps>(
  def: ResourceDefinition<Spec, P>,
): dynamic.ResourceProvider<P, P> {
  const computed = [...BASE_COMPUTED, ...def.computed];
  const specOf = (props: P): Spec => def.schema.parse(argsOf(props, computed));

  async function apply(props: P, spec: Spec | null, recorded?: P, label = def.label(props)): Promise<P> {
    return inContext(
      def.type,
      label,
      props.connection,
      async (conn) => {
        trustRecordedHostKey(conn, recorded);
        const settled = await batcherFor(conn).submit(def.intent(props, spec));
        if (!settled.result.ok) throw settled.result.error;
        const { after, facts } = settled.outcome;
        const outs = { ...props, ...hostOutputs(conn, facts), ...def.outputs(props, after, facts) };
        warnOnce(conn, outs.warnings ?? []);
        return outs;
      },
      true,
    );
  }

  return {
    async check(olds, news) {
      const failures = [
        ...connectionFailures(news.connection),
        ...failuresOf(def.previewSchema, argsOf(news, computed)),
        ...(def.extraFailures?.(news) ?? []),
      ];
      if (failures.length > 0) return { failures };
      const inputs = def.complete ? def.complete(olds, news) : news;
      const facts = def.forHost?.reads(olds) ? await factsFor("check", inputs.connection, olds) : undefined;
      if (!def.forHost || !facts) return { inputs };
      const fitted = def.forHost.fit(inputs, facts);
      return "failures" in fitted && Array.isArray(fitted.failures)
        ? { failures: fitted.failures }
        : { inputs: fitted as P };
    },

    async diff(_id, olds, news) {
      // Another resource on the same host may be created in this run: hold it to the keys recorded here.
      seedRecordedHostKeys(olds);
      const own = await def.compare(olds, news);
      const replaces = [
        ...(hostIdentityChanged(olds.connection, news.connection) ? ["connection"] : []),
        ...own.replaces,
      ];
      const changes = replaces.length > 0 || own.changes || connectionChanged(olds.connection, news.connection);
      return { changes, replaces, deleteBeforeReplace: own.deleteBeforeReplace ?? false };
    },

    async create(inputs) {
      const label = def.label(inputs);
      const prepare = def.create.prepare;
      const prepared: Partial<P> = prepare
        ? await inContext(def.type, label, inputs.connection, (conn) => prepare(inputs, conn))
        : {};
      const props = { ...inputs, ...prepared };
      try {
        const outs = await apply(props, specOf(inputs), undefined, label);
        return { id: def.create.id(inputs, outs), outs };
      } catch (e) {
        // The payload may have reached the host: have the engine keep the resource, so the next up or refresh
        // reconciles it instead of leaving it live and unowned.
        if (def.create.partial && (e as { outcomeUnknown?: boolean }).outcomeUnknown)
          throw partiallyCreated(e as Error, def.create.id(inputs, props), def.create.partial(inputs, prepared));
        throw e;
      }
    },

    async update(_id, olds, news) {
      const outs = await apply(news, specOf(news), olds);
      const kept = Object.fromEntries((def.kept ?? []).filter((k) => olds[k] !== undefined).map((k) => [k, olds[k]]));
      return { outs: { ...outs, ...kept } };
    },

    async read(id, props) {
      if (!props) return {};
      const current = def.withId(props, id);
      return inContext(def.type, def.label(current, id), props.connection, async (conn) => {
        trustRecordedHostKey(conn, props);
        const { state, facts } = await readShared(conn, { containers: def.readsContainers?.(current) ?? false });
        const live = def.live(id, current, state, facts);
        return live ? { id, props: { ...current, ...hostOutputs(conn, facts), ...live } } : {};
      });
    },

    async delete(id, props) {
      if (def.skipDelete?.(id, props)) return;
      const current = def.withId(props, id);
      await apply(current, null, props, def.label(current, id));
    },
  };
}
