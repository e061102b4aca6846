// The lab as a library: tests, examples and benchmarks import these.
import type { LabInventory } from "./inventory";
import { findNode } from "./inventory";
import { type NodeRef, runOnNode } from "./node-ns";
import { pathsOf } from "./power";
import type { RunResult } from "./spawn";

export { type DownReport, downLab, isEmptyFootprint, type LabFootprint, labFootprint } from "./down";
export {
  dockerLineOf,
  findClient,
  findNode,
  freshDockerUser,
  type LabClient,
  type LabInventory,
  type LabNode,
  loadInventory,
  type PublishedPort,
} from "./inventory";
export { type LabLocationOptions, labPaths, locateLab } from "./paths";
export { type RebootResult, rebootNode, restartDocker } from "./power";
export { type ProbeOptions, type ProbeRow, probeLab, probeResult, renderProbeTable } from "./probe";
export { type LabStatus, labStatus, renderStatus } from "./status";
export { type UpOptions, upLab } from "./up";
export type { RunResult };

/** Runs argv as root inside the node (its network, mount and UTS namespaces), not over SSH. Never throws on exit. */
export function execOnNode(
  inventory: LabInventory,
  node: string,
  argv: readonly string[],
  stdin?: string,
): Promise<RunResult> {
  const n: NodeRef = findNode(inventory, node);
  return runOnNode(pathsOf(inventory), n, argv, { stdin });
}

/** The inventory path of a lab (state folder from DFW_LAB_DIR / DFW_LAB_ID or the defaults). */
export { inventoryPath } from "./paths";
export { type SshOptions, type SshResult, sshConnect, sshExec, sshRun } from "./ssh-client";
