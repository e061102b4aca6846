// The node-wide lock against a real sshd, with holders in this process and in other Node processes. The lock file
// lives under the root-only /run/docker-firewall with a test-only name, so real runs are never blocked.
import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, existsSync, lstatSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Connection } from "../../provider/model/connection";
import { defineCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec } from "../../provider/node/exec";
import { withNodeLock } from "../../provider/node/lock";
import { SshPool } from "../../provider/node/ssh-pool";
import { RUN_DIR } from "../../provider/protocol/run-dir";
import { runScript, type ScriptProcess } from "../support/ssh-processes";
import { type TestSshd, useSshdPerFile } from "../support/sshd";

const LOCK = "pulumi-docker-firewall-test";
const T = defineCommands({
  // Exit 75 while someone holds the test lock, 0 when it is free.
  probe: "flock -n -E 75 /run/docker-firewall/pulumi-docker-firewall-test.lock true",
  owner: "cat /run/docker-firewall/pulumi-docker-firewall-test.owner",
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

const probe = async (conn: Connection) => (await exec(conn, T.probe, undefined, { pool: new SshPool() })).code;

async function eventuallyFree(conn: Connection, withinMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < withinMs) {
    if ((await probe(conn)) === 0) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the lock was still held after ${withinMs} ms`);
}

/** Another controller process holding the lock until its stdin closes. */
function holderProcess(owner: string, heartbeatSeconds = 30): Promise<ScriptProcess> {
  const repo = `${__dirname}/../..`;
  const source = `
import { parseConnection } from ${JSON.stringify(`${repo}/provider/model/connection`)};
import { withNodeLock } from ${JSON.stringify(`${repo}/provider/node/lock`)};
(async () => {
  const conn = parseConnection(JSON.parse(process.env.PDF_CONN as string));
  await withNodeLock(conn, process.env.PDF_OWNER as string, async () => {
    console.log("HELD");
    process.stdin.resume();
    await new Promise((r) => process.stdin.once("end", r));
  }, { name: ${JSON.stringify(LOCK)}, heartbeatSeconds: ${heartbeatSeconds} });
  console.log("RELEASED");
})().catch((e) => { console.error(e.message); process.exit(1); });
`;
  return runScript(sshd.dir, "holder", source, { PDF_CONN: JSON.stringify(sshd.connection()), PDF_OWNER: owner });
}

describe("node lock", () => {
  it("is held while the work runs, records its owner, and is released after", async () => {
    const conn = sshd.connection();
    const seen = await withNodeLock(
      conn,
      "ci-runner-3 pid 4242 stack dev",
      async (lock) => {
        expect(lock.signal.aborted).toBe(false);
        return { probe: await probe(conn), owner: (await exec(conn, T.owner, undefined, { pool })).stdout };
      },
      { name: LOCK, pool },
    );
    expect(seen).toEqual({ probe: 75, owner: "ci-runner-3 pid 4242 stack dev\n" });
    expect(await probe(conn)).toBe(0);
  });

  it("serialises holders within one process", async () => {
    const conn = sshd.connection();
    const events: string[] = [];
    const hold = (name: string) =>
      withNodeLock(
        conn,
        name,
        async () => {
          events.push(`${name} in`);
          await new Promise((r) => setTimeout(r, 300));
          events.push(`${name} out`);
        },
        { name: LOCK, pool },
      );
    await Promise.all([hold("a"), hold("b"), hold("c")]);
    expect(events).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
  });

  it("makes a waiter in another process time out with LockTimeout naming the holder, then get it", async () => {
    const conn = sshd.connection();
    const holder = await holderProcess("other-controller pid 99 stack prod");
    try {
      await holder.waitFor("HELD");
      const t0 = Date.now();
      const e = await withNodeLock(conn, "me", async () => "never", { name: LOCK, pool, waitSeconds: 1 }).catch(
        (x: unknown) => x,
      );
      expect(isNodeError(e, "LockTimeout") && e.holder).toBe("other-controller pid 99 stack prod");
      expect((e as Error).message).toBe(
        `the node lock on root@127.0.0.1:${sshd.port} is held by other-controller pid 99 stack prod; gave up after ` +
          "1 s. Another pulumi run or tool is changing this node's firewall: retry when it has finished.",
      );
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);

      // A patient waiter gets the lock as soon as the other process lets go.
      const events: string[] = [];
      const waiter = withNodeLock(conn, "me", async () => events.push("acquired"), {
        name: LOCK,
        pool,
        waitSeconds: 30,
      });
      await new Promise((r) => setTimeout(r, 500));
      events.push("releasing");
      holder.child.stdin?.end();
      await waiter;
      await holder.waitFor("RELEASED");
      expect(events).toEqual(["releasing", "acquired"]);
    } finally {
      holder.child.kill("SIGKILL");
      await holder.exited;
    }
  });

  it("is released when the holding process dies", async () => {
    const conn = sshd.connection();
    const holder = await holderProcess("doomed pid 1");
    await holder.waitFor("HELD");
    expect(await probe(conn)).toBe(75);
    holder.child.kill("SIGKILL");
    await holder.exited;
    const t0 = Date.now();
    await withNodeLock(conn, "survivor", async () => undefined, { name: LOCK, pool, waitSeconds: 20 });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("is released when the holder's connection is destroyed, and the holder is told", async () => {
    const conn = sshd.connection();
    const reason = await withNodeLock(
      conn,
      "dropped",
      async (lock) => {
        expect(await probe(conn)).toBe(75);
        pool.drop(conn, "test drops the connection");
        await new Promise((r) => lock.signal.addEventListener("abort", r, { once: true }));
        return lock.signal.reason as unknown;
      },
      { name: LOCK, pool },
    );
    expect(isNodeError(reason, "ConnectionLost") && reason.message).toMatch(/lost while holding the node lock/);
    expect(await eventuallyFree(conn, 5000)).toBeLessThan(5000);
  });

  it("is released when the work fails, and the failure propagates", async () => {
    const conn = sshd.connection();
    const boom = new Error("apply failed");
    await expect(
      withNodeLock(
        conn,
        "x",
        async () => {
          throw boom;
        },
        { name: LOCK, pool },
      ),
    ).rejects.toBe(boom);
    expect(await probe(conn)).toBe(0);
  });

  it("refuses to be taken again by its own holder instead of deadlocking", async () => {
    const conn = sshd.connection();
    const inner = await withNodeLock(
      conn,
      "outer",
      () => withNodeLock(conn, "inner", async () => "never", { name: LOCK, pool }).catch((e: Error) => e.message),
      { name: LOCK, pool },
    );
    expect(inner).toMatch(/^withNodeLock is not re-entrant: this call already holds the lock of 127\.0\.0\.1:\d+\|/);
  });

  it("keeps the owner text to one printable line", async () => {
    const conn = sshd.connection();
    const owner = await withNodeLock(conn, "evil\nsecond line\u0007", async (lock) => lock.owner, { name: LOCK, pool });
    expect(owner).toBe("evil second line");
    expect((await exec(conn, T.owner, undefined, { pool })).stdout).toBe("evil second line\n");
  });
});

/** A process of an unprivileged local user (nobody), as a local attacker would run it. */
function asNobody(argv: readonly string[]): ChildProcess {
  return spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ...argv], { stdio: "ignore" });
}

describe("node lock against local users and frozen controllers", () => {
  it("is not blocked by an unprivileged user squatting the old /run/lock path, and writes nothing there", async () => {
    const conn = sshd.connection();
    const victim = `${sshd.dir}/victim`;
    writeFileSync(victim, "precious\n");
    rmSync(`/run/lock/${LOCK}.lock`, { force: true });
    rmSync(`/run/lock/${LOCK}.owner`, { force: true });
    symlinkSync(victim, `/run/lock/${LOCK}.owner`);
    const squatter = asNobody(["flock", `/run/lock/${LOCK}.lock`, "sleep", "600"]);
    try {
      // The squatter holds its flock before ours starts.
      while (!existsSync(`/run/lock/${LOCK}.lock`)) await new Promise((r) => setTimeout(r, 20));
      const owner = await withNodeLock(conn, "me", async (lock) => lock.owner, { name: LOCK, pool, waitSeconds: 2 });
      expect(owner).toBe("me");
      expect(readFileSync(victim, "utf8")).toBe("precious\n");
      const dir = lstatSync(RUN_DIR);
      expect({ dir: dir.isDirectory(), uid: dir.uid, mode: (dir.mode & 0o777).toString(8) }).toEqual({
        dir: true,
        uid: 0,
        mode: "700",
      });
    } finally {
      squatter.kill("SIGKILL");
      rmSync(`/run/lock/${LOCK}.owner`, { force: true });
      rmSync(`/run/lock/${LOCK}.lock`, { force: true });
    }
  });

  it("refuses a lock file that is a symlink or not owned by root, with a clear error", async () => {
    const conn = sshd.connection();
    const victim = `${sshd.dir}/victim2`;
    writeFileSync(victim, "precious\n");
    const lockFile = `${RUN_DIR}/${LOCK}.lock`;
    for (const [what, plant, reason] of [
      ["symlink", () => symlinkSync(victim, lockFile), /symbolic link or not owned by root/],
      ["nobody's file", () => writeFileSync(lockFile, "", { mode: 0o666 }), /symbolic link or not owned by root/],
    ] as const) {
      rmSync(lockFile, { force: true });
      try {
        plant();
        if (what === "nobody's file") chownSync(lockFile, 65534, 65534);
        const e = await withNodeLock(conn, "me", async () => "never", { name: LOCK, pool, waitSeconds: 1 }).catch(
          (x: unknown) => x,
        );
        expect(isNodeError(e, "CommandFailed"), what).toBe(true);
        expect((e as Error).message, what).toMatch(reason);
        expect((e as Error).message).toContain(lockFile);
        expect(readFileSync(victim, "utf8")).toBe("precious\n");
      } finally {
        rmSync(lockFile, { force: true });
      }
    }
  });

  it("is given up by the node when the holding controller freezes (no heartbeat), within the bound", async () => {
    const conn = sshd.connection();
    const holder = await holderProcess("frozen pid 7", 2);
    try {
      await holder.waitFor("HELD");
      expect(await probe(conn)).toBe(75);
      // Frozen: its TCP connection stays open, but it sends nothing any more.
      holder.child.kill("SIGSTOP");
      expect(await eventuallyFree(conn, 20_000)).toBeLessThan(20_000);
      await withNodeLock(conn, "next", async () => undefined, { name: LOCK, pool, waitSeconds: 5 });
    } finally {
      holder.child.kill("SIGCONT");
      holder.child.kill("SIGKILL");
      await holder.exited;
    }
  });
});
