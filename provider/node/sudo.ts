// The privilege tools: recognising sudo's and doas's own refusals in a failed command's stderr (so they become
// SudoNeedsPassword / SudoDenied instead of a puzzling CommandFailed), and answering sudo's password prompt.
// Only stderr made solely of the tool's messages counts: a command that echoes "sudo: a password is required" from
// its input (say, in a rule comment) must stay a CommandFailed.
import { PassThrough } from "node:stream";
import { type Connection, privilegeOf } from "../model/connection";
import { BECOME_OK, SUDO_PROMPT } from "./commands";
import { type NodeError, nodeError } from "./errors";
import type { RunningCommand } from "./running-command";

/** How long sudo may take to prompt and accept the password (PAM's delay after a wrong one is about 2 s). */
export const SUDO_ANSWER_TIMEOUT_MS = 30_000;

export type SudoFailure = { readonly kind: "password-required" } | { readonly kind: "denied"; readonly reason: string };

// Messages sudo prints before it runs anything; checked against sudo 1.9 (Debian 12) wording.
const PASSWORD_REQUIRED = /^sudo: (a password is required|a terminal is required to read the password\b.*)$/;
const TTY_REQUIRED = /^sudo: sorry, you must have a tty to run sudo$/;
const NOT_ALLOWED = /^Sorry, user \S+ is not allowed to execute .* as \S+ on \S+\.$/;
const NOT_IN_SUDOERS = /^(sudo: )?\S+ is not in the sudoers file\..*$/;
const ACCOUNT_EXPIRED = /^sudo: (account validation failure|your account has expired)/;
// Harmless warnings that may precede the real message.
const WARNING = /^sudo: unable to resolve host .*$/;
// What the login shell says when the tool is not installed (dash, bash).
const missing = (tool: string) =>
  new RegExp(`^(sh: \\d+: ${tool}: not found|(ba)?sh: (line \\d+: )?${tool}: command not found)$`);
// opendoas 6.8 (Debian 12): `doas -n` without a nopass rule, no matching rule, no /etc/doas.conf.
const DOAS_AUTH = /^doas: Authentication required$/;
const DOAS_DENIED = /^doas: Operation not permitted$/;
const DOAS_DISABLED = /^doas: doas is not enabled, \/etc\/doas\.conf: .*$/;

function onlyLine(stderr: string): string | undefined {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !WARNING.test(l));
  return lines.length === 1 ? lines[0] : undefined;
}

export function classifySudoFailure(code: number | null, stderr: string): SudoFailure | undefined {
  const line = onlyLine(stderr);
  if (line === undefined) return undefined;
  if (code === 127 && missing("sudo").test(line))
    return { kind: "denied", reason: "sudo is not installed on the node" };
  if (code !== 1) return undefined;
  if (PASSWORD_REQUIRED.test(line)) return { kind: "password-required" };
  if (TTY_REQUIRED.test(line)) return { kind: "denied", reason: "sudoers requires a tty (Defaults requiretty)" };
  if (NOT_ALLOWED.test(line)) return { kind: "denied", reason: `not allowed by sudoers: ${line}` };
  if (NOT_IN_SUDOERS.test(line)) return { kind: "denied", reason: "the user is not in the sudoers file" };
  if (ACCOUNT_EXPIRED.test(line)) return { kind: "denied", reason: line.replace(/^sudo: /, "") };
  return undefined;
}

export function classifyDoasFailure(code: number | null, stderr: string): SudoFailure | undefined {
  const line = onlyLine(stderr);
  if (line === undefined) return undefined;
  if (code === 127 && missing("doas").test(line))
    return { kind: "denied", reason: "doas is not installed on the node" };
  if (code !== 1) return undefined;
  if (DOAS_AUTH.test(line)) return { kind: "password-required" };
  if (DOAS_DENIED.test(line))
    return { kind: "denied", reason: "no rule in /etc/doas.conf permits it (Operation not permitted)" };
  if (DOAS_DISABLED.test(line)) return { kind: "denied", reason: line.replace(/^doas: /, "") };
  return undefined;
}

/** The NodeError for a command that failed because of the privilege tool itself, or undefined (any other failure). */
export function privilegeRefusal(
  conn: Connection,
  code: number | null,
  stderr: string,
  host: string,
): NodeError<"SudoNeedsPassword" | "SudoDenied"> | undefined {
  const { tool } = privilegeOf(conn);
  if (tool === "none") return undefined;
  const failure = tool === "doas" ? classifyDoasFailure(code, stderr) : classifySudoFailure(code, stderr);
  const user = conn.user;
  if (failure?.kind === "password-required") return nodeError({ kind: "SudoNeedsPassword", host, user, tool });
  if (failure?.kind === "denied") return nodeError({ kind: "SudoDenied", host, user, reason: failure.reason, tool });
  return undefined;
}

/**
 * For `sudo -S` (see commandLine): sends the password when sudo prompts for it (once: a second prompt means it was
 * wrong, and sudo gets EOF instead), and resolves once the wrapper says sudo let it run, with a stderr that starts
 * after that line. If sudo ends it first, nothing ran: rejects with SudoDenied or SudoNeedsPassword.
 */
export function answerSudoPrompt(
  run: RunningCommand,
  password: string,
  conn: Connection,
  timeoutMs = SUDO_ANSWER_TIMEOUT_MS,
): Promise<RunningCommand> {
  const host = run.host;
  const user = conn.user;
  return new Promise((resolve, reject) => {
    let seen = Buffer.alloc(0);
    let searched = 0;
    let prompts = 0;
    let done = false;
    // A sudo that neither prompts nor runs (a PAM module waiting on something) must not hold the caller forever.
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      run.kill();
      reject(
        nodeError({ kind: "Timeout", host, operation: "waiting for sudo to accept the password", afterMs: timeoutMs }),
      );
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      for (let at = seen.indexOf(SUDO_PROMPT, searched); at >= 0; at = seen.indexOf(SUDO_PROMPT, searched)) {
        searched = at + SUDO_PROMPT.length;
        if (++prompts === 1) run.stdin.write(`${password}\n`);
        else run.stdin.end();
      }
      const ok = seen.indexOf(`${BECOME_OK}\n`, searched);
      if (ok < 0 || done) return;
      done = true;
      clearTimeout(timer);
      run.stderr.off("data", onData);
      const stderr = new PassThrough();
      stderr.write(seen.subarray(ok + BECOME_OK.length + 1));
      run.stderr.pipe(stderr);
      resolve({ ...run, stderr, kill: run.kill });
    };
    run.stderr.on("data", onData);
    // sudo gave up before running anything: nobody will read stdout, and the channel only closes once it is read.
    run.stderr.once("end", () => {
      if (!done) run.stdout.resume();
    });
    void run.end.then((end) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      run.stderr.off("data", onData);
      // sudo's own words, without its prompts: never the password (sudo does not echo it).
      const said = seen.toString("utf8").split(SUDO_PROMPT).join("\n");
      const code = end.kind === "exited" ? end.code : null;
      if (prompts > 1 || /incorrect password attempt/.test(said)) {
        const reason = "it did not accept the password in connection.sudoPassword (nothing was run)";
        return reject(nodeError({ kind: "SudoDenied", host, user, reason, tool: "sudo" }));
      }
      const refusal = privilegeRefusal(conn, code, said, host);
      if (refusal) return reject(refusal);
      const reason = `sudo ended before running the command (${end.kind === "lost" ? end.reason : `exit ${code}`}): ${said.trim().slice(0, 500)}`;
      reject(nodeError({ kind: "SudoDenied", host, user, reason, tool: "sudo" }));
    });
  });
}
