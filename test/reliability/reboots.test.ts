// Every example policy with a PersistentRuleset holds across a simulated power cycle (rebootNode: netfilter and
// ipsets wiped, boot units run before dockerd) and across a Docker restart, on the shared lab, applied through
// the real dynamic-provider host (dist/: run `npm run build` first). The three seed recipes run on one node each
// at the same time, then the fleet policy on all three. Each is judged by traffic (allowed, denied, LAN peer ×
// web, UDP echo) and by the chain and sets being exactly as applied; after destroy, the nodes are as before.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, probeLab, probeResult, rebootNode, restartDocker } from "../../lab/index";
import { ipSetShim, persistentShim, ruleShim } from "../../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../support/engine";
import { sharedLab } from "../support/lab";
import { dockerUserChain, onNode } from "../support/rel-lab";
import { ALL_OPEN, fleet, type Policy, type Reachability, seed000, seed003, seed004 } from "../support/rel-policies";
import { recordCase } from "./results";

let lab: LabInventory;
let host: EngineHost;
let stack: EngineStack;

beforeAll(async () => {
  lab = await sharedLab();
  host = await EngineHost.start({
    cwd: process.cwd(),
    project: "rel-reboots",
    config: { "docker-firewall:privateKey": readFileSync((lab.nodes[0] as LabNode).privateKeyPath, "utf8") },
  });
  stack = new EngineStack(host, { DockerUserRule: ruleShim, IpSet: ipSetShim, PersistentRuleset: persistentShim });
});
afterAll(() => host?.stop());

async function reach(nodes: readonly LabNode[]): Promise<Map<string, Reachability>> {
  const rows = await probeLab(lab, {
    nodes: nodes.map((n) => n.name),
    clients: ["allowed", "denied", "lanpeer"],
    families: ["ipv4"],
  });
  const r = (client: string, node: string, port: number, protocol: "tcp" | "udp") =>
    probeResult(rows, { client, node, port, protocol }) as "open" | "blocked";
  return new Map(
    nodes.map((n) => [
      n.name,
      {
        allowed: { web: r("allowed", n.name, 8080, "tcp"), udp: r("allowed", n.name, 5353, "udp") },
        denied: { web: r("denied", n.name, 8080, "tcp"), udp: r("denied", n.name, 5353, "udp") },
        lanpeer: { web: r("lanpeer", n.name, 8080, "tcp"), udp: r("lanpeer", n.name, 5353, "udp") },
      },
    ]),
  );
}

/** What must hold on a node: its chain and sets exactly as applied, and the policy's traffic verdicts. */
interface Expected {
  readonly node: LabNode;
  readonly policy: Policy;
  chain: string[];
  sets: string;
}

const setsOf = (node: LabNode) =>
  onNode(lab, node, "ipset save | sed 's/ initval 0x[0-9a-f]*//' | sort").then((s) => s.trim());

async function judge(when: string, expected: readonly Expected[]): Promise<string[]> {
  const problems: string[] = [];
  const seen = await reach(expected.map((e) => e.node));
  for (const e of expected) {
    const got = seen.get(e.node.name);
    if (JSON.stringify(got) !== JSON.stringify(e.policy.reach))
      problems.push(`${when}: ${e.policy.name} on ${e.node.name}: traffic ${JSON.stringify(got)}`);
    const chain = await dockerUserChain(lab, e.node);
    if (JSON.stringify(chain) !== JSON.stringify(e.chain))
      problems.push(
        `${when}: ${e.policy.name} on ${e.node.name}: chain\n${chain.join("\n")}\nwanted\n${e.chain.join("\n")}`,
      );
    const sets = await setsOf(e.node);
    if (sets !== e.sets) problems.push(`${when}: ${e.policy.name} on ${e.node.name}: sets\n${sets}\nwanted\n${e.sets}`);
  }
  return problems;
}

