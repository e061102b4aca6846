// Host key verification. A pinned `hostKey` must match; without one the first key seen for an endpoint (node or
// bastion) is remembered, once its handshake completed, for the life of the process (trust on first use) and any
// later change is refused. The resource layer
// can read the remembered fingerprint (to keep it in state) and seed it back on the next run with `trustHostKey`.
import { createHash, timingSafeEqual } from "node:crypto";
import {
  type Endpoint,
  type ExpectedHostKey,
  endpointIdentity,
  fingerprintOfBlob,
  keyTypeOfBlob,
  parseExpectedHostKey,
} from "../model/connection";

export type HostKeyVerdict =
  | { readonly ok: true; readonly fingerprint: string; readonly firstUse: boolean }
  | { readonly ok: false; readonly expected: string; readonly seen: string; readonly source: "pinned" | "first-use" };

/** A presented key blob in the form expectations are kept in. */
export function describeKeyBlob(blob: Buffer): ExpectedHostKey {
  return {
    keyType: keyTypeOfBlob(blob),
    fingerprint: fingerprintOfBlob(blob),
    digest: createHash("sha256").update(blob).digest(),
  };
}

function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Pure decision: `pinned` wins over `remembered`; with neither, the key is accepted as a first use. */
export function judgeHostKey(
  blob: Buffer,
  pinned: ExpectedHostKey | undefined,
  remembered: ExpectedHostKey | undefined,
): HostKeyVerdict {
  const seen = describeKeyBlob(blob);
  const expected = pinned ?? remembered;
  if (expected === undefined) return { ok: true, fingerprint: seen.fingerprint, firstUse: true };
  if (digestsEqual(expected.digest, seen.digest)) return { ok: true, fingerprint: seen.fingerprint, firstUse: false };
  return {
    ok: false,
    expected: expected.fingerprint,
    seen: seen.fingerprint,
    source: pinned ? "pinned" : "first-use",
  };
}

// In-process memory of first-seen keys, by endpoint identity ("host:port[ via bastion:port]").
const firstSeen = new Map<string, ExpectedHostKey>();

function pinnedKey(conn: Endpoint): ExpectedHostKey | undefined {
  if (conn.hostKey === undefined) return undefined;
  const parsed = parseExpectedHostKey(conn.hostKey);
  // The schema already rejected malformed keys; failing closed here keeps a bypass impossible.
  if ("error" in parsed) throw new Error(`hostKey: ${parsed.error}`);
  return parsed;
}

/**
 * Judges the key a server presented for `conn` during key exchange. It does not remember it: a key is only
 * trusted for later connections once the handshake has completed (the server proved it holds the key and we
 * authenticated): see `rememberHostKey`.
 */
export function verifyHostKey(conn: Endpoint, blob: Buffer): HostKeyVerdict {
  return judgeHostKey(blob, pinnedKey(conn), firstSeen.get(endpointIdentity(conn)));
}

/**
 * After a completed handshake: remembers the key on first use. Judged again, since a key recorded by another
 * resource (seeded from state) or another connection's first use may have arrived during the handshake.
 */
export function rememberHostKey(conn: Endpoint, blob: Buffer): HostKeyVerdict {
  const id = endpointIdentity(conn);
  const verdict = judgeHostKey(blob, pinnedKey(conn), firstSeen.get(id));
  if (verdict.ok && !firstSeen.has(id)) firstSeen.set(id, describeKeyBlob(blob));
  return verdict;
}

/** The fingerprint ("SHA256:…") this process has seen for `conn`'s endpoint, if it connected. */
export function observedHostKey(conn: Endpoint): string | undefined {
  return firstSeen.get(endpointIdentity(conn))?.fingerprint;
}

/** Seeds the memory with a key known from an earlier run (state), so a change since then is refused. */
export function trustHostKey(conn: Endpoint, key: string): void {
  const parsed = parseExpectedHostKey(key);
  if ("error" in parsed) throw new Error(`cannot trust host key for ${endpointIdentity(conn)}: ${parsed.error}`);
  firstSeen.set(endpointIdentity(conn), parsed);
}

/** Forgets every remembered key (tests). */
export function forgetHostKeys(): void {
  firstSeen.clear();
}

const ALGORITHMS_FOR_KEY_TYPE: Record<string, readonly string[]> = {
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/**
 * Host key algorithms to offer, with the expected key's type first: a server holding several host keys then
 * presents the one we can check instead of a different, legitimate one that would look like a mismatch.
 */
export function hostKeyAlgorithmsFor(conn: Endpoint, supported: readonly string[]): string[] {
  const keyType = pinnedKey(conn)?.keyType ?? firstSeen.get(endpointIdentity(conn))?.keyType;
  if (keyType === undefined) return [...supported];
  const first = (ALGORITHMS_FOR_KEY_TYPE[keyType] ?? [keyType]).filter((a) => supported.includes(a));
  return [...first, ...supported.filter((a) => !first.includes(a))];
}
