// Starting the SSH forwarder (lab/forwarder-process.ts) and learning the ports it picked.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { ForwarderConfig } from "./forwarder-process";
import { netnsPath } from "./network";
import type { LabPaths } from "./paths";
import { REPO_ROOT } from "./paths";
import { spawnDaemon, waitFor } from "./spawn";

/** Environment variable naming the forwarder's config file: how `down` recognises the process. */
export const FORWARDER_MARKER = "DFW_LAB_FORWARDER";

export async function startForwarder(
  paths: LabPaths,
  nodes: readonly { name: string; netns: string }[],
  rttMs: number,
): Promise<{ pid: number; ports: Record<string, number> }> {
  const config: ForwarderConfig = {
    labId: paths.labId,
    delayMs: rttMs / 2,
    portsFile: paths.forwarderPorts,
    nodes: nodes.map((n) => ({ name: n.name, netnsPath: netnsPath(n.netns) })),
  };
  rmSync(paths.forwarderPorts, { force: true });
  writeFileSync(paths.forwarderConfig, JSON.stringify(config, null, 2));
  const script = join(REPO_ROOT, "lab", "forwarder-process.ts");
  const argv = [process.execPath, "--import", "tsx", script, paths.forwarderConfig];
  const pid = spawnDaemon(
    argv,
    paths.log("forwarder"),
    {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      [FORWARDER_MARKER]: paths.forwarderConfig,
    },
    REPO_ROOT,
  );
  const ports = await waitFor("the SSH forwarder's ports", 20_000, async () =>
    existsSync(paths.forwarderPorts)
      ? (JSON.parse(readFileSync(paths.forwarderPorts, "utf8")) as Record<string, number>)
      : undefined,
  );
  return { pid, ports };
}

/** The first line sshd sends ("SSH-2.0-OpenSSH_…"), or undefined when nothing answers within timeoutMs. */
export function sshBanner(port: number, timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    let data = "";
    const done = (v: string | undefined) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(undefined));
    sock.on("error", () => done(undefined));
    sock.on("data", (b: Buffer) => {
      data += b.toString();
      const nl = data.indexOf("\n");
      if (nl >= 0) done(data.slice(0, nl).trim());
    });
    sock.on("close", () => done(undefined));
  });
}
