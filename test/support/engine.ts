// The engine harness lives with the demo (demo/engine/host.ts), which drives whole programs through the same
// real dynamic-provider host; tests use it directly.
import { readFileSync } from "node:fs";
import { EngineHost } from "../../demo/engine/host";
import type { LabNode } from "../../lab/index";

export { type DiffReply, EngineHost, PartialCreate, serializeProvider, UNKNOWN } from "../../demo/engine/host";

export const urnOf = (type: string, name: string) =>
  `urn:pulumi:test::fw::pulumi-nodejs:dynamic/docker-firewall:${type}::${name}`;

/** The dynamic-provider host with a lab node's root key as the provider's stack config (never in any input). */
export function engineFor(node: LabNode): Promise<EngineHost> {
  const privateKey = readFileSync(node.privateKeyPath, "utf8");
  return EngineHost.start({ cwd: process.cwd(), config: { "docker-firewall:privateKey": privateKey } });
}

/** A resource's `connection` to a lab node as root, pinned to its host key (the key comes from stack config). */
export const rootConnection = (node: LabNode, port = node.ssh.port) => ({
  host: port === node.ssh.port ? node.ssh.host : "127.0.0.1",
  port,
  user: "root",
  hostKey: node.ssh.hostKey,
});
