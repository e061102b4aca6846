// The node layer under faults, on a lab node of its own over real SSH:
// - the SSH connection severed at random points of a transaction (a proxy in front of the node's sshd cuts both
//   sockets after N bytes or after 0-300 ms): once any orphaned apply has finished, the node is EXACTLY as before
//   or EXACTLY as after (DOCKER-USER lines and ipset contents), never partial, and a retry converges;
// - two OS processes applying different rule sets to the node at the same time: nothing lost, doubled or misordered;
// - the sudo user works, the password-sudo user gets SudoNeedsPassword, a wrong pinned host key is refused.
// Trial count: DFW_FAULT_TRIALS (default 50); the cut points come from DFW_FAULT_SEED (printed).

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downLab, execOnNode, type LabInventory, type LabNode, locateLab, upLab } from "../../lab/index";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";
import { type Connection, parseConnection } from "../../provider/model/connection";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import type { Intent } from "../../provider/netfilter/plan-transaction";
import { renderRule } from "../../provider/netfilter/render-rule";
import { compareTags } from "../../provider/netfilter/tag";
import { isNodeError } from "../../provider/node/errors";
import { type HostSession, sshSession } from "../../provider/node/session";
import { SshPool } from "../../provider/node/ssh-pool";
import { runTransaction, type TransactionOutcome } from "../../provider/node/transaction";
import { recordCase } from "../reliability/results";
import { FaultProxy } from "../support/fault-proxy";
import { presentIn, RULES_PER_WORKER, roundIntents, type WorkerConfig } from "../support/rounds-worker";

const TRIALS = Number(process.env.DFW_FAULT_TRIALS ?? 50);
const SEED = Number(process.env.DFW_FAULT_SEED ?? 4242);
const MAX_CUT_DELAY_MS = 300;
const RETRY_ATTEMPTS = 5;
const HANG_MS = 60_000;
const APPLY_LOCK = "/run/lock/pulumi-docker-firewall.apply";
const NODE_LOCK = "/run/lock/pulumi-docker-firewall.lock";
const FOREIGN = "-A DOCKER-USER -s 203.0.113.7/32 -j DROP";

const LAB_ID = uniqueLabId("dfwtm"); // the "throwaway" prefix: a later run reaps it should this one die
const LAB = { labId: LAB_ID, stateDir: join(REPO_ROOT, ".lab", LAB_ID) };
let lab: LabInventory;
let node: LabNode;
let privateKey: string;

// ---- the two states the trials move between ------------------------------------------------------------------

type Side = "A" | "B";
const other = (s: Side): Side => (s === "A" ? "B" : "A");

const net24 = (i: number) => `10.${1 + (i >> 8)}.${i & 255}.0/24`;
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const SET_ENTRIES: Record<Side, string[]> = { A: range(0, 200).map(net24), B: range(100, 200).map(net24) };

const set = (name: string, entries: string[] | null): Intent => ({
  kind: "set",
  name,
  spec: entries && ipSetArgs.parse({ name, type: "hash:net", entries }),
});
const rule = (id: string, priority: number, args: Record<string, unknown> | null): Intent => ({
  kind: "rule",
  id,
  priority,
  rule: args && dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", ...args }),
});

/**
 * Everything declared for side X: from the other side this updates 5 rules, creates 5 (on a set it creates), deletes
 * 5 (and the set they used), and refills a 200-member set (100 members change).
 */
function intentsFor(x: Side): Intent[] {
  const a = x === "A";
  return [
    set("fz", SET_ENTRIES[x]),
    set("fza", a ? range(0, 20).map((i) => `172.16.${i}.0/24`) : null),
    set("fzb", a ? null : range(0, 20).map((i) => `172.17.${i}.0/24`)),
    ...range(0, 5).flatMap((i) => [
      rule(`k${i}`, 100 + 3 * i, {
        publishedPorts: [(a ? 1000 : 2000) + i],
        ...((i % 2 === 0) === a && { source: { set: "fz" } }),
      }),
      rule(
        `a${i}`,
        101 + 3 * i,
        a ? { action: "DROP", protocol: "udp", publishedPorts: [3000 + i], source: { set: "fza" } } : null,
      ),
      rule(`b${i}`, 102 + 3 * i, a ? null : { publishedPorts: [4000 + i, 4100 + i], source: { set: "fzb" } }),
    ]),
  ];
}

// ---- reading the node directly (as root inside its namespaces, no SSH) -------------------------------------

