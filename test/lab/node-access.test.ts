// The node layer on a lab node of its own over real SSH, beyond single faults:
// - two OS processes applying different rule sets to the node at the same time: nothing lost, doubled or misordered;
// - the sudo user works, the password-sudo user gets SudoNeedsPassword, a wrong pinned host key is refused;
// - a transaction whose node lock is lost (its connection dropped) runs nothing more, even on a redialed connection.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execOnNode, type LabInventory, type LabNode } from "../../lab/index";
import { REPO_ROOT } from "../../lab/paths";
import { parseConnection } from "../../provider/model/connection";
import { expandRule } from "../../provider/netfilter/expand";
import { renderRule } from "../../provider/netfilter/render-rule";
import { compareTags } from "../../provider/netfilter/tag";
import { isNodeError } from "../../provider/node/errors";
import { type HostSession, sshSession } from "../../provider/node/session";
import { SshPool } from "../../provider/node/ssh-pool";
import { runTransaction } from "../../provider/node/transaction";
import { FaultProxy } from "../support/fault-proxy";
import { allOk, FOREIGN, NODE_LOCK, NodeLab, rule, transact, type Who } from "../support/node-lab";
import { presentIn, RULES_PER_WORKER, roundIntents, type WorkerConfig } from "../support/rounds-worker";

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const nl = new NodeLab();
let lab: LabInventory;
let node: LabNode;
let privateKey: string;
let proxy: FaultProxy;
const nodeState = () => nl.nodeState();
const resetNode = () => nl.resetNode();
const connection = (port: number, who: Who, hostKey?: string) => nl.connection(port, who, hostKey);

beforeAll(async () => {
  await nl.start();
  lab = nl.lab;
  node = nl.node;
  privateKey = nl.privateKey;
  proxy = await FaultProxy.start(node.ssh.port);
});

afterAll(async () => {
  await proxy?.close();
  await nl.stop();
});

// ---- two processes at once -----------------------------------------------------------------------------------

class Worker {
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  readonly child: ChildProcessWithoutNullStreams;
  stderr = "";

