// The apply's stdin: the nonce, the node lock proof, then each step as sections `<k>.tool`, `<k>.do`, optional
// `<k>.aborttool`/`<k>.abort` and `<k>.undotool`/`<k>.undo`, `<k>.p.<file>` for a persist step, and `end`. The
// apply script (protocol/apply-script.ts) splits it into files named by section; its output is framed the same way.
import type { StepFileName } from "./paths";
import { marker, NONCE, READ, splitSections } from "./sections";

export type StepTool =
  | "ipset"
  | "ipset-exist"
  /** `ipset -exist restore` whose failure is ignored: for leftovers that the next apply also removes. */
  | "ipset-cleanup"
  /** `ipset -exist restore` of an in-place change's inverse; nothing to do when the set it names is gone. */
  | "ipset-revert"
  | "nft-ipv4"
  | "nft-ipv6"
  | "legacy-ipv4"
  | "legacy-ipv6"
  /** One libnftables JSON batch (`nft -j -f -`): the kernel commits all of it or none. */
  | "nftables"
  /** Writes the step's `files` to their fixed paths (all or none) and enables the boot unit if written. */
  | "persist"
  /** Removes the persisted files and the boot unit (the managed-sets list stays). */
  | "unpersist";

/** A restore script and the tool that reads it. Texts are newline-terminated lines (or empty). */
export interface Script {
  readonly tool: StepTool;
  readonly text: string;
}

export interface Step {
  /** What the step does, for errors ("ipset lbs", "iptables-nft ipv4"). */
  readonly label: string;
  readonly run: Script;
  /** Cleans up after this step's own failure (ipset restore stops midway; iptables-restore needs none). */
  readonly abort?: Script;
  /** Reverts this step after it succeeded, when a later step fails. */
  readonly undo?: Script;
  /** For `persist`: file contents by fixed name (protocol/paths.ts); never a path. */
  readonly files?: Readonly<Partial<Record<StepFileName, string>>>;
}

/** The node lock an apply runs under: the apply changes nothing unless this token is still the holder's. */
export interface ApplyProof {
  readonly name: string;
  readonly token: string;
}

const LOCK_NAME = /^[a-z0-9-]{1,64}$/;
const TOKEN = /^[a-f0-9]{1,128}$/;
const FILE_NAME = /^[a-z0-9-]+$/;

/** The backend whose tables the apply's read-back dumps (protocol/read-script.ts READ_BACK); without it, all. */
export type ReadBack = "nft" | "legacy";

/** The stdin of the apply script. Payloads are data only: the script never evaluates them. */
export function renderSteps(nonce: string, proof: ApplyProof, steps: readonly Step[], readBack?: ReadBack): string {
  if (!NONCE.test(nonce)) throw new Error("the nonce must be lowercase hex");
  if (!LOCK_NAME.test(proof.name) || !TOKEN.test(proof.token))
    throw new Error("the node lock proof must be a lock name and a hex token");
  const out = [nonce, `${proof.name} ${proof.token}`];
  // A body's last newline is the section's (the script writes every line back with one); empty stays empty.
  const section = (name: string, body: string) => {
    out.push(marker(nonce, name));
    if (body !== "") out.push(body.endsWith("\n") ? body.slice(0, -1) : body);
  };
  steps.forEach((s, i) => {
    const k = i + 1;
    section(`${k}.tool`, s.run.tool);
    section(`${k}.do`, s.run.text);
    for (const [kind, script] of [
      ["abort", s.abort],
      ["undo", s.undo],
    ] as const) {
      if (!script) continue;
      section(`${k}.${kind}tool`, script.tool);
      section(`${k}.${kind}`, script.text);
    }
    for (const [name, text] of Object.entries(s.files ?? {})) {
      if (!FILE_NAME.test(name)) throw new Error(`bad persisted file name ${name}`);
      section(`${k}.p.${name}`, text ?? "");
    }
  });
  if (readBack) section("readback", readBack);
  out.push(marker(nonce, "end"), "");
  return out.join("\n");
}

