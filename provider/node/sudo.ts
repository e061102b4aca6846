// Recognising sudo's own refusals in a failed command's stderr, so they become SudoNeedsPassword / SudoDenied
// instead of a puzzling CommandFailed. Only stderr made solely of sudo's messages counts: a command that echoes
// "sudo: a password is required" from its input (say, in a rule comment) must stay a CommandFailed.

import { type NodeError, nodeError } from "./errors";

export type SudoFailure = { readonly kind: "password-required" } | { readonly kind: "denied"; readonly reason: string };

// Messages sudo prints before it runs anything; checked against sudo 1.9 (Debian 12) wording.
const PASSWORD_REQUIRED = /^sudo: (a password is required|a terminal is required to read the password\b.*)$/;
const TTY_REQUIRED = /^sudo: sorry, you must have a tty to run sudo$/;
const NOT_ALLOWED = /^Sorry, user \S+ is not allowed to execute .* as \S+ on \S+\.$/;
const NOT_IN_SUDOERS = /^(sudo: )?\S+ is not in the sudoers file\..*$/;
const ACCOUNT_EXPIRED = /^sudo: (account validation failure|your account has expired)/;
// Harmless warnings that may precede the real message.
const WARNING = /^sudo: unable to resolve host .*$/;
// What the login shell says when sudo is not installed (dash, bash).
const SUDO_MISSING = /^(sh: \d+: sudo: not found|(ba)?sh: (line \d+: )?sudo: command not found)$/;

export function classifySudoFailure(code: number | null, stderr: string): SudoFailure | undefined {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !WARNING.test(l));
  if (lines.length !== 1) return undefined;
  const line = lines[0] as string;
  if (code === 127 && SUDO_MISSING.test(line)) return { kind: "denied", reason: "sudo is not installed on the node" };
  if (code !== 1) return undefined;
  if (PASSWORD_REQUIRED.test(line)) return { kind: "password-required" };
  if (TTY_REQUIRED.test(line)) return { kind: "denied", reason: "sudoers requires a tty (Defaults requiretty)" };
  if (NOT_ALLOWED.test(line)) return { kind: "denied", reason: `not allowed by sudoers: ${line}` };
  if (NOT_IN_SUDOERS.test(line)) return { kind: "denied", reason: "the user is not in the sudoers file" };
  if (ACCOUNT_EXPIRED.test(line)) return { kind: "denied", reason: line.replace(/^sudo: /, "") };
  return undefined;
}

/** The NodeError for a command that failed through sudo because of sudo itself, or undefined (any other failure). */
export function sudoRefusal(
  code: number | null,
  stderr: string,
  host: string,
  user: string,
): NodeError<"SudoNeedsPassword" | "SudoDenied"> | undefined {
  const sudo = classifySudoFailure(code, stderr);
  if (sudo?.kind === "password-required") return nodeError({ kind: "SudoNeedsPassword", host, user });
  if (sudo?.kind === "denied") return nodeError({ kind: "SudoDenied", host, user, reason: sudo.reason });
  return undefined;
}
