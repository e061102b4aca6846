// Reliability cases record their outcome here (one JSON line each); the summary reporter prints them as a
// table at the end of the run: case, trials, passed, failed, worst recovery time.
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";

export const RELIABILITY_RESULTS = path.resolve(__dirname, "../../.lab/reliability.jsonl");

export interface CaseResult {
  readonly name: string;
  readonly trials: number;
  readonly passed: number;
  readonly failed: number;
  /** Worst time from the fault to the host being right again (ms), where that applies. */
  readonly worstRecoveryMs?: number;
}

export function recordCase(
  name: string,
  trials: number,
  passed: number,
  failed: number,
  worstRecoveryMs?: number,
): void {
  mkdirSync(path.dirname(RELIABILITY_RESULTS), { recursive: true });
  const r: CaseResult = { name, trials, passed, failed, ...(worstRecoveryMs !== undefined && { worstRecoveryMs }) };
  appendFileSync(RELIABILITY_RESULTS, `${JSON.stringify(r)}\n`);
}
