// Over real SSH on a lab node: the node lock's holder also reads the state right after locking, so a transaction
// is two executions (lock + read, apply), and the read it is answered with equals a standalone read. Also as the
// NOPASSWD sudo user (the folded script runs under `sudo -n`).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execOnNode, type LabInventory, type LabNode } from "../../lab/index";
import { parseConnection } from "../../provider/model/connection";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { parseHostState } from "../../provider/netfilter/host-state";
import type { Intent } from "../../provider/netfilter/intent";
import { recordCommands } from "../../provider/node/commands";
import { exec } from "../../provider/node/exec";
import { LockReadCommands } from "../../provider/node/lock-read";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import { textOf } from "../../provider/node/running-command";
import { sshSession } from "../../provider/node/session";
import { SshPool } from "../../provider/node/ssh-pool";
import { newNonce, readHostState, runTransaction } from "../../provider/node/transaction";
import { DEFAULT_LOCK_NAME } from "../../provider/protocol/lock-script";
import { RUN_DIR } from "../../provider/protocol/run-dir";
import { onNode, type PrivateLab, upPrivateLab } from "../support/rel-lab";

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;

beforeAll(async () => {
  priv = await upPrivateLab(1);
  lab = priv.lab;
  node = lab.nodes[0] as LabNode;
}, 300_000);
afterAll(async () => {
  await priv?.down();
});

const connAs = (user: string) =>
  parseConnection({
    host: node.ssh.host,
    port: node.ssh.port,
    user,
    privateKey: readFileSync(node.privateKeyPath, "utf8"),
    hostKey: node.ssh.hostKey,
    sudo: user !== "root",
  });

const rule = (i: number): Intent => ({
  kind: "rule",
  id: `lr${i}`,
  priority: 300 + i,
  rule: dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", publishedPorts: [7000 + i] }),
});

describe.each(["root", "sudo"] as const)("lock and read in one execution (%s)", (who) => {
  it("a transaction is two executions: the lock holder's read, then the apply", async () => {
    const pool = new SshPool();
    const conn = connAs(who === "root" ? "root" : node.sudoUser);
    const rec = recordCommands();
    try {
      const out = await runTransaction(sshSession(conn, { exec: { pool }, lock: { pool } }), [rule(1), rule(2)], "t");
      expect(out.results.every((r) => r.ok)).toBe(true);
      const undo = await runTransaction(
        sshSession(conn, { exec: { pool }, lock: { pool } }),
        [1, 2].map((i): Intent => ({ kind: "rule", id: `lr${i}`, priority: 300 + i, rule: null })),
        "t",
      );
      expect(undo.results.every((r) => r.ok)).toBe(true);
    } finally {
      rec.stop();
      pool.closeAll();
    }
    const prefix = who === "root" ? "" : "sudo -n ";
    expect(rec.sent.map((s) => s.line)).toEqual([
      `${prefix}${LockReadCommands.nodeLockRead}`,
      `${prefix}${NetfilterCommands.applySteps}`,
      `${prefix}${LockReadCommands.nodeLockRead}`,
      `${prefix}${NetfilterCommands.applySteps}`,
    ]);
    expect((await onNode(lab, node, "iptables -S DOCKER-USER | grep -c dfw: || true")).trim()).toBe("0");
  });

  it("answers the transaction's read with what a standalone read sees", async () => {
    const pool = new SshPool();
    const conn = connAs(who === "root" ? "root" : node.sudoUser);
    const session = sshSession(conn, { exec: { pool }, lock: { pool } });
    try {
      const [held, standalone] = await session.locked("t", async () => {
        const a = await readHostState(session);
        const nonce = newNonce();
        const r = await exec(conn, NetfilterCommands.readState, `${nonce}\n`, { pool });
        return [a.state, parseHostState(r.stdout, nonce)];
      });
      // The lock + read, the apply's channel opened ahead (unused here: it is let go), the standalone read.
      expect(pool.stats().execs).toBe(3);
      expect(held).toEqual(standalone);
      expect(held.saves.nft.ipv4?.tables.get("filter")).toBeDefined();
    } finally {
      pool.closeAll();
    }
  });
});

describe("the apply's channel", () => {
  it("gives its slot back when the transaction reads on its own first (two channels per connection)", async () => {
    // Two slots: the lock's and the one opened ahead. A read that is not the holder's (the holder's was taken by
    // the first read) needs one of them, or it would wait for a slot the apply only frees after it.
    const pool = new SshPool({ maxChannels: 2 });
    const session = sshSession(connAs("root"), { exec: { pool }, lock: { pool } });
    try {
      const out = await session.locked("t", async () => {
        await readHostState(session);
        return (await readHostState(session)).state.saves.nft.ipv4?.tables.has("filter");
      });
      expect(out).toBe(true);
      const applied = await runTransaction(session, [rule(8)], "t");
      expect(applied.results.every((r) => r.ok)).toBe(true);
      const undo = await runTransaction(session, [{ kind: "rule", id: "lr8", priority: 308, rule: null }], "t");
      expect(undo.results.every((r) => r.ok)).toBe(true);
    } finally {
      pool.closeAll();
    }
  }, 30_000);

  it("is asked for while the node takes the lock and reads, and the apply then runs on it", async () => {
    const asked: string[] = [];
    class AskingPool extends SshPool {
      override start(...args: Parameters<SshPool["start"]>) {
        asked.push(
          args[1] === NetfilterCommands.applySteps
            ? "apply"
            : args[1] === LockReadCommands.nodeLockRead
              ? "lock"
              : "other",
        );
        return super.start(...args);
      }
    }
    const pool = new AskingPool();
    const session = sshSession(connAs("root"), { exec: { pool }, lock: { pool } });
    const atLock: string[][] = [];
    const observed = {
      ...session,
      locked: <T>(owner: string, fn: (p: never) => Promise<T>) =>
        session.locked(owner, (p) => {
          atLock.push([...asked]);
          return fn(p as never);
        }),
    };
    try {
      const out = await runTransaction(observed, [rule(9)], "t");
      expect(out.results.every((r) => r.ok)).toBe(true);
      // Both channels were asked for before the lock was held; the apply used the one opened ahead.
      expect(atLock).toEqual([["lock", "apply"]]);
      expect(asked).toEqual(["lock", "apply"]);
      const undo = await runTransaction(session, [{ kind: "rule", id: "lr9", priority: 309, rule: null }], "t");
      expect(undo.results.every((r) => r.ok)).toBe(true);
    } finally {
      pool.closeAll();
    }
  });
});

