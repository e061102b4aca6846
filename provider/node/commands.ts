// Remote command lines are constants written in this code base; user data never enters one, it travels on stdin.
// A RemoteCommand can only come from `defineCommands`, which accepts string literal types only and checks that
// `sudo -n <command>` covers the whole line.

import type { Privilege } from "../model/connection";
import { NODE_LOCK } from "../protocol/lock-script";

declare const remoteCommand: unique symbol;
/** A command line from a fixed set defined in code. */
export type RemoteCommand = string & { readonly [remoteCommand]: true };

/**
 * Each value must be a plain string literal: `string`, or a template with a `${…}` hole (`ipset list ${name}`), is
 * a compile-time error. (A hole makes `Record<S, 1>` an index signature that the empty object satisfies.)
 */
type LiteralsOnly<T> = {
  [K in keyof T]: T[K] extends string ? (Record<never, never> extends Record<T[K], 1> ? never : T[K]) : never;
};

const defined = new Set<string>();
/** The catalogue name of each multi-line command, for error messages (a script is too long to quote). */
const names = new Map<string, string>();

/**
 * Registers constant command lines. A line must be one simple command (no `|`, `;`, `&`, redirection or
 * substitution outside single quotes): with `sudo: true` it is sent as `sudo -n <line>`, and shell syntax would
 * leave part of it unprivileged. Wrap scripts as `sh -c '…'`.
 */
export function defineCommands<const T extends Record<string, string>>(
  commands: T & LiteralsOnly<T>,
): { readonly [K in keyof T]: RemoteCommand } {
  for (const [name, line] of Object.entries(commands)) {
    const problem = simpleCommandProblem(line);
    if (problem) throw new Error(`command ${name}: ${problem}`);
    defined.add(line);
    names.set(line, name);
  }
  return Object.freeze({ ...commands }) as unknown as { readonly [K in keyof T]: RemoteCommand };
}

export function isDefinedCommand(line: string): line is RemoteCommand {
  return defined.has(line);
}

/** Why `line` is not a single simple command, or undefined when it is. Pure. */
export function simpleCommandProblem(line: string): string | undefined {
  if (line.trim() !== line || line.length === 0) return "must be non-empty without surrounding spaces";
  if (/^(sudo|doas)\b/.test(line)) return "must not start with sudo or doas (the connection's `sudo`/`become` adds it)";
  let quoted = false;
  for (const ch of line) {
    if (ch === "'") quoted = !quoted;
    else if (!quoted && /[|;&<>`$\n\\"(){}]/.test(ch)) return `shell syntax ${JSON.stringify(ch)} outside '…'`;
  }
  return quoted ? "unbalanced single quote" : undefined;
}

/** A command as errors name it: a one-line command as is, a script by its catalogue name. */
export function describeCommand(line: string): string {
  if (!line.includes("\n") && line.length <= 120) return line;
  return `the ${names.get(line) ?? "remote"} script (${line.split("\n", 1)[0]?.slice(0, 40)}…)`;
}

/** sudo's prompt (-p) when it reads a password on stdin (-S): seeing it is the cue to send the password. */
export const SUDO_PROMPT = "pdf-sudo-password-prompt:";
/** Printed on stderr by the wrapper once sudo has let it run: the command's own stdin and output start after it. */
export const BECOME_OK = "pdf-become-ok-3c9e1f";

/** The exact line sent over SSH (`true` = sudo without a password). The password itself never enters it. */
export function commandLine(command: RemoteCommand, privilege: boolean | Privilege): string {
  const p: Privilege = typeof privilege !== "boolean" ? privilege : privilege ? { tool: "sudo" } : { tool: "none" };
  if (p.tool === "none") return command;
  if (p.tool === "doas") return `doas -n ${command}`;
  if (p.password === undefined) return `sudo -n ${command}`;
  // sudo reads its password from stdin a byte at a time up to the newline, so the rest of stdin is the command's.
  return `sudo -S -p '${SUDO_PROMPT}' sh -c 'echo ${BECOME_OK} >&2 && exec "$@"' sh ${command}`;
}

// ---- recording ---------------------------------------------------------------------------------------------------

export interface SentCommand {
  /** describeConnection() of the node. */
  readonly host: string;
  /** The exact command line, including any sudo prefix. */
  readonly line: string;
}

const recorders = new Set<(sent: SentCommand) => void>();

/** Calls `hook` with every command line sent from now on, until the returned function is called: as its request
 * goes out, or for one opened ahead (ssh-pool.ts StartOptions.ahead) when it is given its input, the moment it can
 * take effect. One opened ahead and let go unused ran nothing and is not announced (pool.start still refuses any
 * line not made by defineCommands). */
export function onCommandSent(hook: (sent: SentCommand) => void): () => void {
  recorders.add(hook);
  return () => recorders.delete(hook);
}

/** Collects the command lines sent while it is active: tests use it to prove no user data reaches a command line. */
export function recordCommands(): { readonly sent: readonly SentCommand[]; stop(): void } {
  const sent: SentCommand[] = [];
  const stop = onCommandSent((s) => sent.push(s));
  return { sent, stop };
}

export function notifyCommandSent(sent: SentCommand): void {
  for (const r of recorders) r(sent);
}

// ---- the catalogue -------------------------------------------------------------------------------------------------

/** Every command line this provider sends to a node. Later layers add theirs here, so one place can be audited. */
export const Commands = defineCommands({
  /** The node-wide lock (see node/lock.ts and protocol/lock-script.ts). */
  nodeLock: `sh -c '${NODE_LOCK}'`,
});
