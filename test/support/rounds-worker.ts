// A separate OS process that applies its own rule set to one node, round after round, on cue: the lab fault
// test (test/lab/node-faults.test.ts) starts two of these against the same node so their transactions really
// race between processes (each has its own SSH pool, only the node lock serialises them).
//
// Run: npx tsx test/support/rounds-worker.ts '<json WorkerConfig>'
// stdin: "round <n>" lines (and "exit"); stdout: "ready", then "done <n> <json>" or "fail <n> <message>" per round.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseConnection } from "../../provider/model/connection";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/intent";
import { HostBatcher } from "../../provider/node/batch";
import { sshSession } from "../../provider/node/session";
import { defaultPool } from "../../provider/node/ssh-pool";

export interface WorkerConfig {
  readonly worker: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly sudo: boolean;
  readonly privateKeyPath: string;
  readonly hostKey: string;
}

export const RULES_PER_WORKER = 10;

/** Whether rule i of a worker exists in round r: two of ten are absent each round, a different two every round. */
export const presentIn = (i: number, round: number) => (i + round) % 5 !== 0;

/**
 * Worker `w`'s whole rule set for round `r`: every rule either created/updated (its port encodes the round) or
 * deleted. Both workers use the same priorities, so their blocks interleave and order is decided by id.
 */
export function roundIntents(worker: string, round: number): Intent[] {
  return Array.from({ length: RULES_PER_WORKER }, (_, i): Intent => {
    const id = `${worker}${i}`;
    const priority = 200 + i;
    if (!presentIn(i, round)) return { kind: "rule", id, priority, rule: null };
    const port = 10_000 + round * 100 + i + (worker.charCodeAt(0) % 2) * 50;
    return {
      kind: "rule",
      id,
      priority,
      rule: dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", publishedPorts: [port] }),
    };
  });
}

async function main(config: WorkerConfig) {
  const conn = parseConnection({
    host: config.host,
    port: config.port,
    user: config.user,
    sudo: config.sudo,
    privateKey: readFileSync(config.privateKeyPath, "utf8"),
    hostKey: config.hostKey,
  });
  const batcher = new HostBatcher(sshSession(conn), `rounds-worker ${config.worker} pid ${process.pid}`);
  const lines = createInterface({ input: process.stdin });
  console.log("ready");
  for await (const line of lines) {
    if (line === "exit") break;
    const round = Number(/^round (\d+)$/.exec(line)?.[1] ?? Number.NaN);
    if (Number.isNaN(round)) continue;
    const t0 = performance.now();
    try {
      const settled = await Promise.all(roundIntents(config.worker, round).map((x) => batcher.submit(x)));
      const failed = settled.find((s) => !s.result.ok);
      if (failed && !failed.result.ok) throw failed.result.error;
      const summary = {
        ms: Math.round(performance.now() - t0),
        transactions: batcher.transactions,
        ...defaultPool.stats(),
      };
      console.log(`done ${round} ${JSON.stringify(summary)}`);
    } catch (e) {
      console.log(`fail ${round} ${String((e as Error).message ?? e).replace(/\n/g, " ")}`);
    }
  }
  defaultPool.closeAll();
}

if (require.main === module) {
  main(JSON.parse(process.argv[2] ?? "{}") as WorkerConfig).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