describe("the lock + read before its input arrives", () => {
  const lockFile = (name = DEFAULT_LOCK_NAME) => `${RUN_DIR}/${name}.lock`;
  /** Whether lock `name` is free on the node now: no flock on its file in /proc/locks ("maj:min:inode", hex device
   * numbers). Looked up, not tried: trying it would hold it a moment, and a holder trying then would go without. */
  const free = async (name?: string) => {
    const probe = `f=${lockFile(name)}; d=$(stat -c %d "$f") && i=$(stat -c %i "$f") || exit 0
id=$(printf "%02x:%02x:%s" $(( (d>>8)&0xfff )) $(( (d&0xff)|((d>>12)&0xfff00) )) "$i")
if grep -q " $id " /proc/locks; then echo held; fi`;
    return (await onNode(lab, node, probe)).trim() === "";
  };
  const until = async (what: () => Promise<boolean>) => {
    for (let i = 0; i < 100 && !(await what()); i++) await new Promise((r) => setTimeout(r, 50));
    return what();
  };

  it("takes the free default lock and reads at once; the owner is recorded when the input comes", async () => {
    const pool = new SshPool();
    try {
      const run = await pool.start(connAs("root"), LockReadCommands.nodeLockRead);
      const out = textOf(run.stdout);
      // No input sent: the lock is held all the same, with no owner yet (only this path holds it before input).
      expect(await until(async () => !(await free()))).toBe(true);
      expect(await onNode(lab, node, `cat ${RUN_DIR}/${DEFAULT_LOCK_NAME}.owner`)).toBe("");
      run.stdin.write(`5\n${DEFAULT_LOCK_NAME}\nearly reader\n${"ab".repeat(16)}\n30\n`);
      expect(await until(async () => /^LOCKED \S+$/m.test(out.text()) && out.text().includes(" end\n"))).toBe(true);
      expect(await onNode(lab, node, `cat ${RUN_DIR}/${DEFAULT_LOCK_NAME}.owner`)).toBe("early reader\n");
      const nonce = /^LOCKED (\S+)$/m.exec(out.text())?.[1] as string;
      const state = parseHostState(out.text().slice(out.text().indexOf("\n", out.text().indexOf("LOCKED"))), nonce);
      expect(state.saves.nft.ipv4?.tables.get("filter")).toBeDefined();
      run.stdin.end();
      await run.end;
      expect(await free()).toBe(true);
    } finally {
      pool.closeAll();
    }
  });

  it("lets the lock go if the input never comes (stdin closed)", async () => {
    const pool = new SshPool();
    try {
      const run = await pool.start(connAs("root"), LockReadCommands.nodeLockRead);
      run.stdout.resume();
      run.stderr.resume();
      expect(await until(async () => !(await free()))).toBe(true);
      run.stdin.end();
      expect(await run.end).toEqual({ kind: "exited", code: 64 });
      expect(await free()).toBe(true);
    } finally {
      pool.closeAll();
    }
  });

  it("waits for a held lock as before, and reads once it has it", async () => {
    let released = false;
    // Someone else (an operator, another stack) holds the node lock for 2 s.
    const other = execOnNode(lab, node.name, ["flock", "-n", lockFile(), "sleep", "2"]).then((r) => {
      released = true;
      return r;
    });
    expect(await until(async () => !(await free()))).toBe(true);
    const pool = new SshPool();
    try {
      const session = sshSession(connAs("root"), { exec: { pool }, lock: { pool } });
      const out = await runTransaction(session, [rule(11)], "t");
      expect(out.results.every((r) => r.ok)).toBe(true);
      expect(released).toBe(true);
      expect((await other).code).toBe(0);
      const undo = await runTransaction(session, [{ kind: "rule", id: "lr11", priority: 311, rule: null }], "t");
      expect(undo.results.every((r) => r.ok)).toBe(true);
    } finally {
      pool.closeAll();
    }
  }, 30_000);

  it("holds another lock name when asked, and lets the default one go", async () => {
    const pool = new SshPool();
    const session = sshSession(connAs("root"), { exec: { pool }, lock: { pool, name: "lr-other" } });
    try {
      const seen = await session.locked("t", async () => {
        const read = await readHostState(session);
        return {
          read: read.state.saves.nft.ipv4?.tables.has("filter"),
          other: await free("lr-other"),
          mine: await free(),
        };
      });
      expect(seen).toEqual({ read: true, other: false, mine: true });
      // The read was the holder's: lock + read and the apply's channel opened ahead, nothing else.
      expect(pool.stats().execs).toBe(2);
    } finally {
      pool.closeAll();
    }
  });
});
