// Concurrency on the shared lab, through the real dynamic-provider host (dist/: run `npm run build` first):
// - two independent runs: two provider-host processes, each with its own stack and resource names, applying to
//   the same three hosts at the same time, round after round (sets refilled, rules created, changed, deleted);
// - twenty resources racing on one host inside one provider process (created, changed, deleted all at once).
// After every round each host's DOCKER-USER is exactly every live block in (priority, id) order, then the foreign
// rules in their order: nothing lost, duplicated or misordered; every set holds exactly its members.
// DFW_REL_CONC_ROUNDS rounds (default 4).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabInventory, LabNode } from "../../lab/index";
import { compareTags } from "../../provider/netfilter/tag";
import { ipSetShim, ruleShim } from "../../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../support/engine";
import { sharedLab } from "../support/lab";
import { dockerUserChain, onNode } from "../support/rel-lab";
import { recordCase } from "./results";

const ROUNDS = Number(process.env.DFW_REL_CONC_ROUNDS ?? 4);
const FOREIGN = "-A DOCKER-USER -s 203.0.113.99/32 -j DROP";

let lab: LabInventory;
const engines: EngineHost[] = [];

const connection = (node: LabNode) => ({
  host: node.ssh.host,
  port: node.ssh.port,
  user: "root",
  hostKey: node.ssh.hostKey,
});

async function startEngine(project: string): Promise<EngineStack> {
  const key = readFileSync((lab.nodes[0] as LabNode).privateKeyPath, "utf8");
  const host = await EngineHost.start({ cwd: process.cwd(), project, config: { "docker-firewall:privateKey": key } });
  engines.push(host);
  return new EngineStack(host, { DockerUserRule: ruleShim, IpSet: ipSetShim });
}

beforeAll(async () => {
  lab = await sharedLab();
  for (const node of lab.nodes) await onNode(lab, node, `iptables -I DOCKER-USER 1 ${FOREIGN.slice(15)}`);
});

afterAll(async () => {
  for (const e of engines) e.stop();
  if (lab) {
    for (const node of lab.nodes) await onNode(lab, node, `iptables -D DOCKER-USER ${FOREIGN.slice(15)} || true`);
  }
});

/** A rule's block as the stack's checked inputs render it (what must be live). */
interface Block {
  readonly priority: number;
  readonly id: string;
  readonly lines: readonly string[];
}

function blocksOn(stack: EngineStack, node: LabNode): Block[] {
  return [...stack.state.entries()].flatMap(([k, s]) => {
    if (!k.startsWith("DockerUserRule::")) return [];
    if ((s.inputs.connection as { port?: number }).port !== node.ssh.port) return [];
    const rendered = s.inputs.rendered as { ipv4: string[] };
    return [{ priority: s.inputs.priority as number, id: s.id, lines: rendered.ipv4 }];
  });
}

/** The chain every stack's live blocks must make on the node: managed in (priority, id) order, then foreign. */
async function checkChain(node: LabNode, stacks: readonly EngineStack[]): Promise<string | undefined> {
  const live = await dockerUserChain(lab, node);
  const blocks = stacks.flatMap((s) => blocksOn(s, node)).sort(compareTags);
  const foreign = live.filter((l) => !l.includes('--comment "dfw:'));
  const want = [...blocks.flatMap((b) => b.lines), ...foreign];
  if (JSON.stringify(live) === JSON.stringify(want)) {
    return foreign.includes(FOREIGN) ? undefined : `${node.name}: the foreign rule is gone`;
  }
  const dup = live.filter((l, i) => live.indexOf(l) !== i);
  return `${node.name}: chain differs${dup.length ? ` (duplicated: ${dup.join(" | ")})` : ""}\nwant:\n${want.join("\n")}\nlive:\n${live.join("\n")}`;
}

async function checkSets(node: LabNode, sets: ReadonlyArray<{ name: string; entries: readonly string[] }>) {
  const problems: string[] = [];
  for (const s of sets) {
    const saved = await onNode(lab, node, `ipset save ${s.name} 2>&1 || true`);
    const members = saved
      .split("\n")
      .filter((l) => l.startsWith(`add ${s.name} `))
      .map((l) => l.split(" ")[2])
      .sort();
    if (JSON.stringify(members) !== JSON.stringify([...s.entries].sort()))
      problems.push(
        `${node.name}: set ${s.name} holds ${members.join(",")}, wanted ${[...s.entries].sort().join(",")}`,
      );
  }
  return problems;
}

// ---- two runs, two processes, three hosts -------------------------------------------------------------------------

const RULES = 6;
const present = (k: number, round: number) => round < ROUNDS && (k + round) % 4 !== 0;
const setName = (stack: string, i: number) => `rel${stack}n${i}`;
const setEntries = (stack: string, i: number, round: number) => [
  `10.${100 + round}.${i}.0/24`,
  `10.99.${stack === "a" ? 1 : 2}.0/24`,
];

function setDecl(stack: string, node: LabNode, i: number, round: number): Declared {
  return {
    type: "IpSet",
    name: `${stack}-${node.name}-src`,
    inputs: {
      connection: connection(node),
      name: setName(stack, i),
      type: "hash:net",
      entries: setEntries(stack, i, round),
    },
  };
}

function ruleDecl(stack: string, node: LabNode, i: number, k: number, round: number): Declared {
  const name = `${stack}-${node.name}-k${k}`;
  return {
    type: "DockerUserRule",
    name,
    inputs: {
      connection: connection(node),
      ruleName: name,
      // Both stacks use the same priorities: their blocks interleave and the id decides.
      priority: 300 + k,
      action: k % 3 === 2 ? "DROP" : "ACCEPT",
      protocol: "tcp",
      publishedPorts: [20_000 + round * 100 + k + (stack === "b" ? 50 : 0)],
      ...(k % 2 === 0 && { source: { set: setName(stack, i) } }),
    },
  };
}

