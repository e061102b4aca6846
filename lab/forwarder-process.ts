// The lab's SSH forwarder, a long-running process in the root namespace: for each node it listens on a free
// 127.0.0.1 port and, per connection, joins the node's network namespace with `nsenter … socat` to reach its sshd.
// With a delay, each direction is held delayMs (half the simulated RTT), byte order preserved.
// Run: node --import tsx lab/forwarder-process.ts <config.json>
import { spawn } from "node:child_process";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { delayedPipe } from "./delay";

export interface ForwarderConfig {
  readonly labId: string;
  readonly delayMs: number;
  readonly portsFile: string;
  readonly nodes: readonly { readonly name: string; readonly netnsPath: string }[];
}

function forward(sock: Socket, netnsPath: string, delayMs: number) {
  sock.setNoDelay(true);
  const child = spawn("nsenter", [`--net=${netnsPath}`, "socat", "STDIO", "TCP:127.0.0.1:22,nodelay"], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  const close = () => {
    sock.destroy();
    child.kill();
  };
  sock.on("error", close);
  child.on("error", close);
  child.stdin.on("error", close);
  child.on("exit", () => setTimeout(() => sock.end(), delayMs));
  delayedPipe(sock, child.stdin, delayMs);
  delayedPipe(child.stdout, sock, delayMs);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      if (addr === null || typeof addr === "string") reject(new Error("no port"));
      else resolve(addr.port);
    });
  });
}

async function main(configPath: string) {
  const config = JSON.parse(readFileSync(configPath, "utf8")) as ForwarderConfig;
  process.title = `${config.labId}-sshfwd`;
  const ports: Record<string, number> = {};
  for (const node of config.nodes) {
    const server = createServer((sock) => forward(sock, node.netnsPath, config.delayMs));
    ports[node.name] = await listen(server);
  }
  // Written atomically: `up` waits for this file to learn the ports.
  writeFileSync(`${config.portsFile}.tmp`, JSON.stringify(ports));
  renameSync(`${config.portsFile}.tmp`, config.portsFile);
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));
}

if (require.main === module) {
  const configPath = process.argv[2];
  if (!configPath) {
    console.error("usage: forwarder-process.ts <config.json>");
    process.exit(2);
  }
  main(configPath).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
