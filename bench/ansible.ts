// Ours end to end against Ansible on the same lab nodes (real sshd, dockerd, iptables) and the same 40 rules per
// host, in one run, side by side:
//   ours      the real dynamic-provider host of @pulumi/pulumi over gRPC, driven the way the engine drives `pulumi up`
//             (check, then create/diff for every resource at once); "apply" from empty chains, then a no-change up.
//             Timed twice: including the provider process start (as each `pulumi up` spawns it) and without.
//   node      the same rules through the node layer alone (one HostBatcher per host, cold pool): what the provider
//             does per host once the engine's per-resource calls are in.
//   ansible   ansible-playbook with one `ansible.builtin.iptables` task per rule (the usual way; inserted at its
//             position, with a comment), all hosts at once (forks = hosts), gather_facts off, Ansible's defaults
//             otherwise (OpenSSH with ControlPersist, no pipelining); "apply" from empty chains, then a no-change run.
// Ansible's iptables module has no conntrack original-port match, so its rules use `--dport` (what people write);
// the work per rule (one check, one insert) is the same.
//
// Needs Debian's Ansible: apt-get install -y ansible   (not part of CI).
// Run: npx tsx bench/ansible.ts   (env: BENCH_RTTS=0 BENCH_NODES=5 BENCH_RULES=40 BENCH_REPS=1)
// Writes bench/results/ansible.json. Exits 1 when a target (≥ 50× on apply, ≥ 100× on no change) is missed.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execOnNode, type LabInventory, type LabNode } from "../lab/index";
import { REPO_ROOT } from "../lab/paths";
import { nodeLayer, ours } from "./ansible-ours";
import { median, ruleArgs, withLab } from "./common";
import { resetNodes } from "./node-apply-work";

const RTTS = (process.env.BENCH_RTTS ?? "0").split(",").map(Number);
const NODES = Number(process.env.BENCH_NODES ?? 5);
const RULES = Number(process.env.BENCH_RULES ?? 40);
const REPS = Number(process.env.BENCH_REPS ?? 1);
const RESULTS = join(REPO_ROOT, "bench", "results", "ansible.json");

interface Spec {
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  readonly action: "ACCEPT" | "DROP";
  readonly source?: string;
  readonly inInterface?: string;
}

/** The workload's rule i, as Ansible's task needs it. */
const spec = (i: number): Spec => {
  const { publishedPorts, ...rest } = ruleArgs(i) as Omit<Spec, "port"> & { publishedPorts: number[] };
  return { ...rest, port: publishedPorts[0] as number };
};

// ---- ansible -----------------------------------------------------------------------------------------------------

function ansibleDir(lab: LabInventory): string {
  const dir = mkdtempSync(join(tmpdir(), "dfw-ansible-"));
  const node = lab.nodes[0] as LabNode;
  writeFileSync(
    join(dir, "known_hosts"),
    `${lab.nodes.map((n) => `[${n.ssh.host}]:${n.ssh.port} ${n.ssh.hostKey.trim()}`).join("\n")}\n`,
  );
  writeFileSync(
    join(dir, "inventory.ini"),
    [
      "[nodes]",
      ...lab.nodes.map((n) => `${n.name} ansible_host=${n.ssh.host} ansible_port=${n.ssh.port}`),
      "[nodes:vars]",
      "ansible_user=root",
      `ansible_ssh_private_key_file=${node.privateKeyPath}`,
      "ansible_python_interpreter=/usr/bin/python3",
      `ansible_ssh_common_args=-o UserKnownHostsFile=${join(dir, "known_hosts")} -o StrictHostKeyChecking=yes`,
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "ansible.cfg"),
    `[defaults]\nforks = ${lab.nodes.length}\nhost_key_checking = True\nretry_files_enabled = False\ninterpreter_python = /usr/bin/python3\n`,
  );
  const tasks = Array.from({ length: RULES }, (_, i) => {
    const s = spec(i);
    return [
      `    - name: rule ${i}`,
      "      ansible.builtin.iptables:",
      "        chain: DOCKER-USER",
      "        action: insert",
      `        rule_num: "${i + 1}"`,
      `        protocol: ${s.protocol}`,
      `        destination_port: "${s.port}"`,
      ...(s.source ? [`        source: ${s.source}`] : []),
      ...(s.inInterface ? [`        in_interface: ${s.inInterface}`] : []),
      `        jump: ${s.action}`,
      `        comment: ansible-${i}`,
    ].join("\n");
  });
  writeFileSync(join(dir, "playbook.yml"), `- hosts: nodes\n  gather_facts: false\n  tasks:\n${tasks.join("\n")}\n`);
  return dir;
}

