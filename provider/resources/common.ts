// What every dynamic provider here shares: input validation into CheckFailures, resolving the connection
// (stack-config credentials, defaults), host keys kept in state, and error wording that names the resource and
// host, never a secret.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { z } from "zod";
import { canonicalJson } from "../model/canonical-json";
import {
  type Connection,
  type ConnectionArgs,
  ConnectionInputSchema,
  describeConnection,
  type Endpoint,
  endpointOf,
  isValidHost,
  parseConnection,
  redactSecrets,
} from "../model/connection";
import { containsUnknown, isUnknown } from "../model/unknown";
import { type FieldFailure, fieldFailures } from "../model/validation";
import type { NodeFacts } from "../netfilter/host-state";
import { nodeError } from "../node/errors";
import { observedHostKey, trustHostKey } from "../node/host-key";
import { withStackCredentials } from "./provider-config";

export function failuresOf<S extends z.ZodType>(schema: S, input: unknown, prefix = ""): FieldFailure[] {
  const r = schema.safeParse(input);
  if (r.success) return [];
  return fieldFailures(r.error, input).map((f) => ({
    property: prefix ? (f.property === "(arguments)" ? prefix : `${prefix}.${f.property}`) : f.property,
    reason: f.reason,
  }));
}

export function connectionFailures(conn: unknown): dynamic.CheckFailure[] {
  if (conn === undefined)
    return [{ property: "connection", reason: "is required (host, user, and how to authenticate)" }];
  // The connection schema's messages already start with the field name.
  return failuresOf(ConnectionInputSchema, conn, "connection").map((f) => ({
    property: f.property,
    reason: f.reason.replace(/^[a-zA-Z]+: /, ""),
  }));
}

/** The connection with stack credentials and defaults; an error naming each bad field (never a secret's value). */
export function resolveConnection(conn: unknown): Connection {
  if (containsUnknown(conn))
    throw new Error("the connection is not known yet (it depends on another resource's output)");
  const filled = conn === undefined ? conn : withStackCredentials(conn as ConnectionArgs);
  const failures = connectionFailures(filled);
  if (failures.length > 0) throw new Error(failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
  return parseConnection(filled as ConnectionArgs);
}

/** What every resource records about its host after an apply or a read: its name, the keys seen, its warnings. */
export function hostOutputs(
  conn: Connection,
  facts: NodeFacts,
): { host: string; hostKey?: string; bastionHostKey?: string; warnings: string[] } {
  return { host: describeConnection(conn), ...recordedHostKeys(conn), warnings: [...facts.warnings] };
}

/** Strips the dynamic-provider bookkeeping and our own computed fields from a property bag. */
export function argsOf(props: Record<string, unknown>, computed: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) {
    if (k === "__provider" || k === "connection" || computed.includes(k) || v === undefined) continue;
    out[k] = v;
  }
  return out;
}

/** A resolved connection, or the raw one of a resource whose connection did not resolve. */
const isConnection = (c: unknown): c is Connection =>
  typeof c === "object" && c !== null && typeof (c as Connection).port === "number" && "sudo" in c;

/** The host a raw connection names, when it names a valid one (for errors about a connection that did not parse). */
function hostOfRaw(raw: unknown): string | undefined {
  const host = (raw as { host?: unknown } | undefined)?.host;
  return typeof host === "string" && !isUnknown(host) && isValidHost(host) ? host : undefined;
}

/**
 * An error for the engine: "<Type> <name> on <host>: <cause>", with any credential of the connection redacted.
 * `conn` is the resolved connection, or the raw one when resolving it failed (then the host is named if valid).
 */
export function resourceError(type: string, name: string, conn: unknown, cause: unknown): Error {
  const raw = cause instanceof Error ? cause.message : String(cause);
  const resolved = isConnection(conn) ? conn : undefined;
  const host = resolved ? describeConnection(resolved) : hostOfRaw(conn);
  const where = host ? ` on ${host}` : "";
  // Transaction errors already start with the host; say it once.
  const message = host && raw.startsWith(`${host}: `) ? raw.slice(host.length + 2) : raw;
  const text = `${type} ${JSON.stringify(name)}${where}: ${message}`;
  // A raw connection is redacted as far as its credential fields are strings.
  return new Error(conn && typeof conn === "object" ? redactSecrets(text, conn as Connection) : text);
}

/** Identity of the host a resource lives on: changing it means a new resource on another host. */
export function hostIdentityChanged(oldConn: unknown, newConn: unknown): boolean {
  const [o, n] = [endpointOf(oldConn), endpointOf(newConn)];
  return n === undefined || o?.host !== n.host || o?.port !== n.port;
}

/** Any connection change other than the host (credentials, user, sudo, bastion): an update, never a replace. */
export function connectionChanged(oldConn: unknown, newConn: unknown): boolean {
  return canonicalJson(oldConn) !== canonicalJson(newConn);
}

/** The host keys this process has accepted for `conn`'s host and bastion, as a resource records them in state. */
export function recordedHostKeys(conn: Connection): { hostKey?: string; bastionHostKey?: string } {
  const hostKey = observedHostKey(conn);
  const bastionHostKey = conn.proxy ? observedHostKey(conn.proxy) : undefined;
  return { ...(hostKey && { hostKey }), ...(bastionHostKey && { bastionHostKey }) };
}

function seed(endpoint: Endpoint, recorded: unknown): void {
  const pinned = endpoint.hostKey !== undefined || endpoint.knownHosts !== undefined;
  if (pinned || typeof recorded !== "string" || !recorded.startsWith("SHA256:")) return;
  const seen = observedHostKey(endpoint);
  if (seen === undefined) trustHostKey(endpoint, recorded);
  else if (seen !== recorded) {
    throw nodeError({
      kind: "HostKeyMismatch",
      host: describeConnection(endpoint),
      expected: recorded,
      seen,
      source: "first-use",
    });
  }
}

/**
 * Trust on first use across runs: without a pinned key, the keys a resource's state recorded for its host and its
 * bastion (seen first by an earlier run) are what they must still present; another key is refused as a possible
 * man-in-the-middle. The keys are remembered per endpoint, so every operation of any resource on that endpoint (a
 * create included) is held to them. The state's own connection says which endpoints they belong to.
 */
export function trustRecordedHostKey(conn: Connection, state: Record<string, unknown> | undefined): void {
  if (!state) return;
  let recordedFor = conn;
  try {
    if (state.connection !== undefined) recordedFor = resolveConnection(state.connection);
  } catch {
    // A connection that no longer parses: its keys cannot be attributed to an endpoint.
    return;
  }
  seed(recordedFor, state.hostKey);
  if (recordedFor.proxy) seed(recordedFor.proxy, state.bastionHostKey);
}

/** For diff: seeds what a resource's state recorded (no connection is made); a conflict surfaces at apply. */
export function seedRecordedHostKeys(state: Record<string, unknown> | undefined): void {
  try {
    if (state?.connection !== undefined) trustRecordedHostKey(resolveConnection(state.connection), state);
  } catch {
    // The operation that connects refuses a conflicting key with the full message.
  }
}