/** DOCKER-USER lines and `ipset save` (random initval removed, sorted), read while holding the apply lock. */
async function nodeState(): Promise<string> {
  const r = await execOnNode(lab, node.name, [
    "flock",
    "-w",
    "60",
    APPLY_LOCK,
    "sh",
    "-c",
    "iptables-save -t filter && echo @@ && ipset save",
  ]);
  if (r.code !== 0) throw new Error(`reading ${node.name} failed: ${r.stderr}`);
  const [ipt = "", sets = ""] = r.stdout.split("@@\n");
  const chain = ipt.split("\n").filter((l) => l.startsWith("-A DOCKER-USER "));
  const setLines = sets
    .split("\n")
    .filter(Boolean)
    .map((l) => l.replace(/ initval 0x[0-9a-f]+/, ""))
    .sort();
  return [...chain, "--", ...setLines].join("\n");
}

/** True while an apply holds the apply lock (e.g. one orphaned by a dropped connection). */
async function applyRunning(): Promise<boolean> {
  return (await execOnNode(lab, node.name, ["flock", "-n", APPLY_LOCK, "true"])).code !== 0;
}

async function resetNode(): Promise<void> {
  const script = `iptables -F DOCKER-USER && iptables -A ${FOREIGN.slice(3)} && iptables -A DOCKER-USER -j RETURN && ipset destroy`;
  const r = await execOnNode(lab, node.name, ["sh", "-c", script]);
  if (r.code !== 0) throw new Error(`reset failed: ${r.stderr}`);
}

// ---- connections -----------------------------------------------------------------------------------------------

type Who = "root" | "sudo";
function connection(port: number, who: Who, hostKey = node.ssh.hostKey): Connection {
  const user = who === "root" ? "root" : node.sudoUser;
  return parseConnection({ host: "127.0.0.1", port, user, sudo: who === "sudo", privateKey, hostKey });
}

/** One transaction on a fresh pool (a fresh SSH connection), which is closed afterwards. */
async function transact(conn: Connection, intents: readonly Intent[], pool = new SshPool()) {
  try {
    return await runTransaction(sshSession(conn, { exec: { pool }, lock: { pool } }), intents, "node-faults test");
  } finally {
    pool.closeAll();
  }
}

const allOk = (o: TransactionOutcome) => o.results.every((r) => r.ok);

// ---- cut points --------------------------------------------------------------------------------------------------

/** mulberry32: the same seed gives the same cut points. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface TrialPlan {
  readonly k: number;
  readonly from: Side;
  readonly who: Who;
  readonly by: "bytes" | "ms";
  /** Stratified: the bytes trials spread over the whole transaction, the delay trials over 0-300 ms. */
  readonly u: number;
  readonly label: string;
}

const trialPlans: TrialPlan[] = (() => {
  const rand = prng(SEED);
  // bytes, bytes, ms, ms, …: each kind of cut in both directions (the direction alternates: each trial converges).
  const kindOf = (k: number) => (Math.floor(k / 2) % 2 === 0 ? "bytes" : "ms");
  const total = { bytes: 0, ms: 0 };
  for (const k of range(0, TRIALS)) total[kindOf(k)]++;
  const seen = { bytes: 0, ms: 0 };
  return range(0, TRIALS).map((k): TrialPlan => {
    const by = kindOf(k);
    const u = (seen[by]++ + rand()) / total[by];
    const from: Side = k % 2 === 0 ? "A" : "B";
    const who: Who = k % 3 === 2 ? "sudo" : "root";
    const where =
      by === "bytes" ? `at ${(u * 100).toFixed(1)}% of the bytes` : `after ${Math.round(u * MAX_CUT_DELAY_MS)} ms`;
    return { k, from, who, by, u, label: `${from} -> ${other(from)} as ${who}, cut ${where}` };
  });
})();

interface TrialRecord {
  readonly k: number;
  readonly trigger: string;
  readonly who: Who;
  readonly cut: "mid-transaction" | "after completion" | "none";
  readonly client: string;
  /** ms from the cut until the client's call settled. */
  readonly surfacedMs: number | undefined;
  readonly orphanRunning: boolean;
  readonly observed: "before" | "after";
  readonly retries: number;
  /** Executions that completed after the connection holding the node lock had dropped (a redialed one). */
  readonly unlockedRuns: number;
  /** ms from the cut (or the call, when nothing was cut) until a retry confirmed the after state. */
  readonly convergeMs: number;
}

const records: TrialRecord[] = [];
const snapshots = {} as Record<Side, string>;
const calibration = {} as Record<Who, { bytes: number; ms: number }>;
let proxy: FaultProxy;

