// vitest globalSetup: picks this run's shared lab (a fresh id, so concurrent runs on one machine never share or
// tear down each other's lab), tears down labs left by runs that died, tells test files where the lab lives, and
// tears it down when the run ends. The lab itself is brought up lazily (test/support/lab.ts): runs that never
// touch it pay nothing.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { downLab, isEmptyFootprint } from "../../lab/down";
import { claimLab, reapAbandonedLabs, uniqueLabId } from "../../lab/owner";
import { labPaths, locateLab, REPO_ROOT } from "../../lab/paths";

/** Ids of labs made by test runs: "dfwlt…" shared ones, "dfwtm…" throwaway ones. */
export const TEST_LAB_IDS = /^dfw(lt|tm)[a-z0-9]{3}$/;

/** The part of vitest's TestProject we use (its type lives in an ESM-only entry point). */
interface Provider {
  provide(key: "sharedLab", value: { labId: string; stateDir: string; inventoryPath: string; ipv6: boolean }): void;
}

export default async function setup(project: Provider) {
  const reaped = await reapAbandonedLabs(join(REPO_ROOT, ".lab"), TEST_LAB_IDS);
  if (reaped.length > 0) console.log(`tore down labs of runs that died: ${reaped.join(", ")}`);
  const labId = process.env.DFW_SHARED_LAB_ID ?? uniqueLabId("dfwlt");
  // Never DFW_LAB_DIR: that names the CLI's lab, not this run's.
  const loc = locateLab({ labId, stateDir: join(REPO_ROOT, ".lab", labId) });
  mkdirSync(loc.stateDir, { recursive: true });
  claimLab(loc);
  project.provide("sharedLab", {
    labId: loc.labId,
    stateDir: loc.stateDir,
    inventoryPath: labPaths(loc).inventory,
    ipv6: process.env.DFW_LAB_IPV6 !== "0",
  });
  return async () => {
    if (process.env.DFW_KEEP_LAB === "1") return;
    const r = await downLab(loc);
    if (isEmptyFootprint(r.left)) rmSync(loc.stateDir, { recursive: true, force: true });
    else console.error(`shared lab ${loc.labId} left behind: ${JSON.stringify(r.left)}`);
  };
}
