// The node-apply benchmark's workload and measuring helpers (bench/node-apply.ts): the 40 rules, their kernel lines,
// what a run measures, and the lab chores between runs (reset, read DOCKER-USER back, check it).
import { execOnNode, type LabInventory, type LabNode } from "../lab/index";
import { type DockerUserRule, dockerUserRuleArgs } from "../provider/model/rule";
import { expandRule } from "../provider/netfilter/expand";
import { renderRule } from "../provider/netfilter/render-rule";

// ---- the 40 rules --------------------------------------------------------------------------------------------

export interface BenchRule {
  readonly id: string;
  readonly priority: number;
  readonly rule: DockerUserRule;
  /** The kernel's own line for it (iptables-save form): what both approaches must leave in DOCKER-USER. */
  readonly line: string;
}

export function benchRules(n: number): BenchRule[] {
  return Array.from({ length: n }, (_, i) => {
    const args = [
      { action: "ACCEPT", protocol: "tcp", publishedPorts: [8000 + i], source: "198.51.100.0/26" },
      { action: "ACCEPT", protocol: "udp", publishedPorts: [9000 + i] },
      { action: "DROP", protocol: "tcp", publishedPorts: [10_000 + i], source: "203.0.113.0/24" },
      { action: "ACCEPT", protocol: "tcp", publishedPorts: [11_000 + i], inInterface: "eth0" },
    ][i % 4];
    const rule = dockerUserRuleArgs.parse(args);
    const tag = { priority: 100 + i, id: `bench-${i}` };
    const lines = expandRule(rule, tag, ["ipv4"]).ipv4.map(renderRule);
    if (lines.length !== 1) throw new Error(`rule ${i} expands to ${lines.length} kernel rules`);
    return { ...tag, rule, line: lines[0] as string };
  });
}

export const specOf = (line: string) => line.slice("-A DOCKER-USER ".length);

// ---- measuring -------------------------------------------------------------------------------------------------

export interface Measure {
  readonly wallMs: number;
  readonly connections: number;
  readonly executions: number;
}

export interface Row {
  readonly rttMs: number;
  readonly operation: "apply" | "read";
  readonly approach: string;
  readonly wallMs: number;
  /** Per host (totals divided by the number of hosts). */
  readonly connectionsPerHost: number;
  readonly executionsPerHost: number;
  /** ours: transactions per host; naive: - */
  readonly transactionsPerHost?: number;
  readonly reps: number;
  readonly wallMsAll: readonly number[];
  /** DOCKER-USER afterwards holds exactly the 40 rules (then Docker's RETURN); and in declared order. */
  readonly rulesPresent?: boolean;
  readonly inDeclaredOrder?: boolean;
}

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Empties DOCKER-USER on every node (and, with `sets`, destroys every ipset). */
export async function resetNodes(lab: LabInventory, sets = true) {
  await Promise.all(
    lab.nodes.map(async (n) => {
      const reset = "iptables -F DOCKER-USER && iptables -A DOCKER-USER -j RETURN";
      const r = await execOnNode(lab, n.name, ["sh", "-c", sets ? `${reset} && ipset destroy` : reset]);
      if (r.code !== 0) throw new Error(`reset ${n.name}: ${r.stderr}`);
    }),
  );
}

export async function chainOf(lab: LabInventory, n: LabNode): Promise<string[]> {
  const r = await execOnNode(lab, n.name, ["iptables-save", "-t", "filter"]);
  return r.stdout.split("\n").filter((l) => l.startsWith("-A DOCKER-USER "));
}

export async function checkChains(lab: LabInventory, rules: readonly BenchRule[]) {
  const want = rules.map((r) => r.line);
  let present = true;
  let ordered = true;
  for (const n of lab.nodes) {
    const got = (await chainOf(lab, n)).filter((l) => l !== "-A DOCKER-USER -j RETURN");
    if (got.length !== want.length || [...got].sort().join("\n") !== [...want].sort().join("\n")) present = false;
    if (got.join("\n") !== want.join("\n")) ordered = false;
  }
  return { rulesPresent: present, inDeclaredOrder: ordered };
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` at once. */
export async function limited(n: number, limit: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}
