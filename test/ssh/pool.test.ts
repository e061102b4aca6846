// The pooled SSH connection against a real OpenSSH server. Only harmless commands run on it (see sshd.ts).
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { describeConnection } from "../../provider/model/connection";
import { defineCommands, type RemoteCommand, recordCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec, execChecked, execRaw } from "../../provider/node/exec";
import { withNodeLock } from "../../provider/node/lock";
import { SshPool } from "../../provider/node/ssh-pool";
import { TestSshd, useSshdPerFile } from "../support/sshd";

const T = defineCommands({
  cat: "cat",
  echo: "echo hello",
  sleep5: "sleep 5",
  shortSleep: "sh -c 'sleep 0.3; echo done'",
  fail: "sh -c 'echo out; echo err >&2; exit 3'",
});

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

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

describe("pooled connection", () => {
  it("reuses one connection for 50 execs (and is faster than a connection per exec)", async () => {
    const conn = sshd.connection();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 50; i++) {
      const r = await exec(conn, T.cat, `line ${i}`, { pool });
      expect(r).toEqual({ code: 0, stdout: `line ${i}`, stderr: "" });
    }
    const pooledMs = ms(t0) / 50;
    expect(pool.stats()).toMatchObject({ connectionsOpened: 1, execs: 50 });

    const t1 = process.hrtime.bigint();
    for (let i = 0; i < 10; i++) {
      const fresh = new SshPool();
      await exec(conn, T.echo, undefined, { pool: fresh });
      fresh.closeAll();
    }
    const freshMs = ms(t1) / 10;
    console.log(`exec latency: pooled ${pooledMs.toFixed(1)} ms, fresh connection ${freshMs.toFixed(1)} ms`);
    expect(pooledMs).toBeLessThan(freshMs);
  });

  it("runs 30 concurrent execs over one connection with at most 8 channels open", async () => {
    const conn = sshd.connection();
    const t0 = process.hrtime.bigint();
    const results = await Promise.all(Array.from({ length: 30 }, () => exec(conn, T.shortSleep, undefined, { pool })));
    expect(results.every((r) => r.code === 0 && r.stdout === "done\n")).toBe(true);
    expect(pool.stats()).toEqual({ connectionsOpened: 1, execs: 30, peakChannels: 8, bastionWaits: 0 });
    // 30 commands of 0.3 s through 8 channels need at least 4 rounds.
    expect(ms(t0)).toBeGreaterThan(4 * 300 - 50);
  });

  it("round-trips 5 MB of binary stdin exactly", async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const r = await execRaw(sshd.connection(), T.cat, data, { pool });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(r.stdout.equals(data)).toBe(true);
  });

  it("returns exit code and stderr; execChecked throws CommandFailed", async () => {
    const conn = sshd.connection();
    expect(await exec(conn, T.fail, undefined, { pool })).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    const e = await execChecked(conn, T.fail, undefined, { pool }).catch((x: unknown) => x);
    expect(isNodeError(e, "CommandFailed") && [e.code, e.stderr, e.host]).toEqual([
      3,
      "err\n",
      describeConnection(conn),
    ]);
    expect((e as Error).message).toMatch(/^command failed on root@127\.0\.0\.1:\d+ \(exit 3\): sh -c .*\nerr$/s);
  });

  it("times out a slow command, and the connection stays usable", async () => {
    const conn = sshd.connection();
    const t0 = process.hrtime.bigint();
    const e = await exec(conn, T.sleep5, undefined, { pool, timeoutMs: 500 }).catch((x: unknown) => x);
    expect(isNodeError(e, "Timeout") && e.message).toMatch(
      /^timed out after 500 ms on root@127\.0\.0\.1:\d+ while running sleep 5/,
    );
    expect(ms(t0)).toBeLessThan(2000);
    // Its channel slot was freed: 8 more commands still run side by side on the same connection.
    await Promise.all(Array.from({ length: 8 }, () => exec(conn, T.echo, undefined, { pool })));
    expect(pool.stats().connectionsOpened).toBe(1);
  });

  it("can be aborted", async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error("user cancelled")), 200);
    await expect(exec(sshd.connection(), T.sleep5, undefined, { pool, signal: ctl.signal })).rejects.toThrow(
      "user cancelled",
    );
  });

  it("records the exact command lines and refuses lines not made by defineCommands", async () => {
    const conn = sshd.connection();
    const rec = recordCommands();
    await exec(conn, T.cat, "user data; rm -rf /", { pool });
    rec.stop();
    expect(rec.sent).toEqual([{ host: describeConnection(conn), line: "cat" }]);
    await expect(exec(conn, "echo hi" as RemoteCommand, undefined, { pool })).rejects.toThrow(/defineCommands/);
  });

  it("adopts the server's lower MaxSessions", async () => {
    const small = await TestSshd.start({ maxSessions: 2 });
    try {
      const conn = small.connection();
      const results = await Promise.all(Array.from({ length: 6 }, () => exec(conn, T.shortSleep, undefined, { pool })));
      expect(results.map((r) => r.stdout)).toEqual(Array(6).fill("done\n"));
      expect(pool.stats().connectionsOpened).toBe(1);
    } finally {
      await small.dispose();
    }
  });

  it("explains that MaxSessions 1 cannot hold the node lock and run a command", async () => {
    const one = await TestSshd.start({ maxSessions: 1 });
    try {
      const conn = one.connection();
      for (let i = 0; i < 3; i++) expect((await exec(conn, T.echo, undefined, { pool })).code).toBe(0);
      const e = await withNodeLock(conn, "t", () => exec(conn, T.echo, undefined, { pool }), {
        pool,
        name: "pulumi-docker-firewall-test-one",
      }).catch((x: unknown) => x);
      expect(isNodeError(e, "Unreachable") && e.message).toMatch(
        /refused 11 session channels .* 2 sessions per connection are needed/,
      );
    } finally {
      await one.dispose();
    }
  });

  it("reaches a node through a bastion", async () => {
    const bastion = { host: sshd.host, port: sshd.port, privateKey: sshd.userKey.privateKey };
    const conn = sshd.connection({ proxy: bastion });
    expect(describeConnection(conn)).toMatch(/^root@127\.0\.0\.1:\d+ \(via bastion root@127\.0\.0\.1:\d+\)$/);
    const r = await exec(conn, T.cat, "through the tunnel", { pool });
    expect(r.stdout).toBe("through the tunnel");
    await exec(conn, T.echo, undefined, { pool });
    expect(pool.stats()).toMatchObject({ connectionsOpened: 2, execs: 2 });
  });
});

