// The SSH handshake with and without ssh2's publickey query round trip, on one lab node at 0 and 50 ms RTT:
//   ssh2 as is    raw ssh2 (bench/profile-dial.ts): the key is offered in a query, then sent signed
//   ours          provider/node/ssh-dial.ts dialSsh: the first publickey request is already signed
// Both negotiate the same algorithms (ssh2's defaults). Run: npx tsx bench/profile-handshake.ts (env: BENCH_RTTS=0,50
// BENCH_REPS=9). Prints medians (ms to "ready").
import { readFileSync } from "node:fs";
import type { LabNode } from "../lab/index";
import { parseConnection } from "../provider/model/connection";
import { dialSsh } from "../provider/node/ssh-dial";
import { median, withLab } from "./common";
import { rawDial } from "./profile-dial";

const RTTS = (process.env.BENCH_RTTS ?? "0,50").split(",").map(Number);
const REPS = Number(process.env.BENCH_REPS ?? 9);

async function ours(node: LabNode): Promise<number> {
  const conn = parseConnection({
    host: node.ssh.host,
    port: node.ssh.port,
    user: "root",
    privateKey: readFileSync(node.privateKeyPath, "utf8"),
    hostKey: node.ssh.hostKey,
  });
  const t = performance.now();
  const d = await dialSsh(conn, { signal: new AbortController().signal });
  const ms = performance.now() - t;
  d.client.end();
  return ms;
}

async function main() {
  for (const rtt of RTTS) {
    await withLab(`dfwhs${rtt}`, { nodes: 1, rttMs: rtt }, async (lab) => {
      const node = lab.nodes[0] as LabNode;
      const raw: number[] = [];
      const mine: number[] = [];
      for (let k = 0; k < REPS; k++) {
        raw.push((await rawDial(node, undefined)).readyMs);
        mine.push(await ours(node));
      }
      const f = (xs: number[]) => Math.round(median(xs));
      console.log(`rtt ${rtt} ms: ssh2 as is ${f(raw)} ms, ours (signed first) ${f(mine)} ms (median of ${REPS})`);
    });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
