// Prints the reliability table (when reliability cases ran) and one plain closing line,
// "N passed, N failed, N skipped", so any CI log reader can count the tests.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Reporter, TestModule } from "vitest/node";

const RESULTS = path.resolve(import.meta.dirname, "../../.lab/reliability.jsonl");

interface CaseResult {
  name: string;
  trials: number;
  passed: number;
  failed: number;
  worstRecoveryMs?: number;
}

function reliabilityTable(): string | undefined {
  if (!existsSync(RESULTS)) return undefined;
  const rows = readFileSync(RESULTS, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CaseResult);
  if (rows.length === 0) return undefined;
  const w = Math.max(4, ...rows.map((r) => r.name.length));
  const head = `${"case".padEnd(w)}  ${"trials".padStart(6)}  ${"passed".padStart(6)}  ${"failed".padStart(6)}  worst recovery`;
  const lines = rows.map(
    (r) =>
      `${r.name.padEnd(w)}  ${String(r.trials).padStart(6)}  ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}  ${
        r.worstRecoveryMs === undefined ? "-" : `${Math.round(r.worstRecoveryMs)} ms`
      }`,
  );
  return ["", "Reliability and security suite", head, "-".repeat(head.length), ...lines].join("\n");
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === "passed") counts.passed++;
        else if (state === "failed") counts.failed++;
        else counts.skipped++;
      }
    }
    const table = reliabilityTable();
    if (table) console.log(table);
    console.log(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  }
}
