// The hosts axis of the scale curve, on light nodes (bench/light-nodes.ts: real sshd and iptables-nft, no dockerd):
//   hosts 1 → 20, each with `rules` rules created then deleted through one HostBatcher per host (cold pool), all
//   hosts at once: wall time and executions per host;
//   the provider process's peak RSS (VmHWM) for 20 hosts × 200 rules, through the real dynamic-provider host.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { REPO_ROOT } from "../lab/paths";
import { dockerUserRuleArgs } from "../provider/model/rule";
import type { Intent } from "../provider/netfilter/intent";
import { HostBatcher } from "../provider/node/batch";
import { sshSession } from "../provider/node/session";
import { SshPool } from "../provider/node/ssh-pool";
import { ruleShim } from "../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../test/support/engine";
import { type LightFleet, upLightFleet } from "./light-nodes";

const ruleArgs = (i: number) =>
  [
    { action: "ACCEPT", protocol: "tcp", publishedPorts: [8000 + i], source: "198.51.100.0/26" },
    { action: "ACCEPT", protocol: "udp", publishedPorts: [20_000 + i] },
    { action: "DROP", protocol: "tcp", publishedPorts: [30_000 + i], source: "203.0.113.0/24" },
    { action: "ACCEPT", protocol: "tcp", publishedPorts: [40_000 + i], inInterface: "eth0" },
  ][i % 4] as Record<string, unknown>;

const intents = (n: number, del: boolean): Intent[] =>
  Array.from({ length: n }, (_, i) => ({
    kind: "rule",
    id: `h-${i}`,
    priority: 100 + i,
    rule: del ? null : dockerUserRuleArgs.parse({ ...ruleArgs(i), family: "ipv4" }),
  }));

export interface HostsRow {
  readonly hosts: number;
  readonly rulesPerHost: number;
  readonly createMs: number;
  readonly deleteMs: number;
  readonly executionsPerHost: number;
  readonly transactionsPerHost: number;
}

async function round(fleet: LightFleet, hosts: number, list: Intent[]) {
  const pool = new SshPool();
  const nodes = fleet.nodes.slice(0, hosts);
  const batchers = nodes.map((n) => new HostBatcher(sshSession(n.connection, { exec: { pool }, lock: { pool } }), "h"));
  const t0 = performance.now();
  const settled = await Promise.all(batchers.flatMap((b) => list.map((x) => b.submit(x))));
  const ms = performance.now() - t0;
  pool.closeAll();
  const bad = settled.find((s) => !s.result.ok);
  if (bad && !bad.result.ok) throw bad.result.error;
  const tx = batchers.reduce((s, b) => s + b.transactions, 0);
  return { ms, executions: pool.stats().execs / hosts, transactions: tx / hosts };
}

export async function hostsCurve(
  counts: readonly number[],
  rules: number,
  log: (m: string) => void,
): Promise<{ rows: HostsRow[]; rss?: { hosts: number; rules: number; peakRssMiB: number; applyMs: number } }> {
  const fleet = await upLightFleet(Math.max(...counts, Number(process.env.BENCH_SCALE_RSS_HOSTS ?? 20)));
  log(`light fleet of ${fleet.nodes.length} nodes up`);
  try {
    const rows: HostsRow[] = [];
    for (const hosts of counts) {
      const c = await round(fleet, hosts, intents(rules, false));
      const d = await round(fleet, hosts, intents(rules, true));
      rows.push({
        hosts,
        rulesPerHost: rules,
        createMs: Math.round(c.ms),
        deleteMs: Math.round(d.ms),
        executionsPerHost: c.executions,
        transactionsPerHost: c.transactions,
      });
      log(`${hosts} hosts × ${rules} rules: ${JSON.stringify(rows.at(-1))}`);
    }
    const rss = process.env.BENCH_SCALE_RSS === "0" ? undefined : await peakRss(fleet, log);
    return { rows, ...(rss && { rss }) };
  } finally {
    await fleet.down();
  }
}

/** 20 hosts × 200 rules created through the dynamic-provider host; its peak RSS from /proc (VmHWM). */
async function peakRss(fleet: LightFleet, log: (m: string) => void) {
  const hosts = Number(process.env.BENCH_SCALE_RSS_HOSTS ?? 20);
  const rules = Number(process.env.BENCH_SCALE_RSS_RULES ?? 200);
  const host = await EngineHost.start({ cwd: REPO_ROOT, config: { "docker-firewall:privateKey": fleet.privateKey } });
  const pid = (host as unknown as { child: ChildProcess }).child.pid as number;
  const stack = new EngineStack(host, { DockerUserRule: ruleShim });
  const decls = fleet.nodes.slice(0, hosts).flatMap((n) =>
    Array.from(
      { length: rules },
      (_, i): Declared => ({
        type: "DockerUserRule",
        name: `${n.name}-${i}`,
        inputs: { connection: n.connectionInput, ruleName: `r${i}`, priority: 100 + i, ...ruleArgs(i), family: "ipv4" },
      }),
    ),
  );
  try {
    await stack.preview(decls[0] as Declared); // serializes the provider once, as the SDK does
    const t0 = performance.now();
    await Promise.all(decls.map((d) => stack.up(d)));
    const applyMs = Math.round(performance.now() - t0);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    const peakRssMiB = Math.round(Number(hwm) / 1024);
    log(`dynamic-provider host, ${hosts} hosts × ${rules} rules: apply ${applyMs} ms, peak RSS ${peakRssMiB} MiB`);
    return { hosts, rules, peakRssMiB, applyMs };
  } finally {
    host.stop();
  }
}