beforeAll(async () => {
  mkdirSync(locateLab(LAB).stateDir, { recursive: true });
  claimLab(locateLab(LAB));
  lab = await upLab({ ...LAB, nodes: 1 });
  node = lab.nodes[0] as LabNode;
  privateKey = readFileSync(node.privateKeyPath, "utf8");
  proxy = await FaultProxy.start(node.ssh.port);
  await resetNode();
  // The two states, as the kernel prints them.
  const direct = connection(node.ssh.port, "root");
  for (const side of ["A", "B", "A", "B"] as const) {
    expect(allOk(await transact(direct, intentsFor(side)))).toBe(true);
    const state = await nodeState();
    if (snapshots[side] !== undefined) expect(state).toBe(snapshots[side]);
    snapshots[side] = state;
  }
  expect(snapshots.A).not.toBe(snapshots.B);
  expect(snapshots.A).toContain(FOREIGN);
  // How many bytes and ms a whole uncut transaction takes through the proxy (fresh connection, both directions).
  for (const who of ["root", "sudo"] as const) {
    for (const side of ["A", "B"] as const) {
      proxy.resetCounters();
      const t0 = performance.now();
      expect(allOk(await transact(connection(proxy.port, who), intentsFor(side)))).toBe(true);
      const measured = { bytes: proxy.upBytes + proxy.downBytes, ms: performance.now() - t0 };
      calibration[who] = calibration[who] && calibration[who].bytes < measured.bytes ? calibration[who] : measured;
    }
  }
  expect(await nodeState()).toBe(snapshots.B);
  await transact(direct, intentsFor("A"));
  console.log(
    `node-faults: lab ${LAB_ID} up in ${lab.upMs} ms; seed ${SEED}; ${TRIALS} trials; an uncut transaction through the proxy: ` +
      `root ${calibration.root.bytes} B / ${Math.round(calibration.root.ms)} ms, sudo ${calibration.sudo.bytes} B / ${Math.round(calibration.sudo.ms)} ms`,
  );
});

afterAll(async () => {
  await proxy?.close();
  await downLab(LAB);
  rmSync(locateLab(LAB).stateDir, { recursive: true, force: true });
});

