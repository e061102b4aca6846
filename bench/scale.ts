// The scale curve of one host through the node layer (HostBatcher: one lock, one read, one apply, verify), on a
// lab node (real sshd, real dockerd, real iptables) or on a scratch kernel namespace (no SSH):
//   rules per host 10 → 2,000: all created in one batch, then all deleted in one batch;
//   ipset 1,000 → 100,000 entries: created, 1% of the entries changed, deleted;
//   hosts 1 → 20 on light nodes (bench/scale-hosts.ts: sshd + iptables-nft, no dockerd), and the provider process's
//   peak RSS for 20 hosts × 200 rules through the dynamic-provider host.
// Each cell is the wall time until every intent settled, with the part spent in remote executions in brackets
// (the rest is the provider process: planning, parsing the read-back, verifying, blame).
//
// Run: npm run bench:scale   (env: BENCH_SCALE_TARGET=lab|netns (lab), BENCH_SCALE_RULES=10,200,1000,2000,
//      BENCH_SCALE_SETS=1000,10000,100000, BENCH_SCALE_HOSTS=1,5,10,20, BENCH_SCALE_HOST_RULES=40, BENCH_SCALE_RSS=0 to
//      skip the RSS run, BENCH_REPS=1). Brings up its own lab (id dfwscale, or BENCH_SCALE_LAB: at most 8 characters)
//      and light nodes, and tears them down. Writes bench/results/scale.json and the chart scale.svg / scale.png.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { downLab, execOnNode, type LabNode, locateLab, upLab } from "../lab/index";
import { claimLab } from "../lab/owner";
import { REPO_ROOT } from "../lab/paths";
import { parseConnection } from "../provider/model/connection";
import { ipSetArgs } from "../provider/model/ipset";
import { dockerUserRuleArgs } from "../provider/model/rule";
import type { Intent } from "../provider/netfilter/intent";
import { HostBatcher } from "../provider/node/batch";
import { type HostSession, sshSession } from "../provider/node/session";
import { SshPool } from "../provider/node/ssh-pool";
import { ScratchNamespace } from "../test/support/netns";
import { netnsSession } from "../test/support/netns-session";
import { drawScaleChart } from "./scale-chart";
import { hostsCurve } from "./scale-hosts";

const TARGET = process.env.BENCH_SCALE_TARGET === "netns" ? "netns" : "lab";
const list = (v: string | undefined, d: string) => (v ?? d).split(",").filter(Boolean).map(Number);
const RULES = list(process.env.BENCH_SCALE_RULES, "10,200,1000,2000");
const SETS = list(process.env.BENCH_SCALE_SETS, "1000,10000,100000");
const REPS = Number(process.env.BENCH_REPS ?? 1);
const HOSTS = list(process.env.BENCH_SCALE_HOSTS, "1,5,10,20");
const HOST_RULES = Number(process.env.BENCH_SCALE_HOST_RULES ?? 40);
const RESULTS = join(REPO_ROOT, "bench", "results", "scale.json");

