// Module state shared by every resource in the provider process (the serialized providers all `require` this
// package by name, so they share one copy): one batcher per host, and one in-flight state read per host.
import { createHash } from "node:crypto";
import { canonicalJson } from "../model/canonical-json";
import { type Connection, endpointIdentity, endpointOf } from "../model/connection";
import { containsUnknown } from "../model/unknown";
import type { HostState, NodeFacts } from "../netfilter/host-state";
import { HostBatcher } from "../node/batch";
import { hostKeyKnown } from "../node/host-key";
import { describeOwner } from "../node/lock";
import { type HostSession, sshSession } from "../node/session";
import { readHostState } from "../node/transaction";
import { resolveConnection, trustRecordedHostKey } from "./common";

const batchers = new Map<string, HostBatcher>();
const warned = new Set<string>();

/** Host-level warnings (e.g. unfiltered IPv6) are printed once per host and provider process. */
export function warnOnce(conn: Connection, warnings: readonly string[]): void {
  for (const w of warnings) {
    const key = `${endpointIdentity(conn)} ${w}`;
    if (warned.has(key)) continue;
    warned.add(key);
    console.warn(`docker-firewall: ${nameOf(conn)}: ${w}`);
  }
}
const reads = new Map<string, Promise<{ state: HostState; facts: NodeFacts }>>();

// How a connection becomes a session: SSH, or in unit tests an in-memory host (test/support/fake-host).
let openSession: (conn: Connection) => HostSession = (conn) => sshSession(conn);

/** Runs every later operation on the session `open` gives (unit tests); the returned function puts SSH back. */
export function useSessions(open: (conn: Connection) => HostSession): () => void {
  const forget = () => {
    batchers.clear();
    reads.clear();
    factReads.check.clear();
    factReads.diff.clear();
    incarnations.clear();
  };
  forget();
  openSession = open;
  return () => {
    forget();
    openSession = (conn) => sshSession(conn);
  };
}

/** One batcher per host and way in: a different user, host key pin or credential gets its own session. */
function keyOf(conn: Connection): string {
  const digest = createHash("sha256").update(canonicalJson(conn)).digest("hex").slice(0, 16);
  return `${conn.user}@${endpointIdentity(conn)}${conn.sudo ? " sudo" : ""} ${digest}`;
}

/** How a host is named in warnings: never with the digest (it is derived from credentials). */
const nameOf = (conn: Connection) => `${conn.user}@${endpointIdentity(conn)}`;

export function batcherFor(conn: Connection): HostBatcher {
  const key = keyOf(conn);
  let b = batchers.get(key);
  if (!b) {
    b = new HostBatcher(openSession(conn), describeOwner(process.env.PULUMI_NODEJS_PROJECT));
    batchers.set(key, b);
  }
  return b;
}

/** A read of the host now, not shared with reads already in flight. */
export const readNow = (conn: Connection) => readHostState(openSession(conn));

/** Concurrent reads of one host (a `pulumi refresh` reads every resource at once) share one snapshot; one that lists
 * the containers (for rules that follow one) is its own snapshot, so other reads never pay for it. */
export function readShared(
  conn: Connection,
  opts: { containers?: boolean } = {},
): Promise<{ state: HostState; facts: NodeFacts }> {
  const key = `${keyOf(conn)}${opts.containers ? " containers" : ""}`;
  const inFlight = reads.get(key);
  if (inFlight) return inFlight;
  // Shared while in flight only: a read asked for after this one ended must see the host as it is now (a snapshot
  // kept for a while longer made a refresh right after a repair report the state from before it).
  const p = readHostState(openSession(conn), opts).finally(() => reads.delete(key));
  reads.set(key, p);
  return p;
}

// The incarnation (random per create) of each rule id this process created, by host: a later delete of the same
// id with another incarnation is the old half of a replacement that kept the id (rule-provider.ts `delete`).
const incarnations = new Map<string, string>();
const incarnationKey = (conn: unknown, id: string) => {
  const e = endpointOf(conn);
  return `${String(e?.host)}:${String(e?.port)} ${id}`;
};

export function noteIncarnation(conn: unknown, id: string, generation: string): void {
  incarnations.set(incarnationKey(conn, id), generation);
}

export function incarnationOf(conn: unknown, id: string): string | undefined {
  return incarnations.get(incarnationKey(conn, id));
}

// The facts of each host (families, backend, accept mark), read at most once per process for diffs, and apart from
// them for checks: Diff calls come one resource at a time, so an unreachable host costs one dial sequence per run,
// not one per rule (undefined: the read failed). Two caches, so a check's read (the first thing a run does) never
// stands in for the read a diff makes to see what changed on the host since the resource was applied.
const factReads = {
  check: new Map<string, Promise<NodeFacts | undefined>>(),
  diff: new Map<string, Promise<NodeFacts | undefined>>(),
};

function factsOnce(conn: Connection, use: keyof typeof factReads): Promise<NodeFacts | undefined> {
  const key = keyOf(conn);
  let p = factReads[use].get(key);
  if (!p) {
    p = readShared(conn).then(
      (r) => r.facts,
      () => undefined,
    );
    factReads[use].set(key, p);
  }
  return p;
}

/**
 * The facts of the host a resource's connection names, for check or diff: undefined while the connection is
 * unknown, when the host cannot be read (the operation that must connect reports why), or, for check, while the
 * host's key is neither pinned nor known.
 */
export async function factsFor(
  use: keyof typeof factReads,
  connection: unknown,
  recorded: Record<string, unknown> | undefined,
): Promise<NodeFacts | undefined> {
  if (containsUnknown(connection)) return undefined;
  try {
    const conn = resolveConnection(connection);
    trustRecordedHostKey(conn, recorded);
    // A check may run before the diffs that seed the keys recorded in state: its read must never be the first use
    // that decides which key the host has (the create after it would be held to that key).
    if (use === "check" && !hostKeyKnown(conn)) return undefined;
    return await factsOnce(conn, use);
  } catch {
    return undefined;
  }
}
