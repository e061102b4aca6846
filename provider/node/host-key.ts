// Host key verification. A key pinned in `hostKey` (one or a list) or listed for the host in `knownHosts` must
// match, and a key `@revoked` there is refused; with neither, the first key seen for an endpoint (node or bastion) is remembered, once its handshake completed, for the life of the process (trust on first use) and any
// later change is refused. The resource layer
// can read the remembered fingerprint (to keep it in state) and seed it back on the next run with `trustHostKey`.
import { createHash, timingSafeEqual } from "node:crypto";
import { type Endpoint, endpointIdentity } from "../model/connection";
import { type ExpectedHostKey, fingerprintOfBlob, keyTypeOfBlob, parseExpectedHostKey } from "../model/host-key-text";
import { knownKeysFor, lookupName, parseKnownHosts } from "../model/known-hosts";

export type HostKeySource = "pinned" | "known-hosts" | "first-use";

export type HostKeyVerdict =
  | { readonly ok: true; readonly fingerprint: string; readonly firstUse: boolean }
  | {
      readonly ok: false;
      readonly expected: string;
      readonly seen: string;
      readonly source: HostKeySource;
      /** Why, when it is more than "another key" (a revoked key, a host known only through a CA). */
      readonly note?: string;
    };

/** What the connection says the host's key must be: the accepted keys, refused keys, and why when none can pass. */
export interface Expectation {
  readonly keys: readonly ExpectedHostKey[];
  readonly source: "pinned" | "known-hosts";
  readonly revoked: readonly { readonly key: ExpectedHostKey; readonly line: number }[];
  /** Set when no key can be accepted: the reason, for the error. */
  readonly none?: string;
}

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

const expectedText = (keys: readonly ExpectedHostKey[]) =>
  keys.length === 1 ? (keys[0] as ExpectedHostKey).fingerprint : `one of ${keys.map((k) => k.fingerprint).join(", ")}`;

/** Pure decision: an expectation wins over `remembered`; with neither, the key is accepted as a first use. */
export function judgeHostKey(
  blob: Buffer,
  pinned: ExpectedHostKey | Expectation | undefined,
  remembered: ExpectedHostKey | undefined,
): HostKeyVerdict {
  const seen = describeKeyBlob(blob);
  const expectation: Expectation | undefined =
    pinned === undefined || "keys" in pinned ? pinned : { keys: [pinned], source: "pinned", revoked: [] };
  if (expectation) {
    const revoked = expectation.revoked.find((r) => digestsEqual(r.key.digest, seen.digest));
    const refuse = (note?: string): HostKeyVerdict => ({
      ok: false,
      expected: expectation.keys.length > 0 ? expectedText(expectation.keys) : "none",
      seen: seen.fingerprint,
      source: expectation.source,
      ...(note && { note }),
    });
    if (revoked) return refuse(`the key is marked @revoked in connection.knownHosts (line ${revoked.line})`);
    if (expectation.keys.some((k) => digestsEqual(k.digest, seen.digest)))
      return { ok: true, fingerprint: seen.fingerprint, firstUse: false };
    return refuse(expectation.none);
  }
  if (remembered === undefined) return { ok: true, fingerprint: seen.fingerprint, firstUse: true };
  if (digestsEqual(remembered.digest, seen.digest)) return { ok: true, fingerprint: seen.fingerprint, firstUse: false };
  return { ok: false, expected: remembered.fingerprint, seen: seen.fingerprint, source: "first-use" };
}

// In-process memory of first-seen keys, by endpoint identity ("host:port[ via bastion:port]").
const firstSeen = new Map<string, ExpectedHostKey>();

