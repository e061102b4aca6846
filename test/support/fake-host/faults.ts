// The failures a FakeHost can be told to produce at its next apply, so that orchestration failure paths (blame,
// undo, verify/restore, lost lock, lost connection) are tested without a kernel. Each fault is used once.
import type { StepTool } from "../../../provider/protocol/steps";
import type { NodeState } from "./node-state";

export type Fault =
  /** The kernel refuses line `line` (1-based) of the first step run with `tool` (any restore step when unset). */
  | { readonly kind: "refuse-line"; readonly line: number; readonly tool?: StepTool; readonly message?: string }
  /** A persist step cannot write `file` (a fixed name; its first file when unset): a full or read-only disk. */
  | { readonly kind: "fail-persist"; readonly file?: string }
  /** The node lock was lost before the apply ran (its token is gone on the node): the script applies nothing. */
  | { readonly kind: "lose-lock" }
  /** The held lock's connection dropped: the session refuses to start the apply, as sshSession does. */
  | { readonly kind: "lose-lock-connection" }
  /** The connection drops while stdin is sent: the script sees a cut step list and applies nothing. */
  | { readonly kind: "cut-while-sending" }
  /** The connection drops after stdin was sent: the apply runs to its end; the caller learns nothing. */
  | { readonly kind: "cut-after-sending" }
  /** Every cleanup (a failed step's abort, earlier steps' undo) of the apply fails too. */
  | { readonly kind: "fail-cleanups" }
  /** Another tool changes the node after the read and before the apply (`act` runs once, just before it). */
  | { readonly kind: "interfere"; readonly act: (node: NodeState) => void };

export type FaultKind = Fault["kind"];

/** The pending faults of one host, each for the apply `wait` applies from now; `take` uses one up. */
export class FaultQueue {
  private pending: Array<{ fault: Fault; wait: number }> = [];

  add(wait: number, faults: readonly Fault[]): void {
    this.pending.push(...faults.map((fault) => ({ fault, wait })));
  }

  /** Removes and returns the first fault of `kind` meant for the current apply. */
  take<K extends FaultKind>(kind: K): Extract<Fault, { kind: K }> | undefined {
    const i = this.pending.findIndex((p) => p.wait === 0 && p.fault.kind === kind);
    if (i < 0) return undefined;
    const [p] = this.pending.splice(i, 1);
    return p?.fault as Extract<Fault, { kind: K }>;
  }

  /** Drops every pending fault. */
  clear(): void {
    this.pending = [];
  }

  /** An apply ended: faults meant for it and not used are dropped, later ones come one apply closer. */
  applied(): void {
    this.pending = this.pending.filter((p) => p.wait > 0).map((p) => ({ ...p, wait: p.wait - 1 }));
  }
}
