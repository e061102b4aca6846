// What an apply came to: the protocol's output (protocol/steps.ts) with its state read parsed, so the
// transaction sees which step failed, which cleanups failed too, and the host as it is now.
import { parseApplyOutput } from "../protocol/steps";
import { type HostState, parseHostState } from "./host-state";

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
  const out = parseApplyOutput(text, nonce);
  const after = parseHostState(out.stateText, nonce);
  if (!out.failed) return { ok: true, after };
  return {
    ok: false,
    failedStep: out.failed.step,
    message: out.failed.message,
    cleanupFailures: out.cleanupFailures,
    after,
  };
}
