// Privileges as operators have them, against real sudo and opendoas inside the test sshd's mount namespace: sudo
// that asks for a password (`sudoPassword`, fed on stdin after sudo's prompt) and doas; each refusal's error text.
import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { defineCommands, recordCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec } from "../../provider/node/exec";
import { withNodeLock } from "../../provider/node/lock";
import type { SshPool } from "../../provider/node/ssh-pool";
import { answerSudoPrompt } from "../../provider/node/sudo";
import { connectionFailures, resolveConnection } from "../../provider/resources/common";
import { storeStackConfig } from "../../provider/resources/provider-config";
import {
  DOAS_USER,
  SUDO_NOPASSWD_USER,
  SUDO_PASSWORD,
  SUDO_PASSWORD_USER,
  type TestSshd,
  useSshdPerFile,
} from "../support/sshd";

const T = defineCommands({ uid: "id -u", cat: "cat", ran: "sh -c 'echo ran >&2; exit 3'" });
const LOCK = "pulumi-docker-firewall-test-become";

let sshd: TestSshd;
let pool: SshPool;
useSshdPerFile(
  {
    sshd: (s) => {
      sshd = s;
    },
    pool: (p) => {
      pool = p;
    },
  },
  { doasConf: `permit nopass ${DOAS_USER} as root\npermit ${SUDO_PASSWORD_USER} as root\n` },
);

const fail = (p: Promise<unknown>) =>
  p.then(
    () => new Error("expected a failure"),
    (e: unknown) => e as Error,
  );
const host = (user: string) => `${user}@127.0.0.1:${sshd.port}`;

/** Every process's command line on this machine (the namespace's processes are visible from here). */
async function allCommandLines(): Promise<string> {
  let out = "";
  for (const pid of await readdir("/proc")) {
    if (/^\d+$/.test(pid)) out += `${await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")}\n`;
  }
  return out;
}

describe("sudo with a password", () => {
  const conn = () => sshd.connection({ user: SUDO_PASSWORD_USER, sudo: true, sudoPassword: SUDO_PASSWORD });

  it("runs as root, the command's stdin and stderr intact, the password on no command line", async () => {
    const rec = recordCommands();
    expect((await exec(conn(), T.uid, undefined, { pool })).stdout).toBe("0\n");
    const data = "line one\nline two with sudo: a password is required\n";
    expect(await exec(conn(), T.cat, data, { pool })).toEqual({ code: 0, stdout: data, stderr: "" });
    expect(await exec(conn(), T.ran, undefined, { pool })).toEqual({ code: 3, stdout: "", stderr: "ran\n" });
    rec.stop();
    expect(rec.sent.map((s) => s.line)).toContain(
      `sudo -S -p 'pdf-sudo-password-prompt:' sh -c 'echo pdf-become-ok-3c9e1f >&2 && exec "$@"' sh id -u`,
    );
    // While a command runs, no process on the machine has the password in its command line.
    const running = await pool.start(conn(), T.cat);
    expect((await allCommandLines()).includes(SUDO_PASSWORD)).toBe(false);
    running.stdout.resume();
    running.stdin.end();
    await running.end;
    for (const s of rec.sent) expect(s.line).not.toContain(SUDO_PASSWORD);
  });

  it("takes the node lock through it (the lock's own stdin protocol)", async () => {
    expect(await withNodeLock(conn(), "become test", async () => "held", { name: LOCK, pool })).toBe("held");
  });

  it("a wrong password: SudoDenied naming the field, nothing run", async () => {
    const wrong = sshd.connection({ user: SUDO_PASSWORD_USER, sudo: true, sudoPassword: `${SUDO_PASSWORD}x` });
    const e = await fail(exec(wrong, T.ran, undefined, { pool }));
    expect(isNodeError(e, "SudoDenied") && e.message).toBe(
      `sudo on ${host(SUDO_PASSWORD_USER)} refused user ${SUDO_PASSWORD_USER}: it did not accept the password in ` +
        "connection.sudoPassword (nothing was run)",
    );
    expect(`${e.message}${e.stack}${JSON.stringify(e)}`).not.toContain(SUDO_PASSWORD);
  });

  it("without a password: SudoNeedsPassword says to set sudoPassword", async () => {
    const e = await fail(exec(sshd.connection({ user: SUDO_PASSWORD_USER, sudo: true }), T.uid, undefined, { pool }));
    expect(isNodeError(e, "SudoNeedsPassword") && e.message).toMatch(/set connection\.sudoPassword \(a secret\)/);
  });

  it("a sudo that never answers is given up on with a Timeout (the command is killed)", async () => {
    // `cat` without sudo never prints the marker: the same as a sudo stuck before running anything.
    const run = await pool.start(sshd.connection({ user: SUDO_PASSWORD_USER }), T.cat);
    run.stdout.resume();
    const e = await fail(answerSudoPrompt(run, SUDO_PASSWORD, conn(), 200));
    expect(isNodeError(e, "Timeout") && e.message).toBe(
      `timed out after 200 ms on ${host(SUDO_PASSWORD_USER)} while waiting for sudo to accept the password; it may ` +
        "or may not have taken effect",
    );
    expect((await run.end).kind).not.toBe("exited");
  });

  it("a password for a NOPASSWD user is never sent: the command's stdin is its own", async () => {
    const c = sshd.connection({ user: SUDO_NOPASSWD_USER, sudo: true, sudoPassword: SUDO_PASSWORD });
    expect(await exec(c, T.cat, "data\n", { pool })).toEqual({ code: 0, stdout: "data\n", stderr: "" });
  });
});

