// The shared lab for the vitest run (plus, re-exported, the lab's small ssh2 client).
// One 3-node mixed-fleet lab (id "dfwlt…", fresh per run) is brought up lazily by the first test file that asks for it and
// reused by the others; test/support/lab-global-setup.ts tears it down when the run ends.
import { existsSync } from "node:fs";
import { inject } from "vitest";
import { type LabInventory, loadInventory, upLab } from "../../lab/index";
import { labStatus } from "../../lab/status";

declare module "vitest" {
  export interface ProvidedContext {
    sharedLab: { labId: string; stateDir: string; inventoryPath: string; ipv6: boolean };
  }
}

/** The fleet a real operator has: Docker 28 on nft (node1), Docker 28 on legacy (node2), Docker 20.10 (node3). */
export const SHARED_FLEET = { legacyNodes: ["node2"], docker: ["28", "node3=20.10"] } as const;

let cached: Promise<LabInventory> | undefined;

async function healthy(inventory: LabInventory): Promise<boolean> {
  const s = await labStatus(inventory);
  return s.forwarder.alive && s.nodes.every((n) => n.sshd.alive && n.dockerd.alive && n.containers.length >= 2);
}

/** The run's shared 3-node lab: reused when already up and healthy, brought up otherwise. */
export function sharedLab(): Promise<LabInventory> {
  cached ??= (async () => {
    const where = inject("sharedLab");
    if (!where) {
      throw new Error(
        "the shared lab needs vitest's globalSetup: add test/support/lab-global-setup.ts to test.globalSetup in vitest.config.ts",
      );
    }
    if (existsSync(where.inventoryPath)) {
      const inventory = loadInventory(where.inventoryPath);
      if (await healthy(inventory)) return inventory;
    }
    const started = performance.now();
    const inventory = await upLab({
      labId: where.labId,
      stateDir: where.stateDir,
      nodes: 3,
      ipv6: where.ipv6,
      ...SHARED_FLEET,
    });
    console.log(`shared lab ${where.labId}: up in ${Math.round(performance.now() - started)} ms`);
    return inventory;
  })();
  return cached;
}

export { type SshOptions, type SshResult, sshConnect, sshExec, sshRun } from "../../lab/ssh-client";
