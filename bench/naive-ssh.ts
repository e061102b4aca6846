// The node-apply benchmark's baseline (bench/node-apply.ts): what people do today with @pulumi/command, a new SSH
// connection and one iptables command per rule.
import { type LabInventory, type LabNode, sshExec } from "../lab/index";
import { type BenchRule, limited, type Measure, specOf } from "./node-apply-work";

export function naiveCounter() {
  let connections = 0;
  let executions = 0;
  return {
    /** One new ssh2 connection (host key pinned), one command, disconnect: lab/ssh-client's sshExec. */
    async run(n: LabNode, command: string): Promise<string> {
      connections++;
      executions++;
      const r = await sshExec(n, command, { timeoutMs: 30_000 });
      if (r.code !== 0) throw new Error(`${n.name}: ${command}: exit ${r.code}: ${r.stderr}`);
      return r.stdout;
    },
    get counts() {
      return { connections, executions };
    },
  };
}

export async function naiveApply(lab: LabInventory, rules: readonly BenchRule[], parallel: number): Promise<Measure> {
  const c = naiveCounter();
  const t0 = performance.now();
  await Promise.all(
    lab.nodes.map((n) =>
      limited(rules.length, parallel, async (i) => {
        const spec = specOf((rules[i] as BenchRule).line);
        // In a chain the rule knows its position; without one it can only insert at the top.
        const at = parallel === 1 ? `${i + 1} ` : "";
        await c.run(n, `iptables -C DOCKER-USER ${spec} 2>/dev/null || iptables -I DOCKER-USER ${at}${spec}`);
      }),
    ),
  );
  return { wallMs: performance.now() - t0, ...c.counts };
}

export async function naiveRead(lab: LabInventory, rules: readonly BenchRule[], perRule: boolean): Promise<Measure> {
  const c = naiveCounter();
  const t0 = performance.now();
  await Promise.all(
    lab.nodes.map(async (n) => {
      if (!perRule) {
        const out = await c.run(n, "iptables -S DOCKER-USER");
        if (!rules.every((r) => out.includes(`"dfw:${String(r.priority).padStart(4, "0")}:${r.id}"`)))
          throw new Error(`${n.name}: rule missing`);
        return;
      }
      for (const r of rules) {
        const out = await c.run(n, "iptables -S DOCKER-USER");
        if (!out.includes(`"dfw:${String(r.priority).padStart(4, "0")}:${r.id}"`))
          throw new Error(`${n.name}: ${r.id} missing`);
      }
    }),
  );
  return { wallMs: performance.now() - t0, ...c.counts };
}