/** One `pulumi up` of one stack: its sets first (rules depend on them), then every rule at once. */
async function upRound(stack: EngineStack, name: string, round: number): Promise<void> {
  await Promise.all(lab.nodes.map((node, i) => stack.up(setDecl(name, node, i, round))));
  await Promise.all(
    lab.nodes.flatMap((node, i) =>
      Array.from({ length: RULES }, (_, k) => {
        const d = ruleDecl(name, node, i, k, round);
        return present(k, round) ? stack.up(d) : stack.destroy("DockerUserRule", d.name);
      }),
    ),
  );
}

describe("two runs (separate provider processes and stacks) on the same three hosts at once", () => {
  let a: EngineStack;
  let b: EngineStack;

  afterAll(async () => {
    for (const [stack, name] of [
      [a, "a"],
      [b, "b"],
    ] as const) {
      if (!stack) continue;
      for (const key of [...stack.state.keys()].filter((k) => k.startsWith("DockerUserRule::")))
        await stack.destroy("DockerUserRule", key.slice(16)).catch(() => undefined);
      for (const node of lab.nodes) await stack.destroy("IpSet", `${name}-${node.name}-src`).catch(() => undefined);
    }
  });

  it(`${ROUNDS} rounds and a teardown: every host holds both stacks' blocks, in order`, {
    timeout: 60_000 + ROUNDS * 30_000,
  }, async () => {
    [a, b] = await Promise.all([startEngine("rel-stack-a"), startEngine("rel-stack-b")]);
    const problems: string[] = [];
    let checks = 0;
    let failedChecks = 0;
    let overlapped = 0;
    for (let round = 0; round <= ROUNDS; round++) {
      // Round ROUNDS deletes every rule (both stacks at once).
      const spans = await Promise.all(
        (
          [
            [a, "a"],
            [b, "b"],
          ] as const
        ).map(async ([stack, name]) => {
          const t0 = performance.now();
          await upRound(stack, name, round);
          return [t0, performance.now()] as const;
        }),
      );
      // The two runs really overlapped in time (each waited for the other's node locks).
      overlapped += Math.max(...spans.map((s) => s[0])) < Math.min(...spans.map((s) => s[1])) ? 1 : 0;
      for (const [i, node] of lab.nodes.entries()) {
        const found = [
          await checkChain(node, [a, b]),
          ...(await checkSets(
            node,
            ["a", "b"].map((s) => ({ name: setName(s, i), entries: setEntries(s, i, round) })),
          )),
        ].filter((p): p is string => p !== undefined);
        checks++;
        if (found.length > 0) failedChecks++;
        problems.push(...found.map((p) => `round ${round}: ${p}`));
      }
      const live = lab.nodes.map((n) => blocksOn(a, n).length + blocksOn(b, n).length);
      if (round < ROUNDS) expect(live.every((n) => n > 0)).toBe(true);
    }
    recordCase("concurrency: two stacks, two processes, 3 hosts", checks, checks - failedChecks, failedChecks);
    expect(overlapped).toBe(ROUNDS + 1);
    expect(problems).toEqual([]);
  });
});

// ---- twenty resources racing in one process ---------------------------------------------------------------------

describe("twenty resources racing on one host inside one provider process", () => {
  const N = 20;
  let stack: EngineStack;
  const node = () => lab.nodes[0] as LabNode;
  const decl = (k: number, version: number): Declared => ({
    type: "DockerUserRule",
    name: `race-${k}`,
    inputs: {
      connection: connection(node()),
      ruleName: `race-${k}`,
      // Seven priorities for twenty rules: ties are decided by id.
      priority: 500 + (k % 7),
      action: "ACCEPT",
      protocol: k % 2 === 0 ? "tcp" : "udp",
      publishedPorts: [30_000 + version * 100 + k],
    },
  });

  afterAll(async () => {
    for (let k = 0; k < N; k++) await stack?.destroy("DockerUserRule", `race-${k}`).catch(() => undefined);
  });

  it(`${N} creates, ${N} updates and ${N} deletes at once, ${ROUNDS} times`, {
    timeout: 60_000 + ROUNDS * 20_000,
  }, async () => {
    stack = await startEngine("rel-race");
    const problems: string[] = [];
    let trials = 0;
    let failed = 0;
    let worst = 0;
    const phase = async (label: string, run: () => Promise<unknown>) => {
      const t0 = performance.now();
      await run();
      worst = Math.max(worst, performance.now() - t0);
      const p = await checkChain(node(), [stack]);
      trials++;
      if (p) {
        failed++;
        problems.push(`${label}: ${p}`);
      }
    };
    for (let r = 0; r < ROUNDS; r++) {
      await phase(`round ${r} create`, () =>
        Promise.all(Array.from({ length: N }, (_, k) => stack.up(decl(k, 2 * r)))),
      );
      expect(blocksOn(stack, node())).toHaveLength(N);
      await phase(`round ${r} update`, () =>
        Promise.all(Array.from({ length: N }, (_, k) => stack.up(decl(k, 2 * r + 1)))),
      );
      await phase(`round ${r} delete`, () =>
        Promise.all(Array.from({ length: N }, (_, k) => stack.destroy("DockerUserRule", `race-${k}`))),
      );
      expect(blocksOn(stack, node())).toHaveLength(0);
    }
    console.log(`twenty resources at once: ${trials} phases, slowest ${Math.round(worst)} ms`);
    recordCase(`concurrency: ${N} resources racing in one process`, trials, trials - failed, failed);
    expect(problems).toEqual([]);
  });
});