async function withHangGuard<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe.sequential(`the SSH connection severed mid-transaction (${TRIALS} trials, seed ${SEED})`, () => {
  it.each(trialPlans)("trial $k: $label", async (plan) => {
    const to = other(plan.from);
    expect(await nodeState()).toBe(snapshots[plan.from]);
    const conn = connection(proxy.port, plan.who);
    const trigger =
      plan.by === "bytes"
        ? { afterBytes: Math.max(1, Math.round(plan.u * 0.98 * calibration[plan.who].bytes)) }
        : { afterMs: Math.round(plan.u * MAX_CUT_DELAY_MS) };
    const cutSeen = proxy.nextCut();
    const pool = new SshPool();
    // Counts executions that completed on another connection than the one holding the node lock (see the
    // "node lock lost" test below: a redial while the lock is held goes on without it).
    const inner = sshSession(conn, { exec: { pool }, lock: { pool } });
    let lockConnection = 0;
    let unlockedRuns = 0;
    const session: HostSession = {
      host: inner.host,
      locked: (owner, fn) =>
        inner.locked(owner, () => {
          lockConnection = pool.stats().connectionsOpened;
          return fn();
        }),
      run: async (command, stdin) => {
        const r = await inner.run(command, stdin);
        if (pool.stats().connectionsOpened !== lockConnection) unlockedRuns++;
        return r;
      },
    };
    proxy.arm(trigger);
    const t0 = performance.now();
    const call = runTransaction(session, intentsFor(to), "node-faults");
    let client: string;
    let ok = false;
    try {
      const outcome = await withHangGuard(call, "the cut transaction");
      ok = allOk(outcome);
      const failed = outcome.results.find((r) => !r.ok);
      client = failed && !failed.ok ? `result ${failed.error.kind}` : "ok";
    } catch (e) {
      expect(isNodeError(e), String(e)).toBe(true);
      client = (e as { kind: string }).kind;
    }
    const settledAt = performance.now();
    let cut: TrialRecord["cut"];
    let cutAt: number;
    if (proxy.cutReport) {
      cut = "mid-transaction";
      cutAt = t0 + proxy.cutReport.atMs;
    } else if ("afterMs" in trigger) {
      await cutSeen; // the call finished first: the cut now only severs the idle pooled connection
      cut = "after completion";
      cutAt = performance.now();
    } else {
      proxy.disarm(); // the byte count was never reached
      cut = "none";
      cutAt = settledAt;
    }
    pool.closeAll();
    const surfacedMs = cut === "mid-transaction" ? settledAt - cutAt : undefined;

    // Whatever the client saw, an apply may still be running on the node: nodeState waits for it (apply lock).
    const orphanRunning = await applyRunning();
    const seen = await nodeState();
    const observed = seen === snapshots[plan.from] ? "before" : seen === snapshots[to] ? "after" : undefined;
    if (observed === undefined) {
      throw new Error(`trial ${plan.k}: the node is neither before nor after (client saw ${client}):\n${seen}`);
    }
    if (ok) expect(observed).toBe("after");

    // The retry, through a fresh connection straight to the node.
    let retries = 0;
    for (;;) {
      retries++;
      const again = await transact(connection(node.ssh.port, plan.who), intentsFor(to));
      if (allOk(again) && (await nodeState()) === snapshots[to]) break;
      if (retries >= RETRY_ATTEMPTS) throw new Error(`trial ${plan.k}: no convergence after ${retries} retries`);
    }
    const convergeMs = performance.now() - cutAt;
    const trigText = "afterBytes" in trigger ? `${trigger.afterBytes} B` : `${trigger.afterMs} ms`;
    records.push({
      k: plan.k,
      trigger: trigText,
      who: plan.who,
      cut,
      client,
      surfacedMs,
      orphanRunning,
      observed,
      retries,
      unlockedRuns,
      convergeMs,
    });
  });

  it("summary: never partial; both outcomes seen; every retry converged", () => {
    expect(records).toHaveLength(TRIALS);
    const count = (f: (r: TrialRecord) => boolean) => records.filter(f).length;
    const mid = records.filter((r) => r.cut === "mid-transaction");
    const rows = records.map(
      (r) =>
        `${String(r.k).padStart(3)} ${r.who.padEnd(4)} ${r.trigger.padStart(8)}  ${r.cut.padEnd(16)} ${r.client.padEnd(15)} ` +
        `${r.observed.padEnd(6)} ${r.client !== "ok" && r.surfacedMs !== undefined ? `error after ${Math.round(r.surfacedMs)}ms `.padEnd(20) : "".padEnd(20)}orphan=${r.orphanRunning ? "yes" : "no "} unlocked=${r.unlockedRuns} retries=${r.retries} converge=${Math.round(r.convergeMs)}ms`,
    );
    const worst = Math.max(...records.map((r) => r.convergeMs));
    const failedCalls = mid.filter((r) => r.client !== "ok");
    const worstSurfaced = Math.max(0, ...failedCalls.map((r) => r.surfacedMs ?? 0));
    const clients = new Map<string, number>();
    for (const r of records) clients.set(r.client, (clients.get(r.client) ?? 0) + 1);
    console.log(
      [
        "node-faults trials:",
        ...rows,
        `trials ${records.length}: cut mid-transaction ${mid.length} (before ${count((r) => r.cut === "mid-transaction" && r.observed === "before")}, ` +
          `after ${count((r) => r.cut === "mid-transaction" && r.observed === "after")}), cut after completion ${count((r) => r.cut === "after completion")}, ` +
          `not cut ${count((r) => r.cut === "none")}`,
        `observed overall: before ${count((r) => r.observed === "before")}, after ${count((r) => r.observed === "after")}, partial 0`,
        `client saw: ${[...clients].map(([k, v]) => `${k} ${v}`).join(", ")}`,
        `orphaned remote executions (read or apply) still holding the apply lock when the client had its answer: ${count((r) => r.orphanRunning)}`,
        `transactions that went on over a redialed connection after losing the node lock: ${count((r) => r.unlockedRuns > 0)}`,
        `retries needed: ${[1, 2, 3, 4, 5].map((n) => `${n}: ${count((r) => r.retries === n)}`).join(", ")}`,
        `worst time from the cut until a retry confirmed the after state: ${Math.round(worst)} ms; ` +
          `worst time from a cut to the client's error: ${Math.round(worstSurfaced)} ms`,
      ].join("\n"),
    );
    recordCase("SSH cut mid-apply: exactly before or after", records.length, records.length, 0, worst);
    expect(count((r) => r.unlockedRuns > 0)).toBe(0);
    expect(mid.length).toBeGreaterThanOrEqual(Math.floor(TRIALS * 0.4));
    expect(count((r) => r.cut === "mid-transaction" && r.observed === "before")).toBeGreaterThan(0);
    expect(count((r) => r.cut === "mid-transaction" && r.observed === "after")).toBeGreaterThan(0);
  });
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
