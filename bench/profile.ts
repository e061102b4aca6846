// Where the milliseconds of one transaction go, per host, on a one-node lab (real sshd, dockerd, iptables):
//   handshake   raw ssh2 dials with each algorithm set (TCP, then key exchange + auth), the negotiated algorithms
//   lock        node lock acquired / released on a warm connection (one channel that holds flock)
//   read        the read script on a warm connection, its sections and processes (strace -f execve in the node)
//   plan        parseHostState + planTransaction for 40 rules, in the provider process
//   apply       each remote execution of a real 40-rule transaction, the rest (verify, blame) in-process
//   window      the batcher's wait before it starts a transaction (submit to the first remote command)
// and per resource through the real dynamic-provider host (gRPC): check, create (batched), diff, read, delete.
//
// Run: npx tsx bench/profile.ts   (env: BENCH_RTTS=0,50 BENCH_REPS=5). Writes bench/results/profile.json.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type LabNode, sshExec } from "../lab/index";
import { REPO_ROOT } from "../lab/paths";
import { dockerUserRuleArgs } from "../provider/model/rule";
import { deriveFacts, type HostFacts, isNftFacts, parseHostState } from "../provider/netfilter/host-state";
import type { Intent } from "../provider/netfilter/intent";
import { HostBatcher } from "../provider/node/batch";
import { exec } from "../provider/node/exec";
import { withNodeLock } from "../provider/node/lock";
import { NetfilterCommands } from "../provider/node/netfilter-commands";
import { type HostSession, sshSession } from "../provider/node/session";
import { SshPool } from "../provider/node/ssh-pool";
import { newNonce } from "../provider/node/transaction";
import { planTransaction } from "../provider/plan/transaction";
import { ruleShim } from "../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../test/support/engine";
import { labConnection, median, ruleArgs, timed, withLab } from "./common";
import { ALGORITHM_SETS, type Dial, rawDial } from "./profile-dial";

const RTTS = (process.env.BENCH_RTTS ?? "0,50").split(",").map(Number);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const RULES = 40;
const RESULTS = join(REPO_ROOT, "bench", "results", "profile.json");

const ms = (x: number) => Math.round(x * 10) / 10;

function ruleIntents(n: number): Intent[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "rule",
    id: `prof-${i}`,
    priority: 100 + i,
    rule: dockerUserRuleArgs.parse(ruleArgs(i)),
  }));
}

// ---- phases of one transaction ---------------------------------------------------------------------------------

/** Records, per transaction, when the lock was asked for / held and each remote execution's span. */
function traced(inner: HostSession) {
  const events: Array<{ what: string; start: number; end: number }> = [];
  const session: HostSession = {
    host: inner.host,
    run: async (command, stdin) => {
      const start = performance.now();
      try {
        return await inner.run(command, stdin);
      } finally {
        const what = command === NetfilterCommands.readState ? "read" : "apply (+ read-back)";
        events.push({ what, start, end: performance.now() });
      }
    },
    locked: (owner, fn) => {
      const start = performance.now();
      let held = 0;
      return inner
        .locked(owner, (proof) => {
          held = performance.now();
          events.push({ what: "lock acquire", start, end: held });
          return fn(proof);
        })
        .finally(() => {
          const last = Math.max(held, ...events.map((e) => e.end));
          events.push({ what: "lock release", start: last, end: performance.now() });
        });
    },
  };
  return { session, events };
}

const RESET = "iptables -F DOCKER-USER && iptables -A DOCKER-USER -j RETURN && { ipset destroy 2>/dev/null; true; }";

