// The connection's fields, each with its rule and its README prose (schemas in connection.ts assemble them).
import { isIP } from "node:net";
import { z } from "zod";
import { doc } from "./argument-doc";
import { parseExpectedHostKey } from "./host-key-text";
import { parseKnownHosts } from "./known-hosts";

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

// ---- fields --------------------------------------------------------------------------------------------------

const nonEmpty = (field: string) =>
  z.string({ error: `${field}: must be a string` }).min(1, { error: `${field}: must not be empty` });

export const endpointFields = {
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
    .union(
      [
        z.string({ error: "hostKey: must be a string" }),
        z
          .array(z.string({ error: "hostKey: each must be a string" }))
          .min(1, { error: "hostKey: a list must not be empty" })
          .max(32, { error: "hostKey: at most 32 keys" }),
      ],
      { error: "hostKey: must be a string or a list of strings" },
    )
    .superRefine((k, ctx) => {
      for (const [i, one] of (Array.isArray(k) ? k : [k]).entries()) {
        const parsed = parseExpectedHostKey(one);
        const at = Array.isArray(k) ? `hostKey[${i}]` : "hostKey";
        if ("error" in parsed) ctx.addIssue({ code: "custom", message: `${at}: ${parsed.error}` });
      }
    })
    .optional()
    .meta(
      doc({
        description:
          'The host\'s key, `"ssh-ed25519 AAAA…"` or `"SHA256:…"`, or a list of them (any one is accepted: key rotation): another key is refused. Unset (and no `knownHosts`): the first key seen is trusted.',
      }),
    ),
  knownHosts: z
    .string({ error: "knownHosts: must be a string" })
    .superRefine((t, ctx) => {
      const parsed = parseKnownHosts(t);
      if ("error" in parsed) ctx.addIssue({ code: "custom", message: `knownHosts: ${parsed.error}` });
    })
    .optional()
    .meta(
      doc({
        description:
          "The text of a known_hosts file (not a path): the keys on lines matching this host (`host`, `[host]:port`, hashed, wildcards) are accepted, `@revoked` keys refused. A host it does not list is refused.",
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
        "Run the firewall commands as `sudo -n sh -c '<constant script>'` (content goes on stdin, never on a command line). Same as `become: \"sudo\"`.",
    }),
  );

export const targetFields = {
  sudo: sudoField,
  become: z
    .enum(["sudo", "doas"], { error: 'become: must be "sudo" or "doas"' })
    .optional()
    .meta(
      doc({
        description: "The privilege tool: `sudo`, or `doas` (OpenBSD's, Debian's `opendoas`; needs a `nopass` rule).",
      }),
    ),
  sudoPassword: nonEmpty("sudoPassword")
    .refine((p) => !/[\r\n\0]/.test(p), { error: "sudoPassword: must be one line (no line break or NUL)" })
    .optional()
    .meta(
      doc({
        description:
          "The password sudo asks for. Secret: sent on the command's stdin after sudo's prompt (`sudo -S`), never on a command line or in a message.",
      }),
    ),
};

export const bastionFields = {
  maxConnections: z
    .number({ error: "maxConnections: must be a number" })
    .int({ error: "maxConnections: must be an integer" })
    .min(1, { error: "maxConnections: must be at least 1" })
    .optional()
    .meta(
      doc({
        description:
          "Bastion only: at most this many hosts reached through it at once (its tunnels), shared by every host behind it.",
      }),
    ),
};