/** Applies the policies (sets, then rules at once, then persistence), power-cycles and restarts Docker, destroys. */
async function wave(placed: ReadonlyArray<{ policy: Policy; node: LabNode }>): Promise<void> {
  const nodes = [...new Set(placed.map((p) => p.node))];
  const baseline = new Map(
    await Promise.all(
      nodes.map(async (n) => [n.name, { chain: await dockerUserChain(lab, n), sets: await setsOf(n) }] as const),
    ),
  );
  const before = await reach(nodes);
  for (const n of nodes) expect(before.get(n.name), `${n.name} starts open`).toEqual(ALL_OPEN);

  const decls: Declared[] = placed.flatMap((p) => p.policy.declare(lab, p.node));
  const byType = (t: Declared["type"]) => decls.filter((d) => d.type === t);
  await Promise.all(byType("IpSet").map((d) => stack.up(d)));
  await Promise.all(byType("DockerUserRule").map((d) => stack.up(d)));
  await Promise.all(byType("PersistentRuleset").map((d) => stack.up(d)));

  const expected: Expected[] = await Promise.all(
    placed.map(async (p) => ({ ...p, chain: await dockerUserChain(lab, p.node), sets: await setsOf(p.node) })),
  );
  const problems = await judge("applied", expected);
  const recovery = new Map<string, number>();
  const trials = new Map<string, { n: number; failed: number }>();
  const count = (policy: Policy, failed: boolean) => {
    const t = trials.get(policy.name) ?? { n: 0, failed: 0 };
    trials.set(policy.name, { n: t.n + 1, failed: t.failed + (failed ? 1 : 0) });
  };
  for (const [label, fault] of [
    ["after a power cycle", (n: LabNode) => rebootNode(lab, n.name)],
    ["after a Docker restart", (n: LabNode) => restartDocker(lab, n.name)],
  ] as const) {
    const t0 = performance.now();
    await Promise.all(nodes.map((n) => fault(n)));
    const found = await judge(label, expected);
    const ms = performance.now() - t0;
    for (const e of expected) {
      recovery.set(e.policy.name, Math.max(recovery.get(e.policy.name) ?? 0, ms));
      count(
        e.policy,
        found.some((f) => f.includes(`${e.policy.name} on ${e.node.name}`)),
      );
    }
    problems.push(...found);
  }

  for (const t of ["PersistentRuleset", "DockerUserRule", "IpSet"] as const)
    await Promise.all(byType(t).map((d) => stack.destroy(t, d.name)));
  for (const n of nodes) {
    const now = { chain: await dockerUserChain(lab, n), sets: await setsOf(n) };
    if (JSON.stringify(now) !== JSON.stringify(baseline.get(n.name)))
      problems.push(`after destroy: ${n.name} is not as before: ${JSON.stringify(now)}`);
    // Only the (now empty) list of sets our IpSets own may stay behind.
    const left = await onNode(
      lab,
      n,
      'cd /etc/docker-firewall 2>/dev/null && for f in $(ls -A); do printf \'%s:%s\\n\' "$f" "$(cat "$f")"; done; ls /etc/systemd/system/*.wants 2>/dev/null | grep docker-firewall || true',
    );
    if (left.trim() !== "" && left.trim() !== "managed-sets:")
      problems.push(`after destroy: ${n.name} still has ${left}`);
  }
  const after = await reach(nodes);
  for (const n of nodes)
    if (JSON.stringify(after.get(n.name)) !== JSON.stringify(ALL_OPEN))
      problems.push(`after destroy: ${n.name} is not open`);

  for (const [name, t] of trials)
    recordCase(`reboot + Docker restart: ${name}`, t.n, t.n - t.failed, t.failed, recovery.get(name));
  expect(problems).toEqual([]);
}

describe("example policies with a PersistentRuleset survive a power cycle and a Docker restart", () => {
  it("the seed recipes (000, 003, 004), one node each, at the same time", { timeout: 180_000 }, async () => {
    const [n1, n2, n3] = lab.nodes as [LabNode, LabNode, LabNode];
    await wave([
      { policy: seed000, node: n1 },
      { policy: seed003, node: n2 },
      { policy: seed004, node: n3 },
    ]);
  });

  it("the fleet policy (examples/gitops) on every node", { timeout: 180_000 }, async () => {
    await wave(lab.nodes.map((node) => ({ policy: fleet, node })));
  });
});
