// What an apply came to: the protocol's output (protocol/steps.ts) with its state read parsed, so the
// transaction sees which step failed, which cleanups failed too, and the host as it is now.
import { parseApplyOutput } from "../protocol/steps";
import { type Backend, type HostState, parseHostState } from "./host-state";

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

/** What a lean read-back (protocol/read-script.ts READ_BACK) leaves out, taken from the read before the apply:
 * the other iptables backend's tables, the IPv6 nat count and the nftables listings, none of which an apply on an
 * iptables host changes. */
export function withUnread(after: HostState, before: HostState, backend: Backend): HostState {
  const other: Backend = backend === "nft" ? "legacy" : "nft";
  return {
    ...after,
    saves: { ...after.saves, [other]: before.saves[other] } as HostState["saves"],
    ipv6Dnat: before.ipv6Dnat,
    nftTables: before.nftTables,
    ...(before.nft && { nft: before.nft }),
  };
}

/** `lean`: the apply was asked to read back only `backend` (renderSteps' readBack); the rest comes from `before`. */
export function parseStepsOutput(
  text: string,
  nonce: string,
  lean?: { readonly before: HostState; readonly backend: Backend },
): StepsOutcome {
  const out = parseApplyOutput(text, nonce);
  const read = parseHostState(out.stateText, nonce);
  const after = lean ? withUnread(read, lean.before, lean.backend) : read;
  if (!out.failed) return { ok: true, after };
  return {
    ok: false,
    failedStep: out.failed.step,
    message: out.failed.message,
    cleanupFailures: out.cleanupFailures,
    after,
  };
}