describe("failures and recovery", () => {
  it("reconnects after sshd is killed and restarted", async () => {
    const conn = sshd.connection();
    await exec(conn, T.echo, undefined, { pool });
    await sshd.restart();
    expect((await exec(conn, T.echo, undefined, { pool })).stdout).toBe("hello\n");
    expect(pool.stats().connectionsOpened).toBe(2);
  });

  it("keeps dialling with backoff until the server is back", async () => {
    const conn = sshd.connection({ dialErrorLimit: 50 });
    await exec(conn, T.echo, undefined, { pool });
    await sshd.stop();
    const pending = exec(conn, T.echo, undefined, { pool });
    await new Promise((r) => setTimeout(r, 1000));
    await sshd.restart();
    expect((await pending).stdout).toBe("hello\n");
  });

  it("reports a connection lost mid-command as ConnectionLost", async () => {
    const conn = sshd.connection();
    const pending = exec(conn, T.sleep5, undefined, { pool }).catch((x: unknown) => x);
    await new Promise((r) => setTimeout(r, 500));
    await sshd.stop();
    const e = await pending;
    await sshd.restart();
    expect(isNodeError(e, "ConnectionLost") && e.message).toMatch(
      /^connection to root@127\.0\.0\.1:\d+ was lost while running sleep 5 .*may or may not have taken effect$/,
    );
  });

  it("keeps a busy connection alive with keepalives, and declares a silent one lost", async () => {
    const kpool = new SshPool({ keepaliveIntervalMs: 100, keepaliveCountMax: 2 });
    try {
      const conn = sshd.connection();
      // 0.3 s of work spans several probes, all answered.
      expect((await exec(conn, T.shortSleep, undefined, { pool: kpool })).stdout).toBe("done\n");
      const pending = exec(conn, T.sleep5, undefined, { pool: kpool }).catch((x: unknown) => x);
      await new Promise((r) => setTimeout(r, 200));
      await sshd.freezeSessions();
      const t0 = process.hrtime.bigint();
      const e = await pending;
      expect(ms(t0)).toBeLessThan(1500);
      expect(isNodeError(e, "ConnectionLost") && e.reason).toBe("no answer to 2 keepalive probes 100 ms apart");
      expect(kpool.stats().connectionsOpened).toBe(1);
    } finally {
      kpool.closeAll();
      await sshd.restart();
    }
  });

  it("names the bastion when the bastion is what fails", async () => {
    const closed = await unusedPort();
    const conn = sshd.connection({
      proxy: { host: sshd.host, port: closed, privateKey: sshd.userKey.privateKey, dialErrorLimit: 1 },
    });
    const e = await exec(conn, T.echo, undefined, { pool }).catch((x: unknown) => x);
    expect(isNodeError(e, "Unreachable") && e.message).toBe(
      `cannot reach root@127.0.0.1:${closed}: after 2 failed attempts: connect ECONNREFUSED 127.0.0.1:${closed}`,
    );
  });

  it("gives up after dialErrorLimit failures with Unreachable", async () => {
    const closed = await unusedPort();
    const conn = sshd.connection({ port: closed, dialErrorLimit: 2 });
    const t0 = process.hrtime.bigint();
    const e = await exec(conn, T.echo, undefined, { pool }).catch((x: unknown) => x);
    expect(isNodeError(e, "Unreachable") && e.message).toBe(
      `cannot reach root@127.0.0.1:${closed}: after 3 failed attempts: connect ECONNREFUSED 127.0.0.1:${closed}`,
    );
    expect(ms(t0)).toBeGreaterThanOrEqual(250 - 5); // waited 100 + 150 ms between the attempts
  });

  it("limits each dial attempt to perDialTimeout", async () => {
    const silent = await silentServer(); // accepts TCP, never speaks SSH
    try {
      const port = silent.port;
      const conn = sshd.connection({ port, perDialTimeout: 1, dialErrorLimit: 1 });
      const t0 = process.hrtime.bigint();
      const e = await exec(conn, T.echo, undefined, { pool }).catch((x: unknown) => x);
      expect(isNodeError(e, "Unreachable") && e.message).toMatch(
        /after 2 failed attempts: attempt timed out after 1000 ms$/,
      );
      expect(ms(t0)).toBeLessThan(3500);
    } finally {
      silent.close();
    }
  });
});

async function unusedPort(): Promise<number> {
  const srv = await silentServer();
  srv.close();
  return srv.port;
}

/** A TCP server that accepts connections and never says anything. */
function silentServer(): Promise<{ port: number; close(): void }> {
  return new Promise((resolve) => {
    const sockets: Socket[] = [];
    const srv: Server = createServer((s) => sockets.push(s));
    srv.listen(0, "127.0.0.1", () =>
      resolve({
        port: (srv.address() as { port: number }).port,
        close: () => {
          srv.close();
          for (const s of sockets) s.destroy();
        },
      }),
    );
  });
}
