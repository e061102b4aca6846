// Applying and reading 40 DOCKER-USER rules on each of 5 lab nodes (real sshd, real dockerd, real iptables), at
// 0 ms and 50 ms simulated round trip, side by side with what people do today with @pulumi/command: a NEW SSH
// connection and ONE iptables command per rule.
//
//   ours      40 concurrent intents through one HostBatcher per host (lock + read + apply), all hosts in parallel;
//             reading = readHostState (one execution), on a cold pool (the connection is dialled too)
//   naive     per rule: new ssh2 connection, `iptables -C … || iptables -I DOCKER-USER <n> …` (in declared order,
//             as a dependsOn chain runs them), all hosts in parallel; reading = `iptables -S DOCKER-USER` per rule
//   naive ∥8  the same without a chain: 8 rules at a time per host, `-C || -I DOCKER-USER` (order is lost)
//   per host  reading only: one connection and one `iptables -S DOCKER-USER` per host (for reference)
//
// Run: npx tsx bench/node-apply.ts            (env: BENCH_RTTS=0,50 BENCH_NODES=5 BENCH_RULES=40 BENCH_REPS=3)
// Before/after in one run: BENCH_BASELINE=<another checkout> (e.g. `git worktree add --detach /tmp/base main` and a
// node_modules symlink) adds "ours (baseline)" rows, measured alternately with ours on the same lab, so machine load
// hits both alike.
// Writes bench/results/node-apply.json (ignored by git). Brings up its own labs (ids dfwb<rtt>) and always tears them
// down. Exits 1 when a target is missed (≤ 2 executions per host to apply, 1 to read, apply ≤ 400 ms at 0 ms RTT
// and ≤ 600 ms at 50 ms, reading no slower than the naive single `iptables -S` per host).
// The rules and what is measured: bench/node-apply-work.ts; the naive baseline: bench/naive-ssh.ts.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { downLab, type LabInventory, type LabNode, locateLab, upLab } from "../lab/index";
import { claimLab } from "../lab/owner";
import { REPO_ROOT } from "../lab/paths";
import { type Connection, parseConnection } from "../provider/model/connection";
import type { Intent } from "../provider/netfilter/intent";
import { HostBatcher } from "../provider/node/batch";
import { sshSession } from "../provider/node/session";
import { SshPool } from "../provider/node/ssh-pool";
import { readHostState } from "../provider/node/transaction";
import { naiveApply, naiveRead } from "./naive-ssh";
import { type BenchRule, benchRules, checkChains, type Measure, median, type Row, resetNodes } from "./node-apply-work";

const RTTS = (process.env.BENCH_RTTS ?? "0,50").split(",").map(Number);
const NODES = Number(process.env.BENCH_NODES ?? 5);
const RULES = Number(process.env.BENCH_RULES ?? 40);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const NAIVE_PARALLEL = 8;
const RESULTS = join(REPO_ROOT, "bench", "results", "node-apply.json");
const BASELINE = process.env.BENCH_BASELINE;

/** The node layer of one checkout: this one, or the baseline's (its own module copies, pools and caches). */
interface Impl {
  readonly name: string;
  readonly HostBatcher: typeof HostBatcher;
  readonly sshSession: typeof sshSession;
  readonly SshPool: typeof SshPool;
  readonly parseConnection: typeof parseConnection;
  readonly readHostState: typeof readHostState;
}
const CURRENT: Impl = { name: "ours", HostBatcher, sshSession, SshPool, parseConnection, readHostState };

async function loadBaseline(dir: string): Promise<Impl> {
  const m = async (p: string) => import(join(dir, "provider", p));
  return {
    name: "ours (baseline)",
    HostBatcher: (await m("node/batch.ts")).HostBatcher,
    sshSession: (await m("node/session.ts")).sshSession,
    SshPool: (await m("node/ssh-pool.ts")).SshPool,
    parseConnection: (await m("model/connection.ts")).parseConnection,
    readHostState: (await m("node/transaction.ts")).readHostState,
  };
}

// ---- ours ----------------------------------------------------------------------------------------------------------

function connectionOf(n: LabNode, impl: Impl = CURRENT): Connection {
  return impl.parseConnection({
    host: n.ssh.host,
    port: n.ssh.port,
    user: "root",
    privateKey: readFileSync(n.privateKeyPath, "utf8"),
    hostKey: n.ssh.hostKey,
  });
}

