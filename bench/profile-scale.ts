// Where the time of the big cells of the scale curve goes (a 100,000-entry set created / changed / deleted, 2,000
// rules created / deleted), on one lab node (real sshd, dockerd, iptables-nft, ipset):
//   kernel     the tools alone, timed inside the node: ipset restore / save, iptables-nft-restore / save
//   transfer   raw SSH throughput of this process's ssh2 (stdin to `cat >/dev/null`, stdout from `head -c`)
//   node layer each cell through HostBatcher with its remote executions timed (lock + read, apply + read-back), and
//              the in-process work replayed on the captured texts (parse, plan, render, parse the read-back)
//
// Run: npx tsx bench/profile-scale.ts   (env: BENCH_REPS=3). Prints medians; writes nothing.
import { readFileSync } from "node:fs";
import { Client } from "ssh2";
import { type LabNode, sshExec } from "../lab/index";
import { ipSetArgs } from "../provider/model/ipset";
import { dockerUserRuleArgs } from "../provider/model/rule";
import { deriveFacts, isNftFacts, parseHostState } from "../provider/netfilter/host-state";
import type { Intent } from "../provider/netfilter/intent";
import { parseStepsOutput } from "../provider/netfilter/steps";
import { HostBatcher } from "../provider/node/batch";
import { NetfilterCommands } from "../provider/node/netfilter-commands";
import { type HostSession, sshSession } from "../provider/node/session";
import { SshPool } from "../provider/node/ssh-pool";
import { planTransaction } from "../provider/plan/transaction";
import { renderSteps } from "../provider/protocol/steps";
import { labConnection, median, withLab } from "./common";

const push = <T>(o: Record<string, T[]>, k: string, v: T) => {
  o[k] = [...(o[k] ?? []), v];
};
const REPS = Number(process.env.BENCH_REPS ?? 3);
const N_SET = 100_000;
const N_RULES = 2_000;
const r1 = (x: number) => Math.round(x * 10) / 10;