/** An apply's stdin as the script reads it: the inverse of renderSteps (labels are not sent: they come back ""). */
export interface ParsedSteps {
  readonly nonce: string;
  readonly proof: ApplyProof;
  readonly steps: readonly Step[];
  readonly readBack?: ReadBack;
  /** The end section arrived (the script runs nothing otherwise). */
  readonly complete: boolean;
}

/** Reads apply stdin the way the script's split does: every body line is written back newline-terminated. */
export function parseSteps(input: string): ParsedSteps {
  const [nonce = "", proofLine = ""] = input.split("\n", 2);
  const [name = "", token = ""] = proofLine.split(" ");
  const files = new Map<string, string>();
  const lines = input.split("\n").slice(2);
  if (input.endsWith("\n")) lines.pop();
  const open = marker(nonce, "");
  let current: string | undefined;
  for (const line of lines) {
    if (line.startsWith(open)) {
      current = line.slice(open.length);
      files.set(current, "");
    } else if (current !== undefined) files.set(current, `${files.get(current)}${line}\n`);
  }
  const tool = (key: string) => files.get(key)?.trim() as StepTool;
  const script = (k: number, kind: string): Script | undefined =>
    files.has(`${k}.${kind}tool`)
      ? { tool: tool(`${k}.${kind}tool`), text: files.get(`${k}.${kind}`) ?? "" }
      : undefined;
  const steps: Step[] = [];
  for (let k = 1; files.has(`${k}.tool`); k++) {
    const abort = script(k, "abort");
    const undo = script(k, "undo");
    const prefix = `${k}.p.`;
    const persisted = [...files].filter(([key]) => key.startsWith(prefix));
    steps.push({
      label: "",
      run: { tool: tool(`${k}.tool`), text: files.get(`${k}.do`) ?? "" },
      ...(abort && { abort }),
      ...(undo && { undo }),
      ...(persisted.length > 0 && {
        files: Object.fromEntries(persisted.map(([key, text]) => [key.slice(prefix.length), text])),
      }),
    });
  }
  const readBack = files.get("readback")?.trim();
  return {
    nonce,
    proof: { name, token },
    steps,
    ...((readBack === "nft" || readBack === "legacy") && { readBack }),
    complete: files.has("end"),
  };
}

/** Output sections of an apply before its state read: which step failed, and which cleanups failed after it. */
export const FAILED = "failed";
export const CLEANUP_FAILED = "cleanupfailed";

export interface ApplyOutput {
  /** The failing step (0-based) and the tool's own error output. */
  readonly failed?: { readonly step: number; readonly message: string };
  /** Cleanups that themselves failed ("<k> abort", "<k> undo"): the host may not be exactly as before. */
  readonly cleanupFailures: readonly string[];
  /** The state read that follows, for netfilter/host-state.ts. */
  readonly stateText: string;
}

export function parseApplyOutput(text: string, nonce: string): ApplyOutput {
  const stateStart = text.indexOf(marker(nonce, READ.tools));
  const stateText = stateStart < 0 ? "" : text.slice(stateStart);
  // The failure sections come before the state read: only that part is split (a read-back can be megabytes).
  const sections = splitSections(stateStart < 0 ? text : text.slice(0, stateStart), nonce);
  const failed = [...sections.keys()].find((k) => k.startsWith(`${FAILED} `));
  const cleanupFailures = [...sections.keys()]
    .filter((k) => k.startsWith(`${CLEANUP_FAILED} `))
    .map((k) => k.slice(CLEANUP_FAILED.length + 1));
  if (!failed) return { cleanupFailures, stateText };
  const step = Number(failed.slice(FAILED.length + 1)) - 1;
  return { failed: { step, message: (sections.get(failed) ?? "").trim() }, cleanupFailures, stateText };
}
