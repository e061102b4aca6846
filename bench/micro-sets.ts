// In-process cost of a 100,000-entry set, without a node: parsing its read (`ipset save` text in the read's
// sections), planning a create and a 1% change, rendering the apply's stdin, and checking the read-back.
// Run: npx tsx bench/micro-sets.ts   (env: BENCH_REPS=5). Prints medians.
import { ipSetArgs } from "../provider/model/ipset";
import { parseHostState } from "../provider/netfilter/host-state";
import { parseIpsetSave } from "../provider/netfilter/ipset-text";
import { planIpSet } from "../provider/netfilter/plan-ipset";
import { READ, renderSections, splitSections } from "../provider/protocol/sections";
import { median } from "./common";

const push = <T>(o: Record<string, T[]>, k: string, v: T) => {
  o[k] = [...(o[k] ?? []), v];
};
const N = 100_000;
const REPS = Number(process.env.BENCH_REPS ?? 5);
const addr = (v: number) => `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
const all = Array.from({ length: N }, (_, k) => addr(k + 1));
const changed = [...all.slice(N / 100), ...Array.from({ length: N / 100 }, (_, k) => addr((1 << 23) + k + 1))];
const save = [`create scale hash:ip family inet hashsize 65536 maxelem ${2 * N + 1024} bucketsize 12 initval 0x1`]
  .concat(all.map((a) => `add scale ${a}`))
  .join("\n");
const nonce = "0123456789abcdef";
const text = renderSections(
  nonce,
  Object.values(READ).map((s) => [s, s === READ.ipset ? save : s === READ.tools ? "ipset" : ""] as const),
);
const out: Record<string, number[]> = {};
const time = <T>(k: string, f: () => T): T => {
  const t = performance.now();
  const v = f();
  push(out, k, performance.now() - t);
  return v;
};
for (let r = 0; r < REPS; r++) {
  const specAll = time("zod: parse + canonicalise 100k entries (check/create)", () =>
    ipSetArgs.parse({ name: "scale", type: "hash:ip", entries: all, maxelem: 2 * N + 1024 }),
  );
  const specChanged = ipSetArgs.parse({ name: "scale", type: "hash:ip", entries: changed, maxelem: 2 * N + 1024 });
  time("splitSections of the read", () => splitSections(text, nonce));
  time("parseIpsetSave alone", () => parseIpsetSave(save));
  const state = time("parseHostState (all of it)", () => parseHostState(text, nonce));
  const live = state.sets.get("scale");
  time("planIpSet create", () => planIpSet(specAll, undefined, "dfwtmp"));
  time("planIpSet no change", () => planIpSet(specAll, live, "dfwtmp"));
  time("planIpSet change 1%", () => planIpSet(specChanged, live, "dfwtmp"));
}
for (const [k, v] of Object.entries(out)) console.log(`${median(v).toFixed(1).padStart(8)} ms  ${k}`);
