// The sudo path with real sudo, as users that exist only inside the test sshd's mount namespace (see sshd.ts).
import { describe, expect, it } from "vitest";
import { defineCommands, recordCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec } from "../../provider/node/exec";
import { withNodeLock } from "../../provider/node/lock";
import type { SshPool } from "../../provider/node/ssh-pool";
import { SUDO_NOPASSWD_USER, SUDO_PASSWORD_USER, type TestSshd, useSshdPerFile } from "../support/sshd";

const T = defineCommands({ uid: "id -u" });
const LOCK = "pulumi-docker-firewall-test-sudo";

let sshd: TestSshd;
let pool: SshPool;

useSshdPerFile({
  sshd: (s) => {
    sshd = s;
  },
  pool: (p) => {
    pool = p;
  },
});

describe("sudo", () => {
  it("runs commands unprivileged without sudo", async () => {
    expect((await exec(sshd.connection({ user: SUDO_NOPASSWD_USER }), T.uid, undefined, { pool })).stdout).toBe(
      "64201\n",
    );
  });

  it("sends `sudo -n <command>` and runs as root for a NOPASSWD user", async () => {
    const rec = recordCommands();
    const r = await exec(sshd.connection({ user: SUDO_NOPASSWD_USER, sudo: true }), T.uid, undefined, { pool });
    rec.stop();
    expect(r).toEqual({ code: 0, stdout: "0\n", stderr: "" });
    expect(rec.sent.map((s) => s.line)).toEqual(["sudo -n id -u"]);
  });

  it("turns sudo's password prompt into SudoNeedsPassword", async () => {
    const conn = sshd.connection({ user: SUDO_PASSWORD_USER, sudo: true });
    const e = await exec(conn, T.uid, undefined, { pool }).catch((x: unknown) => x);
    expect(isNodeError(e, "SudoNeedsPassword") && e.message).toBe(
      `sudo on ${SUDO_PASSWORD_USER}@127.0.0.1:${sshd.port} asks user ${SUDO_PASSWORD_USER} for a password, but ` +
        "commands run non-interactively (sudo -n): set connection.sudoPassword (a secret), or " +
        `grant ${SUDO_PASSWORD_USER} passwordless sudo for /bin/sh ` +
        "(the provider runs `sudo -n sh -c '<constant script>'`, which is as powerful as root), e.g. " +
        `"${SUDO_PASSWORD_USER} ALL=(root) NOPASSWD: /bin/sh" in /etc/sudoers.d, or connect as root.`,
    );
  });

  it("takes the node lock through sudo", async () => {
    const conn = sshd.connection({ user: SUDO_NOPASSWD_USER, sudo: true });
    const r = await withNodeLock(conn, "sudo test", async () => "held", { name: LOCK, pool });
    expect(r).toBe("held");
    const denied = sshd.connection({ user: SUDO_PASSWORD_USER, sudo: true });
    const e = await withNodeLock(denied, "x", async () => "never", { name: LOCK, pool }).catch((x: unknown) => x);
    expect(isNodeError(e, "SudoNeedsPassword")).toBe(true);
  });
});
