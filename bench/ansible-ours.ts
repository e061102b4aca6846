// The "ours" side of bench/ansible.ts: the same rules through the real dynamic-provider host (apply, then a
// no-change up in a new provider process), and through the node layer alone; executions per host come from
// bench/trace-hook.cjs inside the provider process.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LabInventory, LabNode } from "../lab/index";
import { REPO_ROOT } from "../lab/paths";
import { dockerUserRuleArgs } from "../provider/model/rule";
import { HostBatcher } from "../provider/node/batch";
import { sshSession } from "../provider/node/session";
import { SshPool } from "../provider/node/ssh-pool";
import { ruleShim } from "../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../test/support/engine";
import { labConnection, ruleArgs } from "./common";

const RULES = Number(process.env.BENCH_RULES ?? 40);

function declared(lab: LabInventory): Declared[] {
  return lab.nodes.flatMap((n) =>
    Array.from({ length: RULES }, (_, i): Declared => {
      return {
        type: "DockerUserRule",
        name: `${n.name}-r${i}`,
        inputs: {
          connection: { host: n.ssh.host, port: n.ssh.port, user: "root", hostKey: n.ssh.hostKey },
          ruleName: `r${i}`,
          priority: 100 + i,
          ...ruleArgs(i),
        },
      };
    }),
  );
}

// Every remote execution the provider process starts, as bench/trace-hook.cjs reports it.
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --require ${join(REPO_ROOT, "bench", "trace-hook.cjs")}`;
const executionsPerHost = (host: EngineHost, hosts: number) => {
  const kinds: Record<string, number> = {};
  for (const l of host.logs) {
    const kind = /^dfw-exec \d+ \S+ (\w+)$/.exec(l)?.[1];
    if (kind) kinds[kind] = (kinds[kind] ?? 0) + 1 / hosts;
  }
  return kinds;
};

export async function ours(lab: LabInventory) {
  const node = lab.nodes[0] as LabNode;
  const decls = declared(lab);
  const t0 = performance.now();
  const host = await EngineHost.start({
    cwd: REPO_ROOT,
    config: { "docker-firewall:privateKey": readFileSync(node.privateKeyPath, "utf8") },
  });
  const stack = new EngineStack(host, { DockerUserRule: ruleShim });
  // The SDK serializes a provider object once (it caches the text); EngineStack does it on its first use.
  await stack.preview(decls[0] as Declared);
  const started = performance.now();
  try {
    const steps = await Promise.all(decls.map((d) => stack.up(d)));
    if (!steps.every((s) => s === "create")) throw new Error(`apply: ${steps.join(",")}`);
    const applied = performance.now();
    const applyExecutions = executionsPerHost(host, lab.nodes.length);
    host.stop();
    // The no-change run: a new provider process (as a new `pulumi up`), the same state.
    const n0 = performance.now();
    const host2 = await EngineHost.start({
      cwd: REPO_ROOT,
      config: { "docker-firewall:privateKey": readFileSync(node.privateKeyPath, "utf8") },
    });
    const stack2 = new EngineStack(host2, { DockerUserRule: ruleShim });
    await stack2.preview(decls[0] as Declared);
    const n1 = performance.now();
    for (const [k, v] of stack.state) stack2.state.set(k, v);
    let noChangeExecutions: Record<string, number>;
    try {
      const again = await Promise.all(decls.map((d) => stack2.up(d)));
      if (!again.every((s) => s === "same")) throw new Error(`no-change: ${again.join(",")}`);
      noChangeExecutions = executionsPerHost(host2, lab.nodes.length);
    } finally {
      host2.stop();
    }
    const n2 = performance.now();
    return {
      apply: { withStart: applied - t0, withoutStart: applied - started, executionsPerHost: applyExecutions },
      noChange: { withStart: n2 - n0, withoutStart: n2 - n1, executionsPerHost: noChangeExecutions },
    };
  } finally {
    host.stop();
  }
}

/** The node layer alone: apply from empty chains, then the no-change transaction (lock + read, nothing to apply). */
export async function nodeLayer(lab: LabInventory) {
  const run = async () => {
    const pool = new SshPool();
    const t0 = performance.now();
    await Promise.all(
      lab.nodes.map(async (n) => {
        const b = new HostBatcher(sshSession(labConnection(n), { exec: { pool }, lock: { pool } }), "bench");
        const settled = await Promise.all(
          declared({ nodes: [n] } as unknown as LabInventory).map((d) => {
            const { connection: _c, ruleName: _n, priority, ...args } = d.inputs;
            const rule = dockerUserRuleArgs.parse(args);
            return b.submit({ kind: "rule", id: d.inputs.ruleName as string, priority: priority as number, rule });
          }),
        );
        const bad = settled.find((s) => !s.result.ok);
        if (bad && !bad.result.ok) throw bad.result.error;
      }),
    );
    const ms = performance.now() - t0;
    pool.closeAll();
    return { ms, executionsPerHost: pool.stats().execs / lab.nodes.length };
  };
  const apply = await run();
  const noChange = await run();
  return { apply, noChange };
}