async function oursApply(
  lab: LabInventory,
  rules: readonly BenchRule[],
  impl: Impl,
): Promise<Measure & { transactions: number }> {
  const pool = new impl.SshPool();
  const t0 = performance.now();
  const batchers = lab.nodes.map(
    (n) => new impl.HostBatcher(impl.sshSession(connectionOf(n, impl), { exec: { pool }, lock: { pool } }), "bench"),
  );
  await Promise.all(
    batchers.map(async (b) => {
      const intents: Intent[] = rules.map((r) => ({ kind: "rule", id: r.id, priority: r.priority, rule: r.rule }));
      const settled = await Promise.all(intents.map((x) => b.submit(x)));
      const bad = settled.find((s) => !s.result.ok);
      if (bad && !bad.result.ok) throw bad.result.error;
    }),
  );
  const wallMs = performance.now() - t0;
  const s = pool.stats();
  pool.closeAll();
  const transactions = batchers.reduce((sum, b) => sum + b.transactions, 0);
  return { wallMs, connections: s.connectionsOpened, executions: s.execs, transactions };
}

async function oursRead(lab: LabInventory, rules: readonly BenchRule[], impl: Impl): Promise<Measure> {
  const pool = new impl.SshPool();
  const t0 = performance.now();
  await Promise.all(
    lab.nodes.map(async (n) => {
      const { state } = await impl.readHostState(
        impl.sshSession(connectionOf(n, impl), { exec: { pool }, lock: { pool } }),
      );
      const chain = state.saves.nft.ipv4?.tables.get("filter")?.rules ?? [];
      const count = chain.filter((r) => r.line.includes('--comment "dfw:')).length;
      if (count !== rules.length) throw new Error(`${n.name}: read ${count} managed rules, expected ${rules.length}`);
    }),
  );
  const wallMs = performance.now() - t0;
  const s = pool.stats();
  pool.closeAll();
  return { wallMs, connections: s.connectionsOpened, executions: s.execs };
}

// ---- one lab per round trip time -------------------------------------------------------------------------------------

async function scenario(rttMs: number, rules: readonly BenchRule[], log: (m: string) => void): Promise<Row[]> {
  const loc = { labId: `dfwb${rttMs}`, stateDir: join(REPO_ROOT, ".lab", `dfwb${rttMs}`) };
  mkdirSync(locateLab(loc).stateDir, { recursive: true });
  claimLab(locateLab(loc));
  const rows: Row[] = [];
  const t0 = performance.now();
  try {
    const lab = await upLab({ ...loc, nodes: NODES, rttMs });
    log(`rtt ${rttMs} ms: lab ${loc.labId} with ${NODES} nodes up in ${Math.round(performance.now() - t0)} ms`);
    const hosts = lab.nodes.length;
    const row = (operation: Row["operation"], approach: string, ms: Measure[], extra: Partial<Row> = {}): Row => {
      const r: Row = {
        rttMs,
        operation,
        approach,
        wallMs: Math.round(median(ms.map((m) => m.wallMs))),
        connectionsPerHost: (ms[0] as Measure).connections / hosts,
        executionsPerHost: (ms[0] as Measure).executions / hosts,
        reps: ms.length,
        wallMsAll: ms.map((m) => Math.round(m.wallMs)),
        ...extra,
      };
      log(
        `  ${operation} ${approach}: ${r.wallMs} ms (${r.wallMsAll.join(", ")}), per host ${r.connectionsPerHost} conn / ${r.executionsPerHost} exec`,
      );
      rows.push(r);
      return r;
    };

    // ours (and the baseline, alternately): apply REPS times from an empty chain, then read REPS times (cold pool)
    const impls = [CURRENT, ...(BASELINE ? [await loadBaseline(BASELINE)] : [])];
    const applies = impls.map((): Array<Measure & { transactions: number }> => []);
    const checks = impls.map(() => ({ rulesPresent: false, inDeclaredOrder: false }));
    const reads = impls.map((): Measure[] => []);
    for (let k = 0; k < REPS; k++) {
      for (const [i, impl] of impls.entries()) {
        await resetNodes(lab);
        applies[i]?.push(await oursApply(lab, rules, impl));
        checks[i] = await checkChains(lab, rules);
        reads[i]?.push(await oursRead(lab, rules, impl));
      }
    }
    for (const [i, impl] of impls.entries()) {
      const a = applies[i] as Array<Measure & { transactions: number }>;
      row("apply", impl.name, a, { transactionsPerHost: (a[0]?.transactions ?? 0) / hosts, ...checks[i] });
      row("read", impl.name, reads[i] as Measure[]);
    }

    // naive, in declared order (one rule after the other per host)
    await resetNodes(lab);
    const seq = await naiveApply(lab, rules, 1);
    row("apply", "naive (new conn + 1 cmd per rule, ordered)", [seq], await checkChains(lab, rules));
    row("read", "naive (iptables -S per rule)", [await naiveRead(lab, rules, true)]);
    row("read", "naive (iptables -S once per host)", [await naiveRead(lab, rules, false)]);

    // naive, 8 at a time per host
    await resetNodes(lab);
    const par = await naiveApply(lab, rules, NAIVE_PARALLEL);
    row(
      "apply",
      `naive (new conn + 1 cmd per rule, ${NAIVE_PARALLEL} at a time)`,
      [par],
      await checkChains(lab, rules),
    );
    await resetNodes(lab);
    return rows;
  } finally {
    const d0 = performance.now();
    await downLab(loc);
    rmSync(locateLab(loc).stateDir, { recursive: true, force: true });
    log(`rtt ${rttMs} ms: lab down in ${Math.round(performance.now() - d0)} ms`);
  }
}

