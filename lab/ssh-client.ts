// A small ssh2 client for talking to lab nodes the way a provider does: real SSH through the forwarder, the lab key,
// and the node's host key pinned (a different key fails the handshake).
import { readFileSync } from "node:fs";
import { Client } from "ssh2";
import type { LabNode } from "./inventory";

export interface SshResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SshOptions {
  readonly user?: string;
  /** The host key line to pin (default: the node's own from the inventory). */
  readonly hostKey?: string;
  readonly timeoutMs?: number;
}

const keyBlob = (line: string) => Buffer.from(line.trim().split(/\s+/)[1] ?? "", "base64");

/** Opens an SSH connection to a lab node with its host key pinned; rejects on a key mismatch. */
export function sshConnect(node: LabNode, opts: SshOptions = {}): Promise<Client> {
  const pinned = keyBlob(opts.hostKey ?? node.ssh.hostKey);
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .on("ready", () => resolve(client))
      .on("error", reject)
      .connect({
        host: node.ssh.host,
        port: node.ssh.port,
        username: opts.user ?? node.rootUser,
        privateKey: readFileSync(node.privateKeyPath),
        hostVerifier: (key: Buffer) => key.equals(pinned),
        readyTimeout: opts.timeoutMs ?? 10_000,
      });
  });
}

/** Runs one command over an open connection; stdin is sent and closed. */
export function sshRun(client: Client, command: string, stdin?: string): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      let stdout = "";
      let stderr = "";
      let code = -1;
      stream.on("data", (b: Buffer) => {
        stdout += b.toString();
      });
      stream.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      stream.on("exit", (c: number | null) => {
        code = c ?? -1;
      });
      stream.on("close", () => resolve({ code, stdout, stderr }));
      stream.end(stdin ?? "");
    });
  });
}

/** Connects, runs one command, disconnects. */
export async function sshExec(node: LabNode, command: string, opts: SshOptions & { stdin?: string } = {}) {
  const client = await sshConnect(node, opts);
  try {
    return await sshRun(client, command, opts.stdin);
  } finally {
    client.end();
  }
}
