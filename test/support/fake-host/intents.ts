// Short builders of the intents a batch hands runTransaction, for the unit tests of the orchestration core.
import { ipSetArgs } from "../../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../../provider/model/rule";
import type { Intent } from "../../../provider/netfilter/intent";
import type { IntentResult } from "../../../provider/node/transaction";

/** A rule intent: ACCEPT unless `args` says otherwise. */
export const rule = (id: string, priority: number, args: Record<string, unknown>): Intent => ({
  kind: "rule",
  id,
  priority,
  rule: dockerUserRuleArgs.parse({ action: "ACCEPT", ...args }),
});

/** A hash:net set intent. */
export const set = (name: string, entries: string[]): Intent => ({
  kind: "set",
  name,
  spec: ipSetArgs.parse({ name, type: "hash:net", entries }),
});

/** The error of a failed result (throws on success, so a test reads it without casts). */
export function errorOf(r: IntentResult | undefined): Error & Record<string, unknown> {
  if (!r || r.ok) throw new Error(`expected a failed result, got ${JSON.stringify(r)}`);
  return r.error as unknown as Error & Record<string, unknown>;
}