function table(rows: readonly Row[]): string {
  const head = ["rtt", "op", "approach", "wall ms", "conn/host", "exec/host", "tx/host", "exact", "ordered", "ours ×"];
  const body = rows.map((r) => {
    const ours = rows.find((o) => o.rttMs === r.rttMs && o.operation === r.operation && o.approach === "ours");
    const speedup = ours && r.approach !== "ours" ? `${(r.wallMs / Math.max(1, ours.wallMs)).toFixed(1)}` : "";
    const yn = (b: boolean | undefined) => (b === undefined ? "" : b ? "yes" : "NO");
    return [
      `${r.rttMs} ms`,
      r.operation,
      r.approach,
      String(r.wallMs),
      String(r.connectionsPerHost),
      String(r.executionsPerHost),
      r.transactionsPerHost === undefined ? "" : String(r.transactionsPerHost),
      yn(r.rulesPresent),
      yn(r.inDeclaredOrder),
      speedup,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ");
  return [fmt(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(fmt)].join("\n");
}

async function main() {
  const started = performance.now();
  const log = (m: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${m}`);
  const rules = benchRules(RULES);
  const rows: Row[] = [];
  for (const rtt of RTTS) rows.push(...(await scenario(rtt, rules, log)));
  const totalMs = Math.round(performance.now() - started);
  console.log(`\n${NODES} nodes × ${RULES} rules; "ours ×" = how many times longer than ours\n${table(rows)}`);
  const targets = RTTS.map((rtt) => {
    const ours = rows.find((r) => r.rttMs === rtt && r.operation === "apply" && r.approach === "ours") as Row;
    const oursRead = rows.find((r) => r.rttMs === rtt && r.operation === "read" && r.approach === "ours") as Row;
    const naive = rows.find(
      (r) => r.rttMs === rtt && r.approach.startsWith("naive (new conn + 1 cmd per rule, ordered"),
    ) as Row;
    const naiveRead = rows.find((r) => r.rttMs === rtt && r.approach === "naive (iptables -S once per host)") as Row;
    const applyTargetMs = rtt >= 50 ? 600 : 400;
    return {
      rttMs: rtt,
      applyMs: ours.wallMs,
      applyTargetMs,
      applyWithinTarget: ours.wallMs <= applyTargetMs,
      applyExecutionsPerHost: ours.executionsPerHost,
      applyWithin2: ours.executionsPerHost <= 2,
      readMs: oursRead.wallMs,
      naiveReadMs: naiveRead.wallMs,
      readNoSlower: oursRead.wallMs <= naiveRead.wallMs,
      readExecutionsPerHost: oursRead.executionsPerHost,
      readWithin1: oursRead.executionsPerHost <= 1,
      applySpeedupVsNaive: Number((naive.wallMs / ours.wallMs).toFixed(1)),
    };
  });
  const yn = (b: boolean) => (b ? "met" : "MISSED");
  for (const t of targets) {
    console.log(
      `rtt ${t.rttMs} ms: apply ${t.applyMs} ms (target ≤ ${t.applyTargetMs}: ${yn(t.applyWithinTarget)}), ` +
        `${t.applyExecutionsPerHost} executions/host (target ≤ 2: ${yn(t.applyWithin2)}); ` +
        `read ${t.readMs} ms vs naive ${t.naiveReadMs} ms (target ≤: ${yn(t.readNoSlower)}), ` +
        `${t.readExecutionsPerHost} execution/host (target 1: ${yn(t.readWithin1)}); ` +
        `apply ${t.applySpeedupVsNaive}× faster than the ordered naive baseline`,
    );
  }
  console.log(`benchmark took ${(totalMs / 1000).toFixed(1)} s`);
  const missed = targets.some((t) => !t.applyWithinTarget || !t.applyWithin2 || !t.readNoSlower || !t.readWithin1);
  if (missed) process.exitCode = 1;
  mkdirSync(join(REPO_ROOT, "bench", "results"), { recursive: true });
  writeFileSync(
    RESULTS,
    `${JSON.stringify({ date: new Date().toISOString(), nodes: NODES, rules: RULES, reps: REPS, totalMs, rows, targets }, null, 2)}\n`,
  );
  console.log(`wrote ${RESULTS}`);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
