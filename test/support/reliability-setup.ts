// vitest globalSetup: start each run with an empty reliability results file (see test/reliability/results.ts).
import { rmSync } from "node:fs";
import { RELIABILITY_RESULTS } from "../reliability/results";

export default function setup() {
  rmSync(RELIABILITY_RESULTS, { force: true });
}