const addresses = (n: number, from = 0) =>
  Array.from({ length: n }, (_, k) => {
    const v = from + k + 1;
    return `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
  });
const setIntent = (entries: readonly string[] | null): Intent => ({
  kind: "set",
  name: "scale",
  spec: entries && ipSetArgs.parse({ name: "scale", type: "hash:ip", entries, maxelem: 2 * N_SET + 1024 }),
});
const ruleIntents = (n: number, del = false): Intent[] =>
  Array.from({ length: n }, (_, i) => ({
    kind: "rule",
    id: `scale-${i}`,
    priority: 100 + (i % 9000),
    rule: del ? null : dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", publishedPorts: [8000 + i] }),
  }));

/** Milliseconds of `script` run inside the node (the node's own clock, no SSH in it). */
async function inNode(node: LabNode, setup: string, script: string): Promise<number> {
  const r = await sshExec(node, `${setup}\na=$(date +%s%N); ${script}\nb=$(date +%s%N); echo $(( (b - a) / 1000 ))`);
  return Number(r.stdout.trim().split("\n").pop()) / 1000;
}

async function kernel(node: LabNode) {
  const gen = `i=0; { echo "create dfwk hash:ip family inet maxelem 300000"; awk 'BEGIN{for(v=1;v<=${N_SET};v++) printf "add dfwk 10.%d.%d.%d\\n", int(v/65536)%256, int(v/256)%256, v%256}'; } >/tmp/dfwk.restore`;
  const rules = `awk 'BEGIN{print "*filter"; for(i=0;i<${N_RULES};i++) printf "-A DOCKER-USER -p tcp -m tcp --dport %d -j ACCEPT\\n", 8000+i; print "COMMIT"}' >/tmp/dfwk.add; sed 's/^-A /-D /' /tmp/dfwk.add >/tmp/dfwk.del`;
  const out: Record<string, number[]> = {};
  const add = (k: string, v: number) => push(out, k, v);
  for (let k = 0; k < REPS; k++) {
    add(
      "ipset restore 100k (create)",
      await inNode(node, `${gen}; ipset destroy dfwk 2>/dev/null`, "ipset restore </tmp/dfwk.restore"),
    );
    add("ipset save (100k set present)", await inNode(node, "", "ipset save >/tmp/dfwk.save"));
    add("ipset destroy 100k", await inNode(node, "", "ipset destroy dfwk"));
    add(
      "iptables-nft-restore 2,000 (add)",
      await inNode(node, rules, "iptables-nft-restore -w 10 --noflush </tmp/dfwk.add"),
    );
    add("iptables-nft-save -t filter (2,000 rules)", await inNode(node, "", "iptables-nft-save -t filter >/dev/null"));
    add(
      "iptables-nft-restore 2,000 (delete by spec)",
      await inNode(node, "", "iptables-nft-restore -w 10 --noflush </tmp/dfwk.del"),
    );
  }
  const size = await sshExec(node, `wc -c </tmp/dfwk.restore; rm -f /tmp/dfwk.*`);
  return { ms: med(out), setBytes: Number(size.stdout.trim()) };
}

const med = (o: Record<string, number[]>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, r1(median(v))]));

/** Raw ssh2 exec on one connection: `bytes` up (stdin to cat) and down (head -c), timed from exec to close. */
async function transfer(node: LabNode, bytes: number) {
  const client = new Client();
  await new Promise<void>((resolve, reject) =>
    client
      .on("ready", resolve)
      .on("error", reject)
      .connect({
        host: node.ssh.host,
        port: node.ssh.port,
        username: "root",
        privateKey: readFileSync(node.privateKeyPath),
        hostVerifier: () => true,
      }),
  );
  const run = (cmd: string, stdin?: Buffer) =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      client.exec(cmd, (err, ch) => {
        if (err) return reject(err);
        ch.on("data", () => undefined);
        ch.stderr.on("data", () => undefined);
        ch.on("close", () => resolve(performance.now() - t));
        ch.end(stdin);
      });
    });
  const out: Record<string, number[]> = {};
  const payload = Buffer.alloc(bytes, "add scale 10.0.0.1\n");
  for (let k = 0; k < REPS; k++) {
    push(out, "exec true (round trip)", await run("true"));
    push(out, `stdin ${(bytes / 1e6).toFixed(1)} MB to cat`, await run("cat >/dev/null", payload));
    push(out, `stdout ${(bytes / 1e6).toFixed(1)} MB from head`, await run(`head -c ${bytes} /dev/zero`));
  }
  client.end();
  return med(out);
}

/** One cell through the node layer: remote spans, and the in-process work replayed on the captured texts. */
async function cell(node: LabNode, intents: readonly Intent[]) {
  const pool = new SshPool();
  const inner = sshSession(labConnection(node), { exec: { pool }, lock: { pool } });
  const spans: Record<string, number> = {};
  const texts: Array<{ what: string; stdin: string; stdout: string }> = [];
  let lockAsked = 0;
  const session: HostSession = {
    host: inner.host,
    locked: (owner, fn) => {
      lockAsked = performance.now();
      return inner.locked(owner, (proof) => {
        spans["lock + holder's read"] = performance.now() - lockAsked;
        return fn(proof);
      });
    },
    run: async (command, stdin) => {
      const t = performance.now();
      const r = await inner.run(command, stdin);
      const what = command === NetfilterCommands.readState ? "read" : "apply + read-back";
      spans[what] = (spans[what] ?? 0) + performance.now() - t;
      texts.push({ what, stdin, stdout: r.stdout });
      return r;
    },
  };
  const batcher = new HostBatcher(session, "prof-scale");
  const t0 = performance.now();
  const settled = await Promise.all(intents.map((x) => batcher.submit(x)));
  spans.total = performance.now() - t0;
  pool.closeAll();
  if (settled.some((s) => !s.result.ok)) throw new Error("a cell failed");
  // replay the in-process work
  const read = texts.find((x) => x.what === "read") as { stdin: string; stdout: string };
  const nonce = read.stdin.trim();
  const time = <T>(k: string, f: () => T): T => {
    const t = performance.now();
    const v = f();
    spans[`in process: ${k}`] = performance.now() - t;
    return v;
  };
  const state = time("parse the read", () => parseHostState(read.stdout, nonce));
  const facts = deriveFacts(state);
  if ("error" in facts) throw new Error(facts.error);
  if (isNftFacts(facts)) throw new Error("profile-scale measures an iptables node");
  const plan = time("plan", () => planTransaction(state, facts, intents, () => "dfwtmp-0000"));
  const stdin = time("render the apply's stdin", () => renderSteps(nonce, { name: "x", token: "00" }, plan.steps));
  const apply = texts.find((x) => x.what === "apply + read-back");
  if (apply) {
    const n2 = apply.stdin.split("\n", 1)[0] as string;
    time("parse the read-back", () => parseStepsOutput(apply.stdout, n2));
    spans["bytes: read"] = read.stdout.length;
    spans["bytes: apply stdin"] = stdin.length;
    spans["bytes: read-back"] = apply.stdout.length;
  }
  return spans;
}

async function nodeLayer(node: LabNode) {
  const reset = "iptables -F DOCKER-USER && iptables -A DOCKER-USER -j RETURN && { ipset destroy 2>/dev/null; true; }";
  const all = addresses(N_SET);
  const changed = [...all.slice(N_SET / 100), ...addresses(N_SET / 100, 1 << 23)];
  const cells: Record<string, Record<string, number>[]> = {};
  for (let k = 0; k < REPS; k++) {
    await sshExec(node, reset);
    push(cells, "set 100k create", await cell(node, [setIntent(all)]));
    push(cells, "set 100k change 1%", await cell(node, [setIntent(changed)]));
    push(cells, "set 100k delete", await cell(node, [setIntent(null)]));
    push(cells, "2,000 rules create", await cell(node, ruleIntents(N_RULES)));
    push(cells, "2,000 rules delete", await cell(node, ruleIntents(N_RULES, true)));
  }
  await sshExec(node, reset);
  return Object.fromEntries(
    Object.entries(cells).map(([name, runs]) => [
      name,
      Object.fromEntries(Object.keys(runs[0] ?? {}).map((k) => [k, r1(median(runs.map((r) => r[k] ?? 0)))])),
    ]),
  );
}

async function main() {
  await withLab("dfwpsc", { nodes: 1, rttMs: 0 }, async (lab) => {
    const node = lab.nodes[0] as LabNode;
    const k = await kernel(node);
    console.log(`kernel, inside the node (median of ${REPS}):`, k);
    console.log("transfer over SSH (ssh2, one connection):", await transfer(node, k.setBytes));
    console.log("node layer:", JSON.stringify(await nodeLayer(node), null, 1));
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
