// What the benches share: the 40-rule workload's shapes, medians and timers, a lab node's root connection, and a
// lab of their own (claimed, always torn down).
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { downLab, type LabInventory, type LabNode, locateLab, type UpOptions, upLab } from "../lab/index";
import { claimLab } from "../lab/owner";
import { REPO_ROOT } from "../lab/paths";
import { type Connection, parseConnection } from "../provider/model/connection";

/** Rule i of the workload (DockerUserRule arguments): four shapes, ports unique per rule. */
export const ruleArgs = (i: number): Record<string, unknown> =>
  [
    { action: "ACCEPT", protocol: "tcp", publishedPorts: [8000 + i], source: "198.51.100.0/26" },
    { action: "ACCEPT", protocol: "udp", publishedPorts: [9000 + i] },
    { action: "DROP", protocol: "tcp", publishedPorts: [10_000 + i], source: "203.0.113.0/24" },
    { action: "ACCEPT", protocol: "tcp", publishedPorts: [11_000 + i], inInterface: "eth0" },
  ][i % 4] as Record<string, unknown>;

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await fn();
  return [performance.now() - t, v];
}

/** Root on a lab node, its host key pinned. */
export function labConnection(n: LabNode): Connection {
  return parseConnection({
    host: n.ssh.host,
    port: n.ssh.port,
    user: "root",
    privateKey: readFileSync(n.privateKeyPath, "utf8"),
    hostKey: n.ssh.hostKey,
  });
}

/** Brings up a lab of its own (id `labId`), runs `fn`, and always tears it down. */
export async function withLab<T>(
  labId: string,
  opts: Omit<UpOptions, "labId" | "stateDir">,
  fn: (lab: LabInventory) => Promise<T>,
): Promise<T> {
  const loc = { labId, stateDir: join(REPO_ROOT, ".lab", labId) };
  mkdirSync(locateLab(loc).stateDir, { recursive: true });
  claimLab(locateLab(loc));
  try {
    return await fn(await upLab({ ...loc, ...opts }));
  } finally {
    await downLab(loc);
    rmSync(locateLab(loc).stateDir, { recursive: true, force: true });
  }
}
