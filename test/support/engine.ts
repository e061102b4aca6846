// The engine harness lives with the demo (demo/engine/host.ts), which drives whole programs through the same
// real dynamic-provider host; tests use it directly.
export { type DiffReply, EngineHost, PartialCreate, serializeProvider, UNKNOWN } from "../../demo/engine/host";

export const urnOf = (type: string, name: string) =>
  `urn:pulumi:test::fw::pulumi-nodejs:dynamic/docker-firewall:${type}::${name}`;
