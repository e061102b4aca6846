// What the apply script (node/netfilter-commands.ts applySteps) does on a FakeHost's node: check the nonce, the lock
// proof and that the whole step list arrived, run the steps in order, and on a failure run the failed step's abort
// and every earlier step's undo (in reverse), printing the same failure sections; then the read's sections.
import type { ExecResult } from "../../../provider/node/exec";
import { EXIT_LOCK_LOST } from "../../../provider/node/netfilter-commands";
import type { Saved } from "./boot-files";
import type { Fault } from "./faults";
import type { LineVeto } from "./filter-table";
import type { NodeState } from "./node-state";
import { renderReadState } from "./read-state";

type StepRun = { readonly ok: true; readonly out: string } | { readonly ok: false; readonly out: string };

export interface ApplyContext {
  readonly node: NodeState;
  /** The node lock tokens recorded on the node, by lock name (/run/docker-firewall/<name>.token). */
  readonly tokens: ReadonlyMap<string, string>;
  readonly refuse?: Extract<Fault, { kind: "refuse-line" }>;
  readonly failPersist?: Extract<Fault, { kind: "fail-persist" }>;
  readonly failCleanups?: boolean;
}

/** The awk framing: `@@<nonce> <name>` opens a file; each following line goes into it with its newline. */
function sectionFiles(lines: readonly string[], nonce: string): Map<string, string> {
  const files = new Map<string, string>();
  const marker = `@@${nonce} `;
  let current: string | undefined;
  for (const line of lines) {
    if (line.startsWith(marker)) {
      current = line.slice(marker.length);
      files.set(current, "");
    } else if (current !== undefined) files.set(current, `${files.get(current)}${line}\n`);
  }
  return files;
}

/** Runs the apply script on `ctx.node` with `stdin`, as `sh -c` would: exit code and output. */
export function runApplyScript(ctx: ApplyContext, stdin: string): ExecResult {
  const fail = (code: number, stderr = "") => ({ code, stdout: "", stderr });
  const lines = stdin.split("\n");
  // `read -r` drops a last line without its newline only when nothing follows it; awk reads what is left.
  if (stdin.endsWith("\n")) lines.pop();
  const [n, proofLine] = lines;
  if (!n || !/^[a-f0-9]+$/.test(n)) return fail(64);
  const proof = /^([a-z0-9-]+) ([a-f0-9]+)$/.exec(proofLine ?? "");
  if (!proof) return fail(64);
  const d = sectionFiles(lines.slice(2), n);
  if (!d.has("end")) return fail(66, "the step list arrived incomplete: nothing was applied\n");
  if (ctx.tokens.get(proof[1] as string) !== proof[2]) {
    const why = "the node lock was lost before this apply ran (another run may hold it now): nothing was applied";
    return fail(EXIT_LOCK_LOST, `${why}\n`);
  }

  let refuse = ctx.refuse;
  let failPersist = ctx.failPersist;
  const saved = new Map<number, Saved>();
  const tool = (name: string) => (d.get(name) ?? "").replace(/\n+$/, "");
  const run = (t: string, input: string, veto?: LineVeto, isCleanup = false): StepRun => {
    if (ctx.failCleanups && isCleanup) return { ok: false, out: "fake: this cleanup was made to fail\n" };
    const m = /^(nft|legacy)-(ipv4|ipv6)$/.exec(t);
    const r = m
      ? ctx.node.restoreRules(m[1] as "nft" | "legacy", m[2] as "ipv4" | "ipv6", input, veto)
      : t === "ipset" || t === "ipset-exist"
        ? ctx.node.restoreSets(input, t === "ipset-exist", veto)
        : { ok: false as const, message: "unknown step tool" };
    return r.ok ? { ok: true, out: "" } : { ok: false, out: `${r.message}\n` };
  };
  const step = (k: number): StepRun => {
    const t = tool(`${k}.tool`);
    const input = d.get(`${k}.do`) ?? "";
    if (t === "persist") {
      const contents = new Map(
        [...d].flatMap(([name, text]) => (name.startsWith(`${k}.p.`) ? [[name.slice(`${k}.p.`.length), text]] : [])),
      );
      const failAt = failPersist ? (failPersist.file ?? [...contents.keys()][0]) : undefined;
      failPersist = undefined;
      const r = ctx.node.boot.persist(contents as Map<string, string>, failAt);
      if (!r.ok) return { ok: false, out: `${r.message}\n` };
      saved.set(k, r.saved);
      return { ok: true, out: "" };
    }
    if (t === "unpersist") {
      ctx.node.boot.unpersist();
      return { ok: true, out: "" };
    }
    if (t === "ipset-cleanup") {
      ctx.node.restoreSets(input, true);
      return { ok: true, out: "" };
    }
    let veto: LineVeto | undefined;
    const r = refuse;
    if (r && (r.tool === undefined || r.tool === t)) {
      refuse = undefined;
      veto = (lineNo) => (lineNo === r.line ? (r.message ?? "refused by the fake host") : undefined);
    }
    return run(t, input, veto);
  };
  const out: string[] = [];
  const cleanup = (k: number, which: "abort" | "undo") => {
    const s = saved.get(k);
    if (which === "undo" && s) {
      if (ctx.failCleanups) out.push(`\n@@${n} cleanupfailed ${k} ${which}\nfake: this cleanup was made to fail\n`);
      else ctx.node.boot.unsave(s);
      return;
    }
    if (!d.has(`${k}.${which}tool`)) return;
    const r = run(tool(`${k}.${which}tool`), d.get(`${k}.${which}`) ?? "", undefined, true);
    if (!r.ok) out.push(`\n@@${n} cleanupfailed ${k} ${which}\n${r.out}`);
  };

  let failed = 0;
  let last: StepRun = { ok: true, out: "" };
  for (let k = 1; d.has(`${k}.tool`); k++) {
    last = step(k);
    if (!last.ok) {
      failed = k;
      break;
    }
  }
  if (failed !== 0) {
    out.push(`\n@@${n} failed ${failed}\n${last.out}`);
    cleanup(failed, "abort");
    for (let j = failed - 1; j >= 1; j--) cleanup(j, "undo");
  }
  return { code: 0, stdout: out.join("") + renderReadState(ctx.node, n), stderr: "" };
}
