// Labs owned by a process (a test run): several runs on one machine each get their own lab, and a lab whose owner
// died (a crashed or killed run) is torn down by the next run instead of lingering.

import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { downLab } from "./down";
import type { LabLocation } from "./paths";
import { isAlive, readProc } from "./reap";

const ownerFile = (loc: LabLocation) => join(loc.stateDir, "owner.json");

/** A fresh lab id: the prefix plus random lowercase letters and digits, 8 characters in all. */
export function uniqueLabId(prefix: string): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const suffix = [...randomBytes(8 - prefix.length)].map((b) => alphabet[b % alphabet.length]).join("");
  return `${prefix}${suffix}`;
}

/** Records that the process pid (default: this one) owns the lab; call after the state folder exists. */
export function claimLab(loc: LabLocation, pid = process.pid): void {
  const p = readProc(pid);
  writeFileSync(ownerFile(loc), JSON.stringify({ pid, startTime: p?.startTime }));
}

/** True when the lab has an owner file and its owner is gone. */
export function isAbandoned(loc: LabLocation): boolean {
  try {
    const { pid, startTime } = JSON.parse(readFileSync(ownerFile(loc), "utf8")) as { pid: number; startTime?: number };
    return !isAlive(pid, startTime);
  } catch {
    return false;
  }
}

/** Tears down and removes every lab under root whose id matches and whose owner is gone. */
export async function reapAbandonedLabs(root: string, id: RegExp): Promise<string[]> {
  if (!existsSync(root)) return [];
  const reaped: string[] = [];
  for (const labId of readdirSync(root).filter((d) => id.test(d))) {
    const loc = { labId, stateDir: join(root, labId) };
    if (!isAbandoned(loc)) continue;
    await downLab(loc);
    rmSync(loc.stateDir, { recursive: true, force: true });
    reaped.push(labId);
  }
  return reaped;
}