/** A host to measure on: a fresh session per measurement (cold pool), counting remote time and executions. */
interface Host {
  readonly name: string;
  session(): { session: HostSession; stats(): { remoteMs: number; executions: number }; close(): void };
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** Remote time = waiting for the lock (its holder also reads the state) + every command; executions as counted by
 * `executions()` (the pool's channels: a read answered by the lock holder is not one). */
function counted(inner: HostSession, executions: () => number, close: () => void) {
  let remoteMs = 0;
  const session: HostSession = {
    host: inner.host,
    locked: (owner, fn) => {
      const t = performance.now();
      return inner.locked(owner, (proof) => {
        remoteMs += performance.now() - t;
        return fn(proof);
      });
    },
    run: async (command, stdin) => {
      const t = performance.now();
      try {
        return await inner.run(command, stdin);
      } finally {
        remoteMs += performance.now() - t;
      }
    },
  };
  return { session, stats: () => ({ remoteMs, executions: executions() }), close };
}

const reset = (iptables: string) =>
  `${iptables} -F DOCKER-USER && ${iptables} -A DOCKER-USER -j RETURN && { ipset destroy 2>/dev/null; true; }`;

async function labHost(log: (m: string) => void): Promise<Host> {
  const labId = process.env.BENCH_SCALE_LAB ?? "dfwscale";
  const loc = { labId, stateDir: join(REPO_ROOT, ".lab", labId) };
  mkdirSync(locateLab(loc).stateDir, { recursive: true });
  claimLab(locateLab(loc));
  const t0 = performance.now();
  const lab = await upLab({ ...loc, nodes: 1, rttMs: 0 }).catch(async (e) => {
    await downLab(loc);
    throw e;
  });
  const node = lab.nodes[0] as LabNode;
  log(`lab ${loc.labId} up in ${Math.round(performance.now() - t0)} ms`);
  const conn = parseConnection({
    host: node.ssh.host,
    port: node.ssh.port,
    user: "root",
    privateKey: readFileSync(node.privateKeyPath, "utf8"),
    hostKey: node.ssh.hostKey,
  });
  return {
    name: `lab node ${node.name} (sshd, dockerd)`,
    session: () => {
      const pool = new SshPool();
      return counted(
        sshSession(conn, { exec: { pool }, lock: { pool } }),
        () => pool.stats().execs,
        () => pool.closeAll(),
      );
    },
    reset: async () => {
      const r = await execOnNode(lab, node.name, ["sh", "-c", reset("iptables")]);
      if (r.code !== 0) throw new Error(`reset: ${r.stderr}`);
    },
    close: async () => {
      await downLab(loc);
      rmSync(locateLab(loc).stateDir, { recursive: true, force: true });
    },
  };
}

async function netnsHost(): Promise<Host> {
  const ns = await ScratchNamespace.create("dfwscale");
  await ns.installDockerUserChain("nft", "ipv4");
  return {
    name: `kernel namespace ${ns.name} (iptables-nft, no SSH)`,
    session: () => {
      const s = netnsSession(ns);
      return counted(s, s.executions, () => s.dispose());
    },
    reset: async () => {
      await ns.mustRun(["sh", "-c", reset("iptables-nft")]);
    },
    close: () => ns.destroy(),
  };
}

// ---- workloads -------------------------------------------------------------------------------------------------

function ruleIntents(n: number): Intent[] {
  return Array.from({ length: n }, (_, i) => {
    const args = [
      { action: "ACCEPT", protocol: "tcp", publishedPorts: [8000 + i], source: "198.51.100.0/26" },
      { action: "ACCEPT", protocol: "udp", publishedPorts: [20_000 + i] },
      { action: "DROP", protocol: "tcp", publishedPorts: [30_000 + i], source: "203.0.113.0/24" },
      { action: "ACCEPT", protocol: "tcp", publishedPorts: [40_000 + i], inInterface: "eth0" },
    ][i % 4];
    const rule = dockerUserRuleArgs.parse({ ...args, family: "ipv4" });
    return { kind: "rule", id: `scale-${i}`, priority: 100 + (i % 9000), rule };
  });
}

/** n distinct addresses from 10.0.0.0/8, starting at `from`. */
const addresses = (n: number, from = 0) =>
  Array.from({ length: n }, (_, k) => {
    const v = from + k + 1;
    return `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
  });

function setIntent(entries: readonly string[]): Intent {
  const spec = ipSetArgs.parse({ name: "scale", type: "hash:ip", entries, maxelem: 2 * entries.length + 1024 });
  return { kind: "set", name: "scale", spec };
}

export interface Cell {
  readonly wallMs: number;
  readonly remoteMs: number;
  readonly executions: number;
  readonly transactions: number;
}

/** Submits every intent at once to a fresh batcher and waits until all settled; every one must succeed. */
async function measure(host: Host, intents: readonly Intent[]): Promise<Cell> {
  const s = host.session();
  const batcher = new HostBatcher(s.session, "bench-scale");
  const t0 = performance.now();
  const settled = await Promise.all(intents.map((x) => batcher.submit(x)));
  const wallMs = performance.now() - t0;
  s.close();
  const bad = settled.find((r) => !r.result.ok);
  if (bad && !bad.result.ok) throw bad.result.error;
  const { remoteMs, executions } = s.stats();
  return { wallMs, remoteMs, executions, transactions: batcher.transactions };
}

const median = (cells: readonly Cell[]): Cell => {
  const sorted = [...cells].sort((a, b) => a.wallMs - b.wallMs);
  return sorted[Math.floor(sorted.length / 2)] as Cell;
};

export interface Row {
  readonly kind: "rules" | "ipset";
  readonly n: number;
  readonly work: string;
  readonly cells: Record<string, Cell>;
}

async function rulesRow(host: Host, n: number): Promise<Row> {
  const create: Cell[] = [];
  const del: Cell[] = [];
  const intents = ruleIntents(n);
  const deletes = intents.map((x): Intent => (x.kind === "rule" ? { ...x, rule: null } : x));
  for (let k = 0; k < REPS; k++) {
    await host.reset();
    create.push(await measure(host, intents));
    del.push(await measure(host, deletes));
  }
  return {
    kind: "rules",
    n,
    work: `${n.toLocaleString("en")} rules`,
    cells: { create: median(create), delete: median(del) },
  };
}

async function setRow(host: Host, n: number): Promise<Row> {
  const entries = addresses(n);
  const changed = [...entries.slice(Math.ceil(n / 100)), ...addresses(Math.ceil(n / 100), 1 << 23)];
  const intents = { create: setIntent(entries), change: setIntent(changed) };
  const cells: Record<string, Cell[]> = { create: [], change: [], delete: [] };
  for (let k = 0; k < REPS; k++) {
    await host.reset();
    cells.create?.push(await measure(host, [intents.create]));
    cells.change?.push(await measure(host, [intents.change]));
    cells.delete?.push(await measure(host, [{ kind: "set", name: "scale", spec: null }]));
  }
  return {
    kind: "ipset",
    n,
    work: `ipset ${n.toLocaleString("en")} entries`,
    cells: Object.fromEntries(Object.entries(cells).map(([k, v]) => [k, median(v)])),
  };
}

function table(rows: readonly Row[]): string {
  const cols = ["create", "delete", "change"];
  const head = ["work", ...cols.map((c) => `${c} ms (remote)`), "exec/tx per cell"];
  const body = rows.map((r) => [
    r.work,
    ...cols.map((c) => {
      const cell = r.cells[c];
      return cell ? `${Math.round(cell.wallMs)} (${Math.round(cell.remoteMs)})` : "-";
    }),
    Object.values(r.cells)
      .map((c) => `${c.executions}/${c.transactions}`)
      .join(" "),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ");
  return [fmt(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(fmt)].join("\n");
}

async function main() {
  const started = performance.now();
  const log = (m: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${m}`);
  const host = TARGET === "lab" ? await labHost(log) : await netnsHost();
  const rows: Row[] = [];
  try {
    for (const n of RULES) {
      rows.push(await rulesRow(host, n));
      log(`${rows.at(-1)?.work}: ${JSON.stringify(rows.at(-1)?.cells)}`);
    }
    for (const n of SETS) {
      rows.push(await setRow(host, n));
      log(`${rows.at(-1)?.work}: ${JSON.stringify(rows.at(-1)?.cells)}`);
    }
    await host.reset();
  } finally {
    await host.close();
  }
  const hosts = HOSTS.length > 0 ? await hostsCurve(HOSTS, HOST_RULES, log) : { rows: [] };
  console.log(`\nscale on one host: ${host.name}; median of ${REPS}; one batch per cell\n${table(rows)}`);
  console.log(`\nhosts (light nodes), ${HOST_RULES} rules each, all at once:`);
  for (const h of hosts.rows) {
    console.log(
      `  ${String(h.hosts).padStart(2)} hosts: create ${h.createMs} ms, delete ${h.deleteMs} ms, ${h.executionsPerHost} executions and ${h.transactionsPerHost} transactions per host`,
    );
  }
  if (hosts.rss)
    console.log(
      `provider process peak RSS, ${hosts.rss.hosts} hosts × ${hosts.rss.rules} rules: ${hosts.rss.peakRssMiB} MiB`,
    );
  const dir = join(REPO_ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const data = { date: new Date().toISOString(), target: TARGET, host: host.name, reps: REPS, rows, hosts };
  writeFileSync(RESULTS, `${JSON.stringify(data, null, 2)}\n`);
  const files = drawScaleChart(
    join(dir, "scale"),
    `${host.name}; hosts on light nodes; ${data.date}`,
    rows,
    hosts.rows,
    HOST_RULES,
  );
  console.log(`wrote ${RESULTS}, ${files.join(", ")}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
