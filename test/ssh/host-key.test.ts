// Host key checks against a real sshd: pinned keys, trust on first use, and a changed key refused.
import { describe, expect, it } from "vitest";
import { defineCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec } from "../../provider/node/exec";
import { forgetHostKeys, observedHostKey, trustHostKey } from "../../provider/node/host-key";
import { SshPool } from "../../provider/node/ssh-pool";
import { recordedHostKeys, trustRecordedHostKey } from "../../provider/resources/common";
import { type TestSshd, useSshdPerFile } from "../support/sshd";

const T = defineCommands({ echo: "echo hello" });
const OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1ypxIyYog7KXFfrFtZ2ktcI/gx5WArBHMPW1jJqjrF";
const OTHER_FP = "SHA256:9SDOO0hVASxE8tFMQiPBVLVm6SFM19c1QF1ScnqRdgY";

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

describe("host key", () => {
  it("accepts the pinned key, as a key line or as a fingerprint", async () => {
    for (const hostKey of [sshd.hostKey.publicKey, sshd.hostKeyFingerprint]) {
      const r = await exec(sshd.connection({ hostKey }), T.echo, undefined, { pool: new SshPool() });
      expect(r.stdout).toBe("hello\n");
    }
  });

  it("refuses a wrong pinned key with a man-in-the-middle warning, without retrying", async () => {
    const conn = sshd.connection({ hostKey: OTHER_KEY, dialErrorLimit: 10 });
    const t0 = Date.now();
    const e = await exec(conn, T.echo, undefined, { pool }).catch((x: unknown) => x);
    expect(isNodeError(e, "HostKeyMismatch") && [e.expected, e.seen, e.source]).toEqual([
      OTHER_FP,
      sshd.hostKeyFingerprint,
      "pinned",
    ]);
    const message = (e as Error).message;
    expect(message).toMatch(
      new RegExp(`^HOST KEY MISMATCH for root@127\\.0\\.0\\.1:${sshd.port}: expected ${OTHER_FP}`),
    );
    expect(message).toContain(`presented ${sshd.hostKeyFingerprint}`);
    expect(message).toMatch(/man-in-the-middle/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("trusts the first key seen, exposes it, and refuses a changed key after a restart", async () => {
    const conn = sshd.connection();
    expect(observedHostKey(conn)).toBeUndefined();
    await exec(conn, T.echo, undefined, { pool });
    const first = sshd.hostKeyFingerprint;
    expect(observedHostKey(conn)).toBe(first); // what `ssh-keygen -lf` says

    await sshd.regenerateHostKey();
    await sshd.restart();
    const e = await exec(conn, T.echo, undefined, { pool }).catch((x: unknown) => x);
    expect(isNodeError(e, "HostKeyMismatch") && [e.expected, e.seen, e.source]).toEqual([
      first,
      sshd.hostKeyFingerprint,
      "first-use",
    ]);
    expect((e as Error).message).toMatch(/the key this host presented first/);

    // Pinning the new key (after checking it out of band) is how a legitimate change is accepted.
    const pinned = sshd.connection({ hostKey: sshd.hostKey.publicKey });
    expect((await exec(pinned, T.echo, undefined, { pool })).stdout).toBe("hello\n");
  });

  it("refuses a key that differs from one seeded from state", async () => {
    const conn = sshd.connection();
    trustHostKey(conn, OTHER_FP);
    const e = await exec(conn, T.echo, undefined, { pool }).catch((x: unknown) => x);
    expect(isNodeError(e, "HostKeyMismatch") && e.expected).toBe(OTHER_FP);
  });
});

describe("host key memory", () => {
  it("a handshake that never completes (authentication refused) remembers no key", async () => {
    forgetHostKeys();
    const conn = sshd.connection({ privateKey: undefined, password: "not-the-password", dialErrorLimit: 1 });
    const e = await exec(conn, T.echo, undefined, { pool: new SshPool() }).catch((x: unknown) => x);
    expect(isNodeError(e, "AuthFailed")).toBe(true);
    expect(observedHostKey(conn)).toBeUndefined();
  });

  it("the bastion's key is remembered and recorded, and a key recorded for it is enforced", async () => {
    forgetHostKeys();
    const bastion = { host: sshd.host, port: sshd.port, privateKey: sshd.userKey.privateKey };
    const conn = sshd.connection({ proxy: bastion });
    await exec(conn, T.echo, undefined, { pool: new SshPool() });
    expect(recordedHostKeys(conn)).toEqual({
      hostKey: sshd.hostKeyFingerprint,
      bastionHostKey: sshd.hostKeyFingerprint,
    });
    // The next run: another key recorded for the bastion in state must be what the bastion presents.
    forgetHostKeys();
    const args = {
      host: sshd.host,
      port: sshd.port,
      user: "root",
      privateKey: sshd.userKey.privateKey,
      proxy: bastion,
    };
    trustRecordedHostKey(conn, { connection: args, bastionHostKey: OTHER_FP });
    const e = await exec(conn, T.echo, undefined, { pool: new SshPool() }).catch((x: unknown) => x);
    expect(isNodeError(e, "HostKeyMismatch") && [e.expected, e.seen]).toEqual([OTHER_FP, sshd.hostKeyFingerprint]);
    expect((e as Error).message).toMatch(/^HOST KEY MISMATCH for root@127\.0\.0\.1:\d+: expected/);
  });
});
