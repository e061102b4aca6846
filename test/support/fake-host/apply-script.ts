// What the apply script (protocol/apply-script.ts) does on a FakeHost's node: check the nonce, the lock proof and
// that the whole step list arrived (read with protocol/steps.ts parseSteps, as the script's split reads it), run the
// steps in order, and on a failure run the failed step's abort and every earlier step's undo (in reverse), printing
// the same failure sections; then the read's sections.
import type { ExecResult } from "../../../provider/node/exec";
import { EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_LOCK_LOST } from "../../../provider/protocol/exit-codes";
import { marker, NONCE } from "../../../provider/protocol/sections";
import { CLEANUP_FAILED, FAILED, parseSteps, type Script, type Step } from "../../../provider/protocol/steps";
import type { Saved } from "./boot-files";
import type { Fault } from "./faults";
import type { LineVeto } from "./filter-table";
import type { NodeState } from "./node-state";
import { renderReadState } from "./read-state";

type Outcome = { readonly ok: boolean; readonly out: string };
const OK: Outcome = { ok: true, out: "" };

export interface ApplyContext {
  readonly node: NodeState;
  /** The node lock tokens recorded on the node, by lock name (the runtime dir's <name>.token). */
  readonly tokens: ReadonlyMap<string, string>;
  readonly refuse?: Extract<Fault, { kind: "refuse-line" }>;
  readonly failPersist?: Extract<Fault, { kind: "fail-persist" }>;
  readonly failCleanups?: boolean;
}

/** `run TOOL <input`: one restore tool of the script's `run`. */
function restore(node: NodeState, script: Script, veto?: LineVeto): Outcome {
  // An in-place change's inverse does nothing once the set it names is gone.
  if (script.tool === "ipset-revert" && node.ipsets.family(script.text.split(" ")[1] ?? "") === undefined) return OK;
  const m = /^(nft|legacy)-(ipv4|ipv6)$/.exec(script.tool);
  const r = m
    ? node.restoreRules(m[1] as "nft" | "legacy", m[2] as "ipv4" | "ipv6", script.text, veto)
    : script.tool === "ipset" || script.tool === "ipset-exist" || script.tool === "ipset-revert"
      ? node.restoreSets(script.text, script.tool !== "ipset", veto)
      : { ok: false as const, message: "unknown step tool" };
  return r.ok ? OK : { ok: false, out: `${r.message}\n` };
}

/** Runs the apply script on `ctx.node` with `stdin`, as `sh -c` would: exit code and output. */
export function runApplyScript(ctx: ApplyContext, stdin: string): ExecResult {
  const refused = (code: number, stderr = "") => ({ code, stdout: "", stderr });
  const parsed = parseSteps(stdin);
  const { nonce, proof } = parsed;
  if (!NONCE.test(nonce) || !/^[a-z0-9-]+$/.test(proof.name) || !/^[a-f0-9]+$/.test(proof.token))
    return refused(EXIT_BAD_INPUT);
  if (!parsed.complete) return refused(EXIT_INCOMPLETE, "the step list arrived incomplete: nothing was applied\n");
  if (ctx.tokens.get(proof.name) !== proof.token) {
    const why = "the node lock was lost before this apply ran (another run may hold it now): nothing was applied";
    return refused(EXIT_LOCK_LOST, `${why}\n`);
  }

  const { node } = ctx;
  let refuse = ctx.refuse;
  let failPersist = ctx.failPersist;
  const saved = new Map<number, Saved>();
  const step = (s: Step, k: number): Outcome => {
    switch (s.run.tool) {
      case "persist": {
        const failAt = failPersist ? (failPersist.file ?? Object.keys(s.files ?? {})[0]) : undefined;
        failPersist = undefined;
        const r = node.boot.persist(s.files ?? {}, failAt);
        if (!r.ok) return { ok: false, out: `${r.message}\n` };
        saved.set(k, r.saved);
        return OK;
      }
      case "unpersist":
        node.boot.unpersist();
        return OK;
      case "ipset-cleanup":
        node.restoreSets(s.run.text, true);
        return OK;
      default: {
        const r = refuse;
        if (!r || (r.tool !== undefined && r.tool !== s.run.tool)) return restore(node, s.run);
        refuse = undefined;
        return restore(node, s.run, (n) => (n === r.line ? (r.message ?? "refused by the fake host") : undefined));
      }
    }
  };
  const out: string[] = [];
  const cleanupFailed = (k: number, which: string, text: string) =>
    out.push(`\n${marker(nonce, `${CLEANUP_FAILED} ${k} ${which}`)}\n${text}`);
  const cleanup = (k: number, which: "abort" | "undo") => {
    const s = parsed.steps[k - 1] as Step;
    const kept = saved.get(k);
    if (which === "undo" && kept) {
      if (ctx.failCleanups) cleanupFailed(k, which, "fake: this cleanup was made to fail\n");
      else node.boot.unsave(kept);
      return;
    }
    const script = s[which];
    if (!script) return;
    const r = ctx.failCleanups ? { ok: false, out: "fake: this cleanup was made to fail\n" } : restore(node, script);
    if (!r.ok) cleanupFailed(k, which, r.out);
  };

  const failed = parsed.steps.findIndex((s, i) => {
    const r = step(s, i + 1);
    if (!r.ok) out.push(`\n${marker(nonce, `${FAILED} ${i + 1}`)}\n${r.out}`);
    return !r.ok;
  });
  if (failed >= 0) {
    cleanup(failed + 1, "abort");
    for (let j = failed; j >= 1; j--) cleanup(j, "undo");
  }
  return { code: 0, stdout: out.join("") + renderReadState(node, nonce), stderr: "" };
}