// ssh2 1.17 has no OpenSSH certificate algorithms (no "*-cert-v01@openssh.com" in its lib/protocol/constants.js):
// a server only ever presents its plain key, so a certificate authority cannot vouch for it here.
const CA_UNSUPPORTED =
  "it is trusted there only through @cert-authority (line LINES), and host certificates cannot be checked: the SSH " +
  "library (ssh2) negotiates no OpenSSH certificate algorithm, so the server presents its plain key. Add the host's " +
  "own key (a plain known_hosts line, or hostKey)";

/** The connection's expectation for the host's key, or undefined (trust on first use). Fails closed on bad text. */
export function expectationOf(conn: Endpoint): Expectation | undefined {
  const keys: ExpectedHostKey[] = [];
  for (const text of conn.hostKey === undefined ? [] : [conn.hostKey].flat()) {
    const parsed = parseExpectedHostKey(text);
    // The schema already rejected malformed keys; failing closed here keeps a bypass impossible.
    if ("error" in parsed) throw new Error(`hostKey: ${parsed.error}`);
    keys.push(parsed);
  }
  if (conn.knownHosts === undefined) return keys.length > 0 ? { keys, source: "pinned", revoked: [] } : undefined;
  const parsed = parseKnownHosts(conn.knownHosts);
  if ("error" in parsed) throw new Error(`knownHosts: ${parsed.error}`);
  const known = knownKeysFor(parsed.entries, conn.host, conn.port);
  keys.push(...known.accepted.map((e) => e.key));
  const revoked = known.revoked.map((e) => ({ key: e.key, line: e.line }));
  const lookup = lookupName(conn.host, conn.port);
  const none =
    keys.length > 0
      ? undefined
      : known.authorities.length > 0
        ? `connection.knownHosts has no key for ${lookup}: ${CA_UNSUPPORTED.replace("LINES", known.authorities.map((e) => e.line).join(", "))}`
        : `connection.knownHosts has no line for ${lookup}`;
  return { keys, source: conn.hostKey === undefined ? "known-hosts" : "pinned", revoked, ...(none && { none }) };
}

/**
 * Judges the key a server presented for `conn` during key exchange. It does not remember it: a key is only
 * trusted for later connections once the handshake has completed (the server proved it holds the key and we
 * authenticated): see `rememberHostKey`.
 */
export function verifyHostKey(conn: Endpoint, blob: Buffer): HostKeyVerdict {
  return judgeHostKey(blob, expectationOf(conn), firstSeen.get(endpointIdentity(conn)));
}

/**
 * After a completed handshake: remembers the key on first use. Judged again, since a key recorded by another
 * resource (seeded from state) or another connection's first use may have arrived during the handshake.
 */
export function rememberHostKey(conn: Endpoint, blob: Buffer): HostKeyVerdict {
  const id = endpointIdentity(conn);
  const expectation = expectationOf(conn);
  const verdict = judgeHostKey(blob, expectation, firstSeen.get(id));
  // Under an expectation (several keys: a rotation) the key seen last is the one to report; else the first stays.
  if (verdict.ok && (expectation || !firstSeen.has(id))) firstSeen.set(id, describeKeyBlob(blob));
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

/**
 * Whether a connection to `conn` can only reach the expected server: its key (and every bastion's) is pinned, listed
 * in known_hosts or already remembered. A read that is not itself allowed to be a first use asks this first.
 */
export function hostKeyKnown(e: Endpoint): boolean {
  const known = expectationOf(e) !== undefined || firstSeen.has(endpointIdentity(e));
  return known && (!("proxy" in e) || !e.proxy || hostKeyKnown(e.proxy));
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
  const expected = expectationOf(conn)?.keys ?? [];
  const types = expected.length > 0 ? expected.map((k) => k.keyType) : [firstSeen.get(endpointIdentity(conn))?.keyType];
  const first = types
    .flatMap((t) => (t === undefined ? [] : (ALGORITHMS_FOR_KEY_TYPE[t] ?? [t])))
    .filter((a, i, all) => supported.includes(a) && all.indexOf(a) === i);
  return [...first, ...supported.filter((a) => !first.includes(a))];
}
