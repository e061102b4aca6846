// How to reach a host over SSH. Mirrors @pulumi/command 1.2.1's `remote.ConnectionArgs` (checked
// by test/unit/connection-input.test.ts) plus `sudo`, so users can pass the same object to both. Defaults live here and nowhere else.
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { z } from "zod";
import { doc } from "./argument-doc";
import { acceptUnknowns, isUnknown, orUnknown } from "./unknown";

// C0 controls, DEL and Unicode line separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;
const SUN_PATH_MAX = 107; // sockaddr_un.sun_path is 108 bytes including the NUL

/** A DNS name or an IP address that cannot be read as an option or break a log line. */
export function isValidHost(host: string): boolean {
  if (host.length === 0 || host.length > 253 || CONTROL.test(host) || /\s/.test(host) || host.startsWith("-")) {
    return false;
  }
  if (isIP(host) !== 0) return true;
  const labels = (host.endsWith(".") ? host.slice(0, -1) : host).split(".");
  // An all-numeric last label would be read by the resolver as a short-hand IPv4 address ("10.1" = 10.0.0.1).
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? "")) return false;
  return labels.every((l) => HOST_LABEL.test(l));
}

// ---- expected host key ---------------------------------------------------------------------------------------

/** A pinned host key reduced to what is compared: the SHA-256 digest of the key blob. */
export interface ExpectedHostKey {
  /** "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"...; absent when only a fingerprint was given. */
  readonly keyType?: string;
  /** OpenSSH's display form, "SHA256:" + unpadded base64. */
  readonly fingerprint: string;
  readonly digest: Buffer;
}