async function hostPhases(node: LabNode) {
  const conn = labConnection(node);
  const out: Record<string, number[]> = {};
  const add = (k: string, v: number) => {
    out[k] ??= [];
    (out[k] as number[]).push(v);
  };
  let readBytes = 0;
  let facts: HostFacts | undefined;
  for (let k = 0; k < REPS; k++) {
    const pool = new SshPool();
    const session = sshSession(conn, { exec: { pool }, lock: { pool } });
    // cold: the first lock also dials
    const [cold] = await timed(() => withNodeLock(conn, "prof", async () => undefined, { pool }));
    add("dial + lock + release (cold pool)", cold);
    let acquired = 0;
    const t0 = performance.now();
    await withNodeLock(
      conn,
      "prof",
      async () => {
        acquired = performance.now();
      },
      { pool },
    );
    add("lock acquire (warm)", acquired - t0);
    add("lock release (warm)", performance.now() - acquired);
    const nonce = newNonce();
    const [readMs, r] = await timed(() => exec(conn, NetfilterCommands.readState, `${nonce}\n`, { pool }));
    add("read script (warm)", readMs);
    readBytes = r.stdout.length;
    const [parseMs, state] = await timed(async () => parseHostState(r.stdout, nonce));
    add("parse read output", parseMs);
    const f = deriveFacts(state);
    if ("error" in f) throw new Error(f.error);
    if (isNftFacts(f)) throw new Error("the profile runs on an iptables node");
    facts = f;
    const [planMs] = await timed(async () => planTransaction(state, f, ruleIntents(RULES), (s) => `${s}-tmp`));
    add(`plan ${RULES} rules`, planMs);

    // a real transaction through the batcher from an empty chain
    await sshExec(node, RESET);
    const t = traced(session);
    const batcher = new HostBatcher(t.session, "prof");
    const tb = performance.now();
    const settled = await Promise.all(ruleIntents(RULES).map((x) => batcher.submit(x)));
    const total = performance.now() - tb;
    if (settled.some((s) => !s.result.ok)) throw new Error("transaction failed");
    const first = Math.min(...t.events.map((e) => e.start));
    add("batcher window (submit to lock request)", first - tb);
    for (const e of t.events) add(`tx: ${e.what}`, e.end - e.start);
    const remote = t.events.reduce((s, e) => s + (e.end - e.start), 0);
    add("tx: in-process (plan, parse, verify, blame)", total - (first - tb) - remote);
    add("tx: total (40 rules, warm pool)", total);
    add("tx: executions (pool)", pool.stats().execs);
    pool.closeAll();
  }
  // the read script's sections and processes, run in the node under strace (over a plain SSH exec)
  const script = NetfilterCommands.readState.slice("sh -c '".length, -1);
  const sectioned = script.replace(
    `s() { printf "\\n@@%s %s\\n" "$n" "$1"; }`,
    `s() { printf "\\n@@%s %s\\n" "$n" "$1"; echo "$1 $(cat /proc/uptime)" >&2; }`,
  );
  const strace = await sshExec(
    node,
    `cat > /tmp/dfw-read.sh <<'EOF'\n${sectioned}\nEOF\necho 0123456789abcdef | strace -f -qq -e trace=execve -o /tmp/dfw-read.trace sh /tmp/dfw-read.sh >/dev/null; grep -c 'execve(' /tmp/dfw-read.trace; grep -o 'execve("[^"]*"' /tmp/dfw-read.trace | sort | uniq -c | sort -rn | head -20; rm -f /tmp/dfw-read.sh /tmp/dfw-read.trace`,
  );
  const sections = await sshExec(
    node,
    `cat > /tmp/dfw-read.sh <<'EOF'\n${sectioned}\nEOF\necho 0123456789abcdef | sh /tmp/dfw-read.sh 2>&1 >/dev/null; rm -f /tmp/dfw-read.sh`,
  );
  const marks = sections.stdout
    .split("\n")
    .map((l) => /^(\S+) ([\d.]+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ section: m[1] as string, at: Number(m[2]) * 1000 }));
  const sectionMs = marks.slice(0, -1).map((m, i) => ({
    section: m.section,
    ms: Math.round((marks[i + 1] as { at: number }).at - m.at),
  }));
  return {
    phases: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { median: ms(median(v)), all: v.map(ms) }])),
    readBytes,
    backend: facts?.backend,
    families: facts?.families,
    readProcesses: strace.stdout.trim(),
    readSectionsMs: sectionMs,
  };
}

// ---- per resource through the dynamic-provider host ---------------------------------------------------------------

async function perResource(node: LabNode) {
  const host = await EngineHost.start({
    cwd: REPO_ROOT,
    config: { "docker-firewall:privateKey": readFileSync(node.privateKeyPath, "utf8") },
  });
  const connection = { host: node.ssh.host, port: node.ssh.port, user: "root", hostKey: node.ssh.hostKey };
  const decls: Declared[] = Array.from({ length: RULES }, (_, i) => ({
    type: "DockerUserRule",
    name: `prof-${i}`,
    inputs: { connection, ruleName: `prof-${i}`, priority: 100 + i, ...ruleArgs(i) },
  }));
  try {
    await sshExec(node, RESET);
    const stack = new EngineStack(host, { DockerUserRule: ruleShim });
    const r: Record<string, number> = {};
    // The first call: the host loads our package, and the provider closure is serialized (once, as the SDK does).
    [r["first check (package load, provider serialized)"]] = await timed(() => stack.preview(decls[0] as Declared));
    // one check at a time: the per-call cost of gRPC + the host deserialising the provider + our check
    const [seq] = await timed(async () => {
      for (const d of decls) await stack.preview(d);
    });
    r["check, one at a time, per call"] = seq / RULES;
    [r[`up (create) ${RULES} at once`]] = await timed(() => Promise.all(decls.map((d) => stack.up(d))));
    [r[`up (no change: check + diff) ${RULES} at once`]] = await timed(() =>
      Promise.all(decls.map((d) => stack.up(d))),
    );
    [r[`refresh (read) ${RULES} at once`]] = await timed(() =>
      Promise.all(decls.map((d) => stack.refresh("DockerUserRule", d.name))),
    );
    [r[`destroy ${RULES} at once`]] = await timed(() =>
      Promise.all(decls.map((d) => stack.destroy("DockerUserRule", d.name))),
    );
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, ms(v)]));
  } finally {
    host.stop();
  }
}

async function main() {
  const results: Record<string, unknown> = {};
  for (const rtt of RTTS) {
    await withLab(`dfwp${rtt}`, { nodes: 1, rttMs: rtt }, async (lab) => {
      const node = lab.nodes[0] as LabNode;
      const dials: Record<string, unknown> = {};
      for (const [name, algos] of Object.entries(ALGORITHM_SETS)) {
        const ds: Dial[] = [];
        for (let k = 0; k < REPS; k++) ds.push(await rawDial(node, algos));
        dials[name] = {
          tcpMs: ms(median(ds.map((d) => d.tcpMs))),
          identMs: ms(median(ds.map((d) => d.identMs))),
          readyMs: ms(median(ds.map((d) => d.readyMs))),
          all: ds.map((d) => ms(d.readyMs)),
          negotiated: ds[0]?.negotiated,
        };
        console.log(`rtt ${rtt}: dial ${name}: ${JSON.stringify(dials[name])}`);
      }
      const phases = await hostPhases(node);
      console.log(`rtt ${rtt}: ${JSON.stringify(phases, null, 1)}`);
      const resources = await perResource(node);
      console.log(`rtt ${rtt}: per resource ${JSON.stringify(resources, null, 1)}`);
      results[`rtt ${rtt} ms`] = { dials, ...phases, resources };
    });
  }
  mkdirSync(join(REPO_ROOT, "bench", "results"), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify({ date: new Date().toISOString(), reps: REPS, results }, null, 2)}\n`);
  console.log(`wrote ${RESULTS}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
