// `connection.knownHosts`: the text of an OpenSSH known_hosts file (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"), parsed
// strictly (a line is blank, a comment, or `[@marker] patterns keytype base64 [comment]`; anything else is an error
// naming its line) and matched against a host the way ssh does: "host", or "[host]:port" on another port than 22.
import { createHmac, timingSafeEqual } from "node:crypto";
import { type ExpectedHostKey, parseKeyBlob } from "./host-key-text";

export type KnownHostsMarker = "cert-authority" | "revoked";

type Names =
  | { readonly kind: "patterns"; readonly list: readonly string[] }
  | { readonly kind: "hashed"; readonly salt: Buffer; readonly hash: Buffer };

export interface KnownHostsEntry {
  /** 1-based line number in the text, for messages. */
  readonly line: number;
  readonly marker?: KnownHostsMarker;
  readonly names: Names;
  readonly key: ExpectedHostKey;
}

const MAX_BYTES = 1024 * 1024;
const MAX_LINE = 16 * 1024;
// Anything but tab among the C0 controls, DEL and the Unicode line separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f\u2028\u2029\u0085]/;
const PATTERN = /^!?(\[[A-Za-z0-9_.:*?-]+\]:[0-9*?]{1,5}|[A-Za-z0-9_.:*?-]+)$/;
const HASHED = /^\|1\|([A-Za-z0-9+/]{27}=)\|([A-Za-z0-9+/]{27}=)$/;

function parseNames(field: string): Names | string {
  const hashed = HASHED.exec(field);
  if (hashed)
    return {
      kind: "hashed",
      salt: Buffer.from(hashed[1] as string, "base64"),
      hash: Buffer.from(hashed[2] as string, "base64"),
    };
  if (field.startsWith("|")) return "a hashed host name must be |1|<salt>|<hash> (20-byte base64 each)";
  const list = field.split(",");
  for (const p of list) {
    if (!PATTERN.test(p))
      return `host pattern ${JSON.stringify(p.slice(0, 60))} is not a host name, address or [host]:port (with * and ? wildcards)`;
  }
  if (list.every((p) => p.startsWith("!"))) return "a line of only negated host patterns matches no host";
  return { kind: "patterns", list };
}

/** Every entry of `text`, or the first problem as "line N: reason". */
export function parseKnownHosts(
  text: string,
): { readonly entries: readonly KnownHostsEntry[] } | { readonly error: string } {
  if (Buffer.byteLength(text) > MAX_BYTES) return { error: `longer than ${MAX_BYTES} bytes` };
  const entries: KnownHostsEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).replace(/\r$/, "");
    const at = `line ${i + 1}`;
    if (raw.length > MAX_LINE) return { error: `${at}: longer than ${MAX_LINE} characters` };
    if (CONTROL.test(raw)) return { error: `${at}: contains a control character` };
    const s = raw.trim();
    if (s.length === 0 || s.startsWith("#")) continue;
    const fields = s.split(/[ \t]+/);
    let marker: KnownHostsMarker | undefined;
    if (fields[0]?.startsWith("@")) {
      const m = fields.shift() as string;
      if (m !== "@cert-authority" && m !== "@revoked")
        return { error: `${at}: unknown marker ${JSON.stringify(m.slice(0, 40))} (only @cert-authority and @revoked)` };
      marker = m.slice(1) as KnownHostsMarker;
    }
    const [namesField, keyType, b64] = fields;
    if (namesField === undefined || keyType === undefined || b64 === undefined) {
      return { error: `${at}: expected "[@marker] <host patterns> <key type> <base64 key> [comment]"` };
    }
    const names = parseNames(namesField);
    if (typeof names === "string") return { error: `${at}: ${names}` };
    const key = parseKeyBlob(keyType, b64);
    if ("error" in key) return { error: `${at}: ${key.error}` };
    entries.push({ line: i + 1, ...(marker && { marker }), names, key });
  }
  return { entries };
}

/** The name ssh looks a host up by: "host" on port 22, "[host]:port" otherwise. */
export function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i").test(name);
}

/** OpenSSH's rule: a negated pattern that matches excludes the host; otherwise any positive match includes it. */
export function namesMatch(names: Names, lookup: string): boolean {
  if (names.kind === "hashed") {
    const h = createHmac("sha1", names.salt).update(lookup).digest();
    return h.length === names.hash.length && timingSafeEqual(h, names.hash);
  }
  let matched = false;
  for (const p of names.list) {
    if (p.startsWith("!")) {
      if (globMatch(p.slice(1), lookup)) return false;
    } else if (globMatch(p, lookup)) matched = true;
  }
  return matched;
}

/** What a known_hosts text says about one host: its keys, revoked keys, and authorities trusted for it. */
export interface KnownHostKeys {
  readonly accepted: readonly KnownHostsEntry[];
  readonly revoked: readonly KnownHostsEntry[];
  readonly authorities: readonly KnownHostsEntry[];
}

export function knownKeysFor(entries: readonly KnownHostsEntry[], host: string, port: number): KnownHostKeys {
  const lookup = lookupName(host, port);
  const mine = entries.filter((e) => namesMatch(e.names, lookup));
  return {
    accepted: mine.filter((e) => e.marker === undefined),
    revoked: mine.filter((e) => e.marker === "revoked"),
    authorities: mine.filter((e) => e.marker === "cert-authority"),
  };
}