function ansible(dir: string): { ms: number; changed: number; ok: number } {
  const t0 = performance.now();
  const r = spawnSync("ansible-playbook", ["-i", join(dir, "inventory.ini"), join(dir, "playbook.yml")], {
    cwd: dir,
    env: { ...process.env, ANSIBLE_CONFIG: join(dir, "ansible.cfg"), ANSIBLE_NOCOLOR: "1" },
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`ansible-playbook exit ${r.status}: ${r.stdout.slice(-2000)} ${r.stderr}`);
  const recap = [...r.stdout.matchAll(/ok=(\d+)\s+changed=(\d+)/g)];
  return {
    ms,
    ok: recap.reduce((s, m) => s + Number(m[1]), 0),
    changed: recap.reduce((s, m) => s + Number(m[2]), 0),
  };
}

// ---- one run -------------------------------------------------------------------------------------------------------

async function countRules(lab: LabInventory, marker: string): Promise<number> {
  let total = 0;
  for (const n of lab.nodes) {
    const r = await execOnNode(lab, n.name, ["iptables", "-S", "DOCKER-USER"]);
    total += r.stdout.split("\n").filter((l) => l.includes(marker)).length;
  }
  return total;
}

function scenario(rtt: number, log: (m: string) => void) {
  return withLab(`dfwa${rtt}`, { nodes: NODES, rttMs: rtt }, async (lab) => {
    log(`rtt ${rtt} ms: lab up (${lab.nodes.length} nodes)`);
    const dir = ansibleDir(lab);
    const o: Array<Awaited<ReturnType<typeof ours>>> = [];
    const nl: Array<Awaited<ReturnType<typeof nodeLayer>>> = [];
    const a: Array<{ apply: number; noChange: number }> = [];
    try {
      for (let k = 0; k < REPS; k++) {
        await resetNodes(lab, false);
        o.push(await ours(lab));
        if ((await countRules(lab, '"dfw:')) !== NODES * RULES) throw new Error("ours: rules missing");
        log(`  ours: ${JSON.stringify(o.at(-1))}`);
        await resetNodes(lab, false);
        nl.push(await nodeLayer(lab));
        log(`  node layer: ${JSON.stringify(nl.at(-1))}`);
        await resetNodes(lab, false);
        const apply = ansible(dir);
        if (apply.changed !== NODES * RULES) throw new Error(`ansible apply changed ${apply.changed}`);
        const noChange = ansible(dir);
        if (noChange.changed !== 0) throw new Error(`ansible no-change run changed ${noChange.changed}`);
        if ((await countRules(lab, "ansible-")) !== NODES * RULES) throw new Error("ansible: rules missing");
        a.push({ apply: apply.ms, noChange: noChange.ms });
        log(`  ansible: ${JSON.stringify(a.at(-1))}`);
      }
      await resetNodes(lab, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const m = (f: (x: Awaited<ReturnType<typeof ours>>) => number) => Math.round(median(o.map(f)));
    return {
      rttMs: rtt,
      ours: {
        apply: m((x) => x.apply.withStart),
        applyWithoutStart: m((x) => x.apply.withoutStart),
        noChange: m((x) => x.noChange.withStart),
        noChangeWithoutStart: m((x) => x.noChange.withoutStart),
        nodeApply: Math.round(median(nl.map((x) => x.apply.ms))),
        nodeNoChange: Math.round(median(nl.map((x) => x.noChange.ms))),
        applyExecutionsPerHost: o[0]?.apply.executionsPerHost,
        noChangeExecutionsPerHost: o[0]?.noChange.executionsPerHost,
      },
      ansible: {
        apply: Math.round(median(a.map((x) => x.apply))),
        noChange: Math.round(median(a.map((x) => x.noChange))),
      },
    };
  });
}

async function main() {
  const t0 = performance.now();
  const log = (m: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${m}`);
  const rows = [];
  for (const rtt of RTTS) rows.push(await scenario(rtt, log));
  console.log(`\n${NODES} hosts × ${RULES} rules, median of ${REPS}`);
  console.log(
    "rtt   run        ansible ms   ours end to end ms (with / without provider start)   node layer ms   ratios",
  );
  let missed = false;
  for (const r of rows) {
    for (const [run, a, o, w, n, target] of [
      ["apply", r.ansible.apply, r.ours.apply, r.ours.applyWithoutStart, r.ours.nodeApply, 50],
      ["no change", r.ansible.noChange, r.ours.noChange, r.ours.noChangeWithoutStart, r.ours.nodeNoChange, 100],
    ] as const) {
      if (a / o < target) missed = true;
      const ratios = `${(a / o).toFixed(1)}× / ${(a / w).toFixed(1)}× end to end, ${(a / n).toFixed(1)}× node layer`;
      console.log(
        `${`${r.rttMs} ms`.padEnd(6)}${run.padEnd(11)}${String(a).padStart(10)}   ${`${o} / ${w}`.padStart(52)}   ${String(n).padStart(13)}   ${ratios} (target ≥ ${target}× end to end: ${a / o >= target ? "met" : "MISSED"})`,
      );
    }
  }
  for (const r of rows) {
    console.log(
      `${r.rttMs} ms: ours' executions per host (provider process): apply ${JSON.stringify(r.ours.applyExecutionsPerHost)}, no change ${JSON.stringify(r.ours.noChangeExecutionsPerHost)}; ansible: one connection's worth of module runs per task (${RULES} per host and run)`,
    );
  }
  mkdirSync(join(REPO_ROOT, "bench", "results"), { recursive: true });
  writeFileSync(
    RESULTS,
    `${JSON.stringify({ date: new Date().toISOString(), nodes: NODES, rules: RULES, reps: REPS, rows }, null, 2)}\n`,
  );
  console.log(`wrote ${RESULTS}`);
  if (missed) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