  constructor(config: WorkerConfig) {
    const script = join(REPO_ROOT, "test", "support", "rounds-worker.ts");
    // A separate OS process (node with the tsx loader, as `npx tsx` runs it), with its own SSH pool and locks.
    this.child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(config)], { cwd: REPO_ROOT });
    createInterface({ input: this.child.stdout }).on("line", (l) => {
      this.lines.push(l);
      this.wake?.();
    });
    this.child.stderr.on("data", (b: Buffer) => {
      this.stderr += b.toString();
    });
    this.child.on("exit", () => this.wake?.());
  }

  /** The next stdout line matching `re`. */
  async next(re: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l) => re.test(l));
      if (i >= 0) return this.lines.splice(i, 1)[0] as string;
      if (this.child.exitCode !== null) throw new Error(`worker exited (${this.child.exitCode}): ${this.stderr}`);
      if (performance.now() > deadline) throw new Error(`worker: no ${re} in ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 500);
      });
    }
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  stop(): void {
    if (this.child.exitCode !== null) return;
    this.send("exit");
    this.child.stdin.end();
    setTimeout(() => {
      if (this.child.exitCode === null) this.child.kill();
    }, 5000).unref();
  }
}

/** The chain both workers' rule sets of `round` must produce: union in (priority, id) order, then the rest. */
function expectedChain(workers: readonly string[], round: number): string[] {
  const blocks = workers.flatMap((w) =>
    roundIntents(w, round).flatMap((x) =>
      x.kind === "rule" && x.rule ? [{ tag: { priority: x.priority, id: x.id }, rule: x.rule }] : [],
    ),
  );
  blocks.sort((a, b) => compareTags(a.tag, b.tag));
  const lines = blocks.flatMap((b) => expandRule(b.rule, b.tag, ["ipv4"]).ipv4.map(renderRule));
  return [...lines, FOREIGN, "-A DOCKER-USER -j RETURN"];
}

describe("two OS processes applying different rule sets to one node at the same time", () => {
  const ROUNDS = 10;
  const workers: Worker[] = [];

  afterAll(() => {
    for (const w of workers) w.stop();
  });

  it(`${ROUNDS} rounds: the chain is always the union in (priority, id) order`, async () => {
    await resetNode();
    const names = ["p", "q"];
    for (const name of names) {
      workers.push(
        new Worker({
          worker: name,
          host: "127.0.0.1",
          port: node.ssh.port,
          user: name === "p" ? "root" : node.sudoUser,
          sudo: name !== "p",
          privateKeyPath: node.privateKeyPath,
          hostKey: node.ssh.hostKey,
        }),
      );
    }
    await Promise.all(workers.map((w) => w.next(/^ready$/)));
    const timings: number[][] = [];
    let last: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const w of workers) w.send(`round ${round}`);
      const done = await Promise.all(workers.map((w) => w.next(new RegExp(`^(done|fail) ${round} `))));
      for (const d of done) expect(d).toMatch(/^done /);
      const summaries = done.map((d) => JSON.parse(d.replace(/^done \d+ /, "")) as Record<string, number>);
      timings.push(summaries.map((s) => s.ms as number));
      last = { transactions: summaries.reduce((n, s) => n + (s.transactions as number), 0) };
      const chain = (await nodeState()).split("\n").filter((l) => l.startsWith("-A DOCKER-USER "));
      expect(chain).toEqual(expectedChain(names, round));
      // Each worker had rules present and absent this round.
      expect(range(0, RULES_PER_WORKER).filter((i) => !presentIn(i, round))).toHaveLength(2);
    }
    console.log(
      `two processes, ${ROUNDS} rounds: ${last.transactions} transactions; per-round ms (p, q): ${timings
        .map((t) => t.join("/"))
        .join(" ")}`,
    );
    expect(last.transactions).toBe(2 * ROUNDS);
  });
});

// ---- users and host keys -------------------------------------------------------------------------------------

describe("who may change the node", () => {
  it("the sudo user (NOPASSWD, sudo: true) creates and deletes a rule", async () => {
    const conn = connection(node.ssh.port, "sudo");
    const created = await transact(conn, [rule("sudo-made", 50, { publishedPorts: [7000] })]);
    expect(allOk(created)).toBe(true);
    expect(await nodeState()).toContain('--comment "dfw:0050:sudo-made"');
    expect(allOk(await transact(conn, [rule("sudo-made", 50, null)]))).toBe(true);
    expect(await nodeState()).not.toContain("sudo-made");
  });

  it("the password-sudo user fails with SudoNeedsPassword naming host and user; nothing changes", async () => {
    const before = await nodeState();
    const conn = parseConnection({
      host: "127.0.0.1",
      port: node.ssh.port,
      user: node.nosudoUser,
      sudo: true,
      privateKey,
      hostKey: node.ssh.hostKey,
    });
    const err = await transact(conn, [rule("nope", 50, { publishedPorts: [7001] })]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNodeError(err, "SudoNeedsPassword"), String(err)).toBe(true);
    const message = (err as Error).message;
    expect(message).toContain(`${node.nosudoUser}@127.0.0.1:${node.ssh.port}`);
    expect(message).toMatch(new RegExp(`asks user ${node.nosudoUser} for a password`));
    expect(await nodeState()).toBe(before);
  });

  it("a wrong pinned host key is refused as a possible man-in-the-middle before any command runs", async () => {
    const before = await nodeState();
    // Another ed25519 key: a blob of the right shape that is not the node's.
    const blob = Buffer.concat([
      Buffer.from([0, 0, 0, 11]),
      Buffer.from("ssh-ed25519"),
      Buffer.from([0, 0, 0, 32]),
      Buffer.alloc(32, 7),
    ]);
    const wrong = `ssh-ed25519 ${blob.toString("base64")}`;
    const pool = new SshPool();
    const err = await transact(
      connection(node.ssh.port, "root", wrong),
      [rule("mitm", 50, { publishedPorts: [7002] })],
      pool,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNodeError(err, "HostKeyMismatch"), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/HOST KEY MISMATCH for root@127\.0\.0\.1:\d+: .*man-in-the-middle/s);
    expect((err as Error).message).toContain(node.ssh.hostKeyFingerprint);
    expect(pool.stats().execs).toBe(0);
    expect(await nodeState()).toBe(before);
  });
});

// ---- the node lock lost between executions ---------------------------------------------------------------------

describe("the node lock lost while a transaction holds it", () => {
  let beforeLockTest: string | undefined;
  // Regression: when the connection dropped after the lock was taken but before the next execution, the pool
  // redialed and the read/apply ran on the new connection although the remote flock died with the old one. The
  // session now refuses to start a command once its lock is lost.
  it("does not run the read or the apply once the lock is gone", async () => {
    await resetNode();
    const pool = new SshPool();
    const inner = sshSession(connection(proxy.port, "root"), { exec: { pool }, lock: { pool } });
    let held: Promise<{ code: number }> | undefined;
    const session: HostSession = {
      ...inner,
      run: async (command, stdin) => {
        if (!held) {
          proxy.cut(); // the lock is held on this connection; the link drops before the read starts
          await new Promise((r) => setTimeout(r, 100));
          // Someone else (an operator, another stack) now takes the node lock and keeps it for 3 s.
          held = execOnNode(lab, node.name, ["flock", "-n", NODE_LOCK, "sleep", "3"]);
          await new Promise((r) => setTimeout(r, 200));
        }
        return inner.run(command, stdin);
      },
    };
    const before = await nodeState();
    const outcome = await runTransaction(session, [rule("lockless", 60, { publishedPorts: [7100] })], "test").then(
      (o) => ({ ok: allOk(o), error: undefined }),
      (e: unknown) => ({ ok: false, error: e }),
    );
    const during = await execOnNode(lab, node.name, ["iptables-save", "-t", "filter"]);
    const other = await held;
    pool.closeAll();
    const changedWhileHeldByOther = other?.code === 0 && during.stdout.includes("lockless");
    console.log(
      `lock lost before the read: transaction ${outcome.ok ? "succeeded" : `failed (${String(outcome.error)})`}, ` +
        `the other holder got the lock: ${other?.code === 0}, the node changed while the other held it: ${changedWhileHeldByOther}, ` +
        `connections opened: ${pool.stats().connectionsOpened}`,
    );
    beforeLockTest = before;
    expect(changedWhileHeldByOther).toBe(false);
    expect(outcome.ok).toBe(false);
  });

  it("(cleanup) the rule that test may have made is removed", async () => {
    expect(allOk(await transact(connection(node.ssh.port, "root"), [rule("lockless", 60, null)]))).toBe(true);
    expect(await nodeState()).toBe(beforeLockTest);
  });
});
