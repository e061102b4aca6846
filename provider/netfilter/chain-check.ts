// PURE. Whether a DOCKER-USER read back after an apply holds what the plan wanted, allowing for other tools that
// changed their own rules meanwhile (fail2ban re-inserting its jump at the top): our lines exactly as planned, and
// every block where the planner would put it among the foreign rules present now.
import type { IpFamily } from "../model/address";
import type { ForeignRulesPolicy } from "../model/foreign-rules";
import type { SavedRule } from "./parse-iptables-save";
import { planChainChanges } from "./plan-chain";
import { TAGGED_LINE } from "./tag";

export interface ChainCheckOptions {
  readonly exclusive: boolean;
  readonly foreign?: ForeignRulesPolicy;
}

/** Undefined when `got` is as planned (or differs only by foreign rules others changed), else what differs. */
export function chainMismatch(
  family: IpFamily,
  expected: readonly string[],
  got: readonly SavedRule[],
  options: ChainCheckOptions,
): string | undefined {
  if (expected.length === got.length && expected.every((l, i) => l === got[i]?.line)) return undefined;
  const ours = got.filter((r) => TAGGED_LINE.test(r.line)).map((r) => r.line);
  const wantOurs = expected.filter((l) => TAGGED_LINE.test(l));
  const sameOurs = ours.length === wantOurs.length && ours.every((l, i) => l === wantOurs[i]);
  const counted = `${family} DOCKER-USER has ${got.length} rules, expected ${expected.length}`;
  if (!sameOurs) return counted;
  // Our lines are right; are they placed right among whatever foreign rules exist now?
  const settle = planChainChanges(family, got, [], {
    exclusive: options.exclusive,
    ...(options.foreign && { foreign: options.foreign }),
  });
  return settle.ops.length === 0 ? undefined : `${counted}, and another tool's rules moved ours out of place`;
}
