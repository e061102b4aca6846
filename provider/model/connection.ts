// How to reach a host over SSH. Mirrors @pulumi/command 1.2.1's `remote.ConnectionArgs` (checked
// by test/unit/connection-input.test.ts) plus `sudo`, so users can pass the same object to both; then what operators
// need beyond it: a sudo password or doas, several host keys or known_hosts text, a chain of bastions with a limit each.
// Defaults live here and nowhere else.
import { z } from "zod";
import { doc } from "./argument-doc";
import { bastionFields, endpointFields, isValidHost, targetFields } from "./connection-fields";
import { acceptUnknowns, isUnknown, orUnknown } from "./unknown";

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

type Privileged = { sudo?: unknown; become?: unknown; sudoPassword?: unknown };

/** `sudo: true` means `become: "sudo"`; a password only goes with sudo (doas reads one from a terminal only). */
function privilegePairing(c: Privileged, ctx: z.RefinementCtx): void {
  const add = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  if (c.sudo === true && c.become === "doas") add("become", 'become: "doas" conflicts with sudo: true (set one)');
  if (c.sudoPassword === undefined || isUnknown(c.sudoPassword)) return;
  if (c.become === "doas") {
    add("sudoPassword", "sudoPassword: doas reads a password from a terminal only; give the user a `nopass` rule");
  } else if (c.sudo === false && c.become === undefined) {
    add("sudoPassword", 'sudoPassword: set only with sudo: true (or become: "sudo")');
  }
}

/** A bastion (jump host): the same fields as a connection, without a nested proxy or privileges. */
export const ProxyConnectionSchema = z
  .strictObject({ ...endpointFields, ...bastionFields })
  .superRefine(credentialPairing);

export type ProxyConnection = z.output<typeof ProxyConnectionSchema>;
/** A bastion as a hop: reached through the bastion before it in the chain, if any. */
export type Hop = ProxyConnection & { readonly proxy?: Hop };

const MAX_BASTIONS = 8;

/** `proxy: [b1, b2]` (ssh's ProxyJump b1,b2) becomes b2 reached through b1: each hop names the one before it. */
function toChain(proxy: ProxyConnection | readonly ProxyConnection[]): Hop {
  const list = Array.isArray(proxy) ? proxy : [proxy as ProxyConnection];
  return list.reduce<Hop | undefined>((via, b) => (via ? { ...b, proxy: via } : b), undefined) as Hop;
}

const proxyDoc = doc({
  description:
    "A bastion to reach the host through (the same fields, plus `maxConnections`), or a list of them: a ProxyJump chain, first one dialled first, each with its own credentials and host key.",
});

/** A resolved connection: what node/ works with. Rejects unknown (preview) values. */
export const ConnectionSchema = z
  .strictObject({
    ...endpointFields,
    proxy: z
      .union(
        [
          ProxyConnectionSchema,
          z
            .array(ProxyConnectionSchema)
            .min(1, { error: "proxy: a list of bastions must not be empty" })
            .max(MAX_BASTIONS, { error: `proxy: at most ${MAX_BASTIONS} bastions` }),
        ],
        { error: "proxy: must be a bastion (an object) or a list of bastions" },
      )
      .transform(toChain)
      .optional()
      .meta(proxyDoc),
    ...targetFields,
  })
  .superRefine(credentialPairing)
  .superRefine(privilegePairing);

const proxyInput = orUnknown(
  z.strictObject(acceptUnknowns({ ...endpointFields, ...bastionFields })).superRefine(credentialPairing),
);

/**
 * What `check` validates: the same rules, but any field (or the whole proxy, or the whole connection) may be
 * Pulumi's preview sentinel. Known values are still validated, so mistakes surface at preview.
 */
export const ConnectionInputSchema = orUnknown(
  z
    .strictObject({
      ...acceptUnknowns(endpointFields),
      proxy: orUnknown(z.union([proxyInput, z.array(proxyInput).min(1).max(MAX_BASTIONS)])).optional(),
      ...acceptUnknowns(targetFields),
    })
    .superRefine(credentialPairing)
    .superRefine(privilegePairing),
);

export type Connection = z.output<typeof ConnectionSchema>;
/** What a user writes (defaults not yet applied). */
export type ConnectionArgs = z.input<typeof ConnectionSchema>;
export type ConnectionInput = z.output<typeof ConnectionInputSchema>;

/** How commands get root on the node: none, sudo (without or with a password) or doas. */
export type Privilege =
  | { readonly tool: "none" }
  | { readonly tool: "sudo"; readonly password?: string }
  | { readonly tool: "doas" };

export function privilegeOf(c: Pick<Connection, "sudo" | "become" | "sudoPassword">): Privilege {
  const tool = c.become ?? (c.sudo ? "sudo" : "none");
  if (tool === "sudo") return c.sudoPassword === undefined ? { tool } : { tool, password: c.sudoPassword };
  return { tool };
}

/** The bastions of a connection in dialling order (outermost first). */
export function bastionsOf(c: Endpoint): Hop[] {
  const out: Hop[] = [];
  for (let h = (c as { proxy?: Hop }).proxy; h; h = h.proxy) out.unshift(h);
  return out;
}

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

/** Either end of a hop: a host or one of its bastions. */
export type Endpoint = Connection | Hop;

/** Parses a known connection; throws a ZodError whose messages name the field (never a secret's value). */
export function parseConnection(args: ConnectionArgs): Connection {
  return ConnectionSchema.parse(args);
}

export { isValidHost };

// ---- describing without leaking --------------------------------------------------------------------------------

function hostPort(e: { host: string; port: number }): string {
  return `${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
}

/** "user@host:port (via bastion user@host:port)" (bastions in dialling order): for messages. Never a credential. */
export function describeConnection(c: Endpoint): string {
  const self = `${c.user}@${hostPort(c)}`;
  const via = bastionsOf(c).map((b) => `${b.user}@${hostPort(b)}`);
  return via.length === 0 ? self : `${self} (via bastion${via.length > 1 ? "s" : ""} ${via.join(", ")})`;
}

/** The network identity of a host as seen from this process: what a host key is remembered under. */
export function endpointIdentity(c: Endpoint): string {
  return [c, ...bastionsOf(c).reverse()].map(hostPort).join(" via ");
}

// Tolerates a raw connection that did not parse (an error about it is redacted too): only string fields count,
// and a raw proxy may still be a list.
function secretsOf(c: unknown): string[] {
  const out: string[] = [];
  const visit = (e: unknown, depth: number): void => {
    if (depth > 10 || e === null || typeof e !== "object") return;
    if (Array.isArray(e)) {
      for (const x of e) visit(x, depth + 1);
      return;
    }
    const r = e as Record<string, unknown>;
    for (const s of [r.password, r.privateKeyPassword, r.sudoPassword]) if (typeof s === "string") out.push(s);
    if (typeof r.privateKey === "string") {
      out.push(r.privateKey);
      // A fragment of a key is as bad as the key: also strip every substantial line of it.
      for (const line of r.privateKey.split(/\r?\n/)) if (line.trim().length >= 16) out.push(line.trim());
    }
    visit(r.proxy, depth + 1);
  };
  visit(c, 0);
  return out.sort((a, b) => b.length - a.length);
}

/** Replaces any credential of `c` found in `text` by "[redacted]": a last line of defence for foreign messages. */
export function redactSecrets(text: string, c: Endpoint): string {
  let out = text;
  for (const s of secretsOf(c)) if (s.length > 0) out = out.split(s).join("[redacted]");
  return out;
}