const HOST_KEY_TYPES = new Set([
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

/**
 * Parses `hostKey`: an OpenSSH public key line ("ssh-ed25519 AAAA… [comment]", as in a host's
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
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return { error: "the key's base64 part is malformed" };
  const blob = Buffer.from(b64, "base64");
  if (keyTypeOfBlob(blob) !== keyType) return { error: `the key's base64 part is not a ${keyType} key` };
  return { keyType, fingerprint: fingerprintOfBlob(blob), digest: createHash("sha256").update(blob).digest() };
}

// ---- fields --------------------------------------------------------------------------------------------------

const nonEmpty = (field: string) =>
  z.string({ error: `${field}: must be a string` }).min(1, { error: `${field}: must not be empty` });

const endpointFields = {
  host: z
    .string({ error: "host: must be a string" })
    .refine(isValidHost, {
      error: "host: must be a hostname or an IP address (no spaces, control characters or leading '-')",
    })
    .meta(doc({ description: "DNS name or address of the Docker host." })),
  port: z
    .number({ error: "port: must be a number" })
    .int({ error: "port: must be an integer" })
    .min(1, { error: "port: must be between 1 and 65535" })
    .max(65535, { error: "port: must be between 1 and 65535" })
    .default(22)
    .meta(doc({ description: "SSH port." })),
  user: z
    .string({ error: "user: must be a string" })
    .regex(USER, {
      error: "user: must be 1-32 characters of letters, digits, '_', '.', '-', not starting with '.' or '-'",
    })
    .default("root")
    .meta(doc({ description: "Login user; with `sudo: true` a non-root user whose sudo needs no password." })),
  password: nonEmpty("password")
    .optional()
    .meta(doc({ description: "Password (also answers keyboard-interactive). Secret; prefer a key or the agent." })),
  privateKey: nonEmpty("privateKey")
    .refine((k) => /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|^PuTTY-User-Key-File-/m.test(k), {
      error: "privateKey: must be the key's contents (-----BEGIN … PRIVATE KEY-----), not a file path",
    })
    .optional()
    .meta(
      doc({
        description:
          "The key's contents (not a path). Secret. Better: stack config `docker-firewall:privateKey` or the ssh agent, which keep it out of resource state.",
      }),
    ),
  privateKeyPassword: nonEmpty("privateKeyPassword")
    .optional()
    .meta(doc({ description: "Passphrase of an encrypted `privateKey`. Secret." })),
  agentSocketPath: z
    .string({ error: "agentSocketPath: must be a string" })
    .refine((p) => p.startsWith("/") && !CONTROL.test(p) && Buffer.byteLength(p) <= SUN_PATH_MAX, {
      error: `agentSocketPath: must be an absolute path of at most ${SUN_PATH_MAX} bytes`,
    })
    .optional()
    .meta(
      doc({ description: "ssh-agent socket; default: `SSH_AUTH_SOCK` of the process running Pulumi (never stored)." }),
    ),
  hostKey: z
    .string({ error: "hostKey: must be a string" })
    .superRefine((k, ctx) => {
      const parsed = parseExpectedHostKey(k);
      if ("error" in parsed) ctx.addIssue({ code: "custom", message: `hostKey: ${parsed.error}` });
    })
    .optional()
    .meta(
      doc({
        description:
          'The host\'s key, `"ssh-ed25519 AAAA…"` or `"SHA256:…"`: a different key is refused. Unset: the first key seen is trusted.',
      }),
    ),
  dialErrorLimit: z
    .number({ error: "dialErrorLimit: must be a number" })
    .int({ error: "dialErrorLimit: must be an integer" })
    .min(-1, { error: "dialErrorLimit: must be -1 (unlimited) or at least 0" })
    .default(10)
    .meta(doc({ description: "Failed dial attempts tolerated before giving up; -1 = no limit." })),
  perDialTimeout: z
    .number({ error: "perDialTimeout: must be a number" })
    .int({ error: "perDialTimeout: must be a whole number of seconds" })
    .min(0, { error: "perDialTimeout: must be 0 (no limit) or more seconds" })
    .default(15)
    .meta(doc({ description: "Seconds for one dial (TCP, SSH handshake, authentication); 0 = no limit." })),
};

const sudoField = z
  .boolean({ error: "sudo: must be true or false" })
  .default(false)
  .meta(
    doc({
      description:
        "Run the firewall commands as `sudo -n sh -c '<constant script>'` (content goes on stdin, never on a command line).",
    }),
  );

type Credentials = { privateKey?: unknown; privateKeyPassword?: unknown };

function credentialPairing(c: Credentials, ctx: z.RefinementCtx): void {
  if (c.privateKeyPassword !== undefined && c.privateKey === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["privateKeyPassword"],
      message: "privateKeyPassword: set only with privateKey",
    });
  }
}

/** A bastion (jump host): the same fields as a connection, without a nested proxy. */
export const ProxyConnectionSchema = z.strictObject(endpointFields).superRefine(credentialPairing);

/** A resolved connection: what node/ works with. Rejects unknown (preview) values. */
export const ConnectionSchema = z
  .strictObject({
    ...endpointFields,
    proxy: ProxyConnectionSchema.optional().meta(
      doc({ description: "A bastion to reach the host through: the same fields, without a nested `proxy`." }),
    ),
    sudo: sudoField,
  })
  .superRefine(credentialPairing);

/**
 * What `check` validates: the same rules, but any field (or the whole proxy, or the whole connection) may be
 * Pulumi's preview sentinel. Known values are still validated, so mistakes surface at preview.
 */
export const ConnectionInputSchema = orUnknown(
  z
    .strictObject({
      ...acceptUnknowns(endpointFields),
      proxy: orUnknown(z.strictObject(acceptUnknowns(endpointFields)).superRefine(credentialPairing)).optional(),
      sudo: orUnknown(sudoField),
    })
    .superRefine(credentialPairing),
);

export type Connection = z.output<typeof ConnectionSchema>;
export type ProxyConnection = z.output<typeof ProxyConnectionSchema>;
/** What a user writes (defaults not yet applied). */
export type ConnectionArgs = z.input<typeof ConnectionSchema>;
export type ConnectionInput = z.output<typeof ConnectionInputSchema>;

/**
 * The host a raw connection (check or diff input, not parsed, maybe holding unknowns) points at, with the
 * schema's default port: what identifies a resource's host. Undefined while the host or port is unknown.
 */
export function endpointOf(raw: unknown): { host: unknown; port: unknown } | undefined {
  if (isUnknown(raw)) return undefined;
  const c = (raw ?? {}) as { host?: unknown; port?: unknown };
  if (isUnknown(c.host) || isUnknown(c.port)) return undefined;
  return { host: c.host, port: c.port ?? endpointFields.port.parse(undefined) };
}

/** Either end of a hop: a host or its bastion. */
export type Endpoint = Connection | ProxyConnection;

/** Parses a known connection; throws a ZodError whose messages name the field (never a secret's value). */
export function parseConnection(args: ConnectionArgs): Connection {
  return ConnectionSchema.parse(args);
}

// ---- describing without leaking --------------------------------------------------------------------------------

function hostPort(e: { host: string; port: number }): string {
  return `${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
}

/** "user@host:port (via bastion user@host:port)": for error messages and logs. Never includes a credential. */
export function describeConnection(c: Endpoint): string {
  const self = `${c.user}@${hostPort(c)}`;
  return "proxy" in c && c.proxy ? `${self} (via bastion ${c.proxy.user}@${hostPort(c.proxy)})` : self;
}

/** The network identity of a host as seen from this process: what a host key is remembered under. */
export function endpointIdentity(c: Endpoint): string {
  return "proxy" in c && c.proxy ? `${hostPort(c)} via ${hostPort(c.proxy)}` : hostPort(c);
}

// Tolerates a raw connection that did not parse (an error about it is redacted too): only string fields count.
function secretsOf(c: Endpoint): string[] {
  const out: string[] = [];
  const proxy: unknown = "proxy" in c ? c.proxy : undefined;
  const hops = [c, ...(proxy && typeof proxy === "object" ? [proxy as Endpoint] : [])];
  for (const e of hops) {
    for (const s of [e.password, e.privateKeyPassword]) if (typeof s === "string") out.push(s);
    if (typeof e.privateKey === "string") {
      out.push(e.privateKey);
      // A fragment of a key is as bad as the key: also strip every substantial line of it.
      for (const line of e.privateKey.split(/\r?\n/)) if (line.trim().length >= 16) out.push(line.trim());
    }
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Replaces any credential of `c` found in `text` by "[redacted]": a last line of defence for foreign messages. */
export function redactSecrets(text: string, c: Endpoint): string {
  let out = text;
  for (const s of secretsOf(c)) if (s.length > 0) out = out.split(s).join("[redacted]");
  return out;
}
