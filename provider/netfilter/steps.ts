// The apply protocol: an ordered list of restore steps, each with a cleanup for its own partial failure
// (`abort`, for non-atomic ipset restores) and an `undo` run when a later step fails. Rendered as sections on
// stdin for one constant remote script (node/netfilter-commands.ts), so a whole transaction is one execution.
import { randomBytes } from "node:crypto";
import { type HostState, parseHostState, splitSections } from "./host-state";

export type StepTool =
  | "ipset"
  | "ipset-exist"
  /** `ipset -exist restore` whose failure is ignored: for leftovers that the next apply also removes. */
  | "ipset-cleanup"
  | "nft-ipv4"
  | "nft-ipv6"
  | "legacy-ipv4"
  | "legacy-ipv6"
  /** Writes the step's `files` to their fixed paths (all or none) and enables the boot unit if written. */
  | "persist"
  /** Removes the persisted files and the boot unit (the managed-sets list stays). */
  | "unpersist";

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
  /** For `persist`: file contents by fixed name (persistence/files.ts); never a path. */
  readonly files?: Readonly<Record<string, string>>;
}

export function newNonce(): string {
  return randomBytes(12).toString("hex");
}

/** The node lock an apply runs under: the apply changes nothing unless this token is still the holder's. */
export interface ApplyProof {
  readonly name: string;
  readonly token: string;
}

/** The stdin of the apply script. Payloads are data only: the script never evaluates them. */
export function renderSteps(nonce: string, proof: ApplyProof, steps: readonly Step[]): string {
  if (!/^[a-z0-9-]{1,64}$/.test(proof.name) || !/^[a-f0-9]{1,128}$/.test(proof.token))
    throw new Error("the node lock proof must be a lock name and a hex token");
  const out = [nonce, `${proof.name} ${proof.token}`];
  const section = (name: string, body: string) => {
    out.push(`@@${nonce} ${name}`);
    out.push(body.endsWith("\n") ? body.slice(0, -1) : body);
  };
  steps.forEach((s, i) => {
    const k = i + 1;
    section(`${k}.tool`, s.run.tool);
    section(`${k}.do`, s.run.text);
    if (s.abort) {
      section(`${k}.aborttool`, s.abort.tool);
      section(`${k}.abort`, s.abort.text);
    }
    if (s.undo) {
      section(`${k}.undotool`, s.undo.tool);
      section(`${k}.undo`, s.undo.text);
    }
    for (const [name, text] of Object.entries(s.files ?? {})) {
      if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad persisted file name ${name}`);
      // A file's last newline is the section's; an empty file still gets its (empty) section.
      out.push(`@@${nonce} ${k}.p.${name}`);
      if (text !== "") out.push(text.endsWith("\n") ? text.slice(0, -1) : text);
    }
  });
  out.push(`@@${nonce} end`, "");
  return out.join("\n");
}

export type StepsOutcome =
  | { readonly ok: true; readonly after: HostState }
  | {
      readonly ok: false;
      /** 0-based index of the failing step. */
      readonly failedStep: number;
      /** The tool's own error output (e.g. "iptables-restore: line 3 failed"). */
      readonly message: string;
      /** Cleanups that themselves failed: the host may not be exactly as before. */
      readonly cleanupFailures: readonly string[];
      readonly after: HostState;
    };

export function parseStepsOutput(text: string, nonce: string): StepsOutcome {
  const sections = splitSections(text, nonce);
  const after = parseHostState(text.slice(text.indexOf(`@@${nonce} tools`)), nonce);
  const failed = [...sections.keys()].find((k) => k.startsWith("failed "));
  if (!failed) return { ok: true, after };
  const cleanupFailures = [...sections.keys()].filter((k) => k.startsWith("cleanupfailed ")).map((k) => k.slice(14));
  return {
    ok: false,
    failedStep: Number(failed.slice(7)) - 1,
    message: (sections.get(failed) ?? "").trim(),
    cleanupFailures,
    after,
  };
}