describe("doas", () => {
  it("runs as root with a nopass rule, and takes the lock", async () => {
    const c = sshd.connection({ user: DOAS_USER, become: "doas" });
    const rec = recordCommands();
    expect(await exec(c, T.uid, undefined, { pool })).toEqual({ code: 0, stdout: "0\n", stderr: "" });
    rec.stop();
    expect(rec.sent.map((s) => s.line)).toEqual(["doas -n id -u"]);
    expect(await withNodeLock(c, "doas test", async () => "held", { name: LOCK, pool })).toBe("held");
  });

  it("a rule that wants a password, and no rule at all: each error names the host and the fix", async () => {
    const pw = await fail(
      exec(sshd.connection({ user: SUDO_PASSWORD_USER, become: "doas" }), T.uid, undefined, { pool }),
    );
    expect(isNodeError(pw, "SudoNeedsPassword") && pw.message).toBe(
      `doas on ${host(SUDO_PASSWORD_USER)} asks user ${SUDO_PASSWORD_USER} for a password, but doas reads one from a ` +
        `terminal only: give ${SUDO_PASSWORD_USER} a rule without a password, e.g. "permit nopass ${SUDO_PASSWORD_USER} ` +
        'as root cmd /bin/sh" in /etc/doas.conf, or use sudo with connection.sudoPassword.',
    );
    const none = await fail(
      exec(sshd.connection({ user: SUDO_NOPASSWD_USER, become: "doas" }), T.uid, undefined, { pool }),
    );
    expect(isNodeError(none, "SudoDenied") && none.message).toBe(
      `doas on ${host(SUDO_NOPASSWD_USER)} refused user ${SUDO_NOPASSWD_USER}: no rule in /etc/doas.conf permits it ` +
        "(Operation not permitted)",
    );
  });
});

describe("stack config docker-firewall:sudoPassword", () => {
  it("fills sudoPassword of connections that use sudo, and only those", () => {
    storeStackConfig((k) => (k === "docker-firewall:sudoPassword" ? SUDO_PASSWORD : undefined));
    try {
      expect(resolveConnection({ host: "h", user: "deploy", sudo: true }).sudoPassword).toBe(SUDO_PASSWORD);
      expect(resolveConnection({ host: "h", sudo: true, sudoPassword: "own" }).sudoPassword).toBe("own");
      expect(resolveConnection({ host: "h", become: "doas" }).sudoPassword).toBeUndefined();
      expect(resolveConnection({ host: "h" }).sudoPassword).toBeUndefined();
    } finally {
      storeStackConfig(() => undefined);
    }
  });
});

describe("checked before connecting (check's failures, field by field)", () => {
  it.each([
    [{ sudoPassword: "pw" }, "sudoPassword", 'set only with sudo: true (or become: "sudo")'],
    [
      { become: "doas", sudoPassword: "pw" },
      "sudoPassword",
      "doas reads a password from a terminal only; give the user a `nopass` rule",
    ],
    [{ sudo: true, become: "doas" }, "become", '"doas" conflicts with sudo: true (set one) (got "doas")'],
    [{ sudo: true, sudoPassword: "a\nb" }, "sudoPassword", "must be one line (no line break or NUL)"],
  ])("%j", (extra, field, reason) => {
    expect(connectionFailures({ host: "h", ...extra })).toEqual([{ property: `connection.${field}`, reason }]);
  });
});
