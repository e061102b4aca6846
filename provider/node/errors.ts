// The ways reaching a node can fail, as values. Each is an Error (Pulumi shows `message`) carrying a `kind` and its
// context. Recognised by a brand, not `instanceof`: a dynamic provider may load two copies of this module.

const BRAND = "pulumi-docker-firewall/node-error" as const;
const STDERR_SHOWN = 2000;

/** Each variant names the node as `host` = describeConnection(conn): "user@host:port (via bastion …)". */
export type NodeErrorDetail =
  /** Never connected: the command did not run. */
  | { readonly kind: "Unreachable"; readonly host: string; readonly attempts: number; readonly reason: string }
  | { readonly kind: "AuthFailed"; readonly host: string; readonly reason: string }
  | {
      readonly kind: "HostKeyMismatch";
      readonly host: string;
      readonly expected: string;
      readonly seen: string;
      /** Where the expectation came from: `connection.hostKey`, `connection.knownHosts`, or the key seen first. */
      readonly source: "pinned" | "known-hosts" | "first-use";
      /** Why, when it is more than "another key" (a revoked key, a host known only through a CA). */
      readonly note?: string;
      /** The argument that names this hop: "connection" (default), or a bastion's "connection.proxy.1". */
      readonly field?: string;
    }
  | {
      readonly kind: "SudoNeedsPassword";
      readonly host: string;
      readonly user: string;
      readonly tool?: "sudo" | "doas";
    }
  | {
      readonly kind: "SudoDenied";
      readonly host: string;
      readonly user: string;
      readonly reason: string;
      readonly tool?: "sudo" | "doas";
    }
  | {
      readonly kind: "CommandFailed";
      readonly host: string;
      readonly command: string;
      readonly code: number | null;
      readonly signal?: string;
      readonly stderr: string;
    }
  /** The command may or may not have taken effect. */
  | { readonly kind: "Timeout"; readonly host: string; readonly operation: string; readonly afterMs: number }
  /** The connection dropped mid-operation: the command may or may not have taken effect. */
  | { readonly kind: "ConnectionLost"; readonly host: string; readonly operation: string; readonly reason: string }
  | { readonly kind: "LockTimeout"; readonly host: string; readonly holder: string; readonly waitedSeconds: number };

export type NodeErrorKind = NodeErrorDetail["kind"];
export type NodeError<K extends NodeErrorKind = NodeErrorKind> = Error &
  Extract<NodeErrorDetail, { kind: K }> & { readonly brand: typeof BRAND };

function clip(text: string, max: number): string {
  const t = text.trim();
  return t.length > max ? `${t.slice(0, max)}… (${t.length - max} more characters)` : t;
}

const HOST_KEY_SOURCE = {
  pinned: (field: string) => `pinned in ${field}.hostKey`,
  "known-hosts": (field: string) => `listed for this host in ${field}.knownHosts`,
  "first-use": () => "the key this host presented first",
} as const;

/** The human sentence for each kind. Pure, so it is tested directly. */
export function formatNodeError(d: NodeErrorDetail): string {
  switch (d.kind) {
    case "Unreachable":
      return `cannot reach ${d.host}: after ${d.attempts} failed attempt${d.attempts === 1 ? "" : "s"}: ${d.reason}`;
    case "AuthFailed":
      return `authentication failed for ${d.host}: ${d.reason}`;
    case "HostKeyMismatch": {
      const field = d.field ?? "connection";
      return (
        `HOST KEY MISMATCH for ${d.host}: expected ${d.expected} (${HOST_KEY_SOURCE[d.source](field)}) ` +
        `but the server presented ${d.seen}${d.note ? `; ${d.note}` : ""}. Someone may be intercepting the ` +
        "connection (man-in-the-middle), or the host was reinstalled. Refusing to connect. If the change is " +
        `legitimate, verify the new key out of band and set ${field}.hostKey to "${d.seen}".`
      );
    }
    case "SudoNeedsPassword":
      if (d.tool === "doas") {
        return (
          `doas on ${d.host} asks user ${d.user} for a password, but doas reads one from a terminal only: give ` +
          `${d.user} a rule without a password, e.g. "permit nopass ${d.user} as root cmd /bin/sh" in /etc/doas.conf, ` +
          "or use sudo with connection.sudoPassword."
        );
      }
      return (
        `sudo on ${d.host} asks user ${d.user} for a password, but commands run non-interactively (sudo -n): ` +
        "set connection.sudoPassword (a secret), or " +
        `grant ${d.user} passwordless sudo for /bin/sh (the provider runs \`sudo -n sh -c '<constant script>'\`, ` +
        `which is as powerful as root), e.g. "${d.user} ALL=(root) NOPASSWD: /bin/sh" in /etc/sudoers.d, or connect as root.`
      );
    case "SudoDenied":
      return `${d.tool ?? "sudo"} on ${d.host} refused user ${d.user}: ${d.reason}`;
    case "CommandFailed": {
      const status = d.code !== null ? `exit ${d.code}` : `signal ${d.signal ?? "unknown"}`;
      const stderr = clip(d.stderr, STDERR_SHOWN);
      return `command failed on ${d.host} (${status}): ${d.command}${stderr ? `\n${stderr}` : ""}`;
    }
    case "Timeout":
      return `timed out after ${d.afterMs} ms on ${d.host} while ${d.operation}; it may or may not have taken effect`;
    case "ConnectionLost":
      return `connection to ${d.host} was lost while ${d.operation} (${d.reason}); it may or may not have taken effect`;
    case "LockTimeout":
      return (
        `the node lock on ${d.host} is held by ${d.holder}; gave up after ${d.waitedSeconds} s. Another pulumi run or ` +
        "tool is changing this node's firewall: retry when it has finished."
      );
  }
}

export function nodeError<D extends NodeErrorDetail>(detail: D, cause?: unknown): NodeError<D["kind"]> {
  const err = new Error(formatNodeError(detail), cause === undefined ? undefined : { cause });
  err.name = detail.kind;
  return Object.assign(err, detail, { brand: BRAND }) as unknown as NodeError<D["kind"]>;
}

/** True for errors made by `nodeError`, from any copy of this module; narrows on `kind` when given. */
export function isNodeError<K extends NodeErrorKind>(e: unknown, kind?: K): e is NodeError<K> {
  if (typeof e !== "object" || e === null || (e as { brand?: unknown }).brand !== BRAND) return false;
  return kind === undefined || (e as { kind?: unknown }).kind === kind;
}

/** Errors that retrying cannot fix (and that could lock an account if retried). */
export function isPermanent(e: unknown): boolean {
  return isNodeError(e, "AuthFailed") || isNodeError(e, "HostKeyMismatch");
}
