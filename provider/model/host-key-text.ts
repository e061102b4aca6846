// Host keys as users write them: an OpenSSH public key line or a "SHA256:…" fingerprint, reduced to the digest that
// is compared. Shared by `connection.hostKey` and the known_hosts parser (known-hosts.ts).
import { createHash } from "node:crypto";

/** A pinned host key reduced to what is compared: the SHA-256 digest of the key blob. */
export interface ExpectedHostKey {
  /** "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"...; absent when only a fingerprint was given. */
  readonly keyType?: string;
  /** OpenSSH's display form, "SHA256:" + unpadded base64. */
  readonly fingerprint: string;
  readonly digest: Buffer;
}

/** Key types a host (or a certificate authority) may have. */
export const HOST_KEY_TYPES: ReadonlySet<string> = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "ssh-dss",
]);

/** OpenSSH's fingerprint of a public key blob (the base64 part of a key line, decoded). */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type recorded inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || blob.length < 4 + len) return undefined;
  return blob.subarray(4, 4 + len).toString("latin1");
}

/** The key type and base64 part of a public key, checked against each other; an error sentence otherwise. */
export function parseKeyBlob(keyType: string, b64: string): ExpectedHostKey | { readonly error: string } {
  if (!HOST_KEY_TYPES.has(keyType)) return { error: `unknown key type ${JSON.stringify(keyType.slice(0, 40))}` };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return { error: "the key's base64 part is malformed" };
  const blob = Buffer.from(b64, "base64");
  if (keyTypeOfBlob(blob) !== keyType) return { error: `the key's base64 part is not a ${keyType} key` };
  return { keyType, fingerprint: fingerprintOfBlob(blob), digest: createHash("sha256").update(blob).digest() };
}

/**
 * Parses a host key: an OpenSSH public key line ("ssh-ed25519 AAAA… [comment]", as in a host's
 * /etc/ssh/ssh_host_ed25519_key.pub) or a fingerprint "SHA256:…" (as printed by `ssh-keygen -lf`).
 */
export function parseExpectedHostKey(text: string): ExpectedHostKey | { readonly error: string } {
  const s = text.trim();
  if (s.startsWith("SHA256:")) {
    const b64 = s.slice("SHA256:".length);
    if (!/^[A-Za-z0-9+/]{43}=?$/.test(b64)) return { error: "a SHA256 fingerprint has 43 base64 characters" };
    const digest = Buffer.from(b64, "base64");
    if (digest.length !== 32) return { error: "a SHA256 fingerprint encodes 32 bytes" };
    return { fingerprint: `SHA256:${b64.replace(/=$/, "")}`, digest };
  }
  const [keyType, b64] = s.split(/\s+/);
  if (keyType === undefined || b64 === undefined || !HOST_KEY_TYPES.has(keyType)) {
    return { error: `expected "ssh-ed25519 AAAA…" (a public key line with a known key type) or "SHA256:…"` };
  }
  return parseKeyBlob(keyType, b64);
}
