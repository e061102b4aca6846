// The two constant remote commands behind a transaction: one read of the whole netfilter state, and one apply of
// an ordered list of restore steps followed by that same read, for verification. Their text lives in protocol/;
// rule and set content only ever arrives on stdin, framed by a random nonce (protocol/sections.ts).
import { APPLY_LOCK, APPLY_STEPS, READ_PROOF } from "../protocol/apply-script";
import { READ_BACK, READ_NONCE, READ_STATE } from "../protocol/read-script";
import { defineCommands } from "./commands";

export const NetfilterCommands = defineCommands({
  /** stdin: nonce. stdout: the state sections. */
  readState: `sh -c '${READ_NONCE}
${APPLY_LOCK}
${READ_STATE}'`,
  /**
   * stdin: nonce, "<lock name> <token>" of the held node lock, then the step sections (and `readback`: the host's
   * backend, for a read-back of only what verify needs). stdout: failure sections if any, then the state sections. Runs to the end even if the connection drops (HUP and PIPE ignored), and runs
   * nothing unless the whole input arrived.
   */
  applySteps: `sh -c '${READ_NONCE}
${READ_PROOF}
${APPLY_LOCK}
${APPLY_STEPS}
${READ_BACK}'`,
});
