// The node layer under faults, on a lab node of its own over real SSH: the SSH connection severed at random points
// of a transaction (a proxy in front of the node's sshd cuts both sockets after N bytes or after 0-300 ms). Once any
// orphaned apply has finished, the node is EXACTLY as before or EXACTLY as after (DOCKER-USER lines and ipset
// contents), never partial, and a retry converges. (test/lab/node-access.test.ts covers two processes at once, who
// may change the node, and a lost node lock.)
// Trial count: DFW_FAULT_TRIALS (default 50); the cut points come from DFW_FAULT_SEED (printed).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabInventory, LabNode } from "../../lab/index";
import type { Intent } from "../../provider/netfilter/intent";
import { isNodeError } from "../../provider/node/errors";
import { type HostSession, sshSession } from "../../provider/node/session";
import { SshPool } from "../../provider/node/ssh-pool";
import { runTransaction } from "../../provider/node/transaction";
import { recordCase } from "../reliability/results";
import { FaultProxy } from "../support/fault-proxy";
import { allOk, FOREIGN, NodeLab, rule, set, transact, type Who } from "../support/node-lab";

const TRIALS = Number(process.env.DFW_FAULT_TRIALS ?? 50);
const SEED = Number(process.env.DFW_FAULT_SEED ?? 4242);
const MAX_CUT_DELAY_MS = 300;
const RETRY_ATTEMPTS = 5;
const HANG_MS = 60_000;

const nl = new NodeLab();
let lab: LabInventory;
let node: LabNode;

// ---- the two states the trials move between ------------------------------------------------------------------

type Side = "A" | "B";
const other = (s: Side): Side => (s === "A" ? "B" : "A");

const net24 = (i: number) => `10.${1 + (i >> 8)}.${i & 255}.0/24`;
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const SET_ENTRIES: Record<Side, string[]> = { A: range(0, 200).map(net24), B: range(100, 200).map(net24) };

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

const nodeState = () => nl.nodeState();
const applyRunning = () => nl.applyRunning();
const resetNode = () => nl.resetNode();
const connection = (port: number, who: Who, hostKey?: string) => nl.connection(port, who, hostKey);

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
  await nl.start();
  lab = nl.lab;
  node = nl.node;
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
    `node-faults: lab ${nl.labId} up in ${lab.upMs} ms; seed ${SEED}; ${TRIALS} trials; an uncut transaction through the proxy: ` +
      `root ${calibration.root.bytes} B / ${Math.round(calibration.root.ms)} ms, sudo ${calibration.sudo.bytes} B / ${Math.round(calibration.sudo.ms)} ms`,
  );
});

afterAll(async () => {
  await proxy?.close();
  await nl.stop();
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
        inner.locked(owner, (proof) => {
          lockConnection = pool.stats().connectionsOpened;
          return fn(proof);
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
