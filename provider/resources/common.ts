// What every dynamic provider here shares: input validation into CheckFailures, resolving the connection
// (stack-config credentials, defaults), and error wording that names the resource and host, never a secret.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { z } from "zod";
import { canonicalJson } from "../model/canonical-json";
import {
  type Connection,
  type ConnectionArgs,
  ConnectionInputSchema,
  describeConnection,
  parseConnection,
  redactSecrets,
} from "../model/connection";
import { containsUnknown, isUnknown } from "../model/unknown";
import { type FieldFailure, fieldFailures } from "../model/validation";
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

export function resolveConnection(conn: unknown): Connection {
  if (containsUnknown(conn))
    throw new Error("the connection is not known yet (it depends on another resource's output)");
  return parseConnection(withStackCredentials(conn as ConnectionArgs));
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

/** An error for the engine: "<Type> <name> on <host>: <cause>", with any credential of the connection redacted. */
export function resourceError(type: string, name: string, conn: Connection | undefined, cause: unknown): Error {
  const raw = cause instanceof Error ? cause.message : String(cause);
  const where = conn ? ` on ${describeConnection(conn)}` : "";
  // Transaction errors already start with the host; say it once.
  const message =
    conn && raw.startsWith(`${describeConnection(conn)}: `) ? raw.slice(describeConnection(conn).length + 2) : raw;
  const text = `${type} ${JSON.stringify(name)}${where}: ${message}`;
  return new Error(conn ? redactSecrets(text, conn) : text);
}

/** Identity of the node a resource lives on: changing it means a new resource on another host. */
export function hostIdentityChanged(oldConn: unknown, newConn: unknown): boolean {
  const o = oldConn as { host?: unknown; port?: unknown } | undefined;
  const n = newConn as { host?: unknown; port?: unknown } | undefined;
  if (isUnknown(newConn) || isUnknown(n?.host) || isUnknown(n?.port)) return true;
  return o?.host !== n?.host || (o?.port ?? 22) !== (n?.port ?? 22);
}

/** Any connection change other than the host (credentials, user, sudo, bastion): an update, never a replace. */
export function connectionChanged(oldConn: unknown, newConn: unknown): boolean {
  return canonicalJson(oldConn) !== canonicalJson(newConn);
}

/**
 * Trust on first use across runs: without a pinned `hostKey`, the key a resource's state recorded (seen first by an
 * earlier run) is what the node must still present; another key is refused as a possible man-in-the-middle.
 */
export function trustRecordedHostKey(conn: Connection, state: Record<string, unknown> | undefined): void {
  const recorded = state?.hostKey;
  if (conn.hostKey !== undefined || typeof recorded !== "string" || !recorded.startsWith("SHA256:")) return;
  const seen = observedHostKey(conn);
  if (seen === undefined) trustHostKey(conn, recorded);
  else if (seen !== recorded) {
    throw nodeError({
      kind: "HostKeyMismatch",
      host: describeConnection(conn),
      expected: recorded,
      seen,
      source: "first-use",
    });
  }
}
