// Light nodes for the hosts curve: a scratch network namespace with Docker's DOCKER-USER shape (iptables-nft, no
// dockerd) and a real OpenSSH sshd started per connection in inetd mode (-i) inside it, reached on a 127.0.0.1 port
// of this process. Each connection gets a private mount namespace whose /run/docker-firewall is the node's own
// directory, so nodes do not share the node lock or the apply lock. Nothing touches the root namespace's firewall.
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Connection, parseConnection } from "../provider/model/connection";
import { RUN_DIR } from "../provider/protocol/run-dir";
import { ScratchNamespace } from "../test/support/netns";

const run = promisify(execFile);

export interface LightNode {
  readonly name: string;
  readonly ns: ScratchNamespace;
  readonly connection: Connection;
  /** For the dynamic-provider host: the connection without the key (the key goes in stack config). */
  readonly connectionInput: Record<string, unknown>;
}

export interface LightFleet {
  readonly nodes: readonly LightNode[];
  readonly privateKey: string;
  down(): Promise<void>;
}

async function keyPair(path: string): Promise<{ privateKey: string; publicKey: string }> {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "dfw-bench", "-f", path]);
  return { privateKey: readFileSync(path, "utf8"), publicKey: readFileSync(`${path}.pub`, "utf8").trim() };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      if (a === null || typeof a === "string") reject(new Error("no port"));
      else resolve(a.port);
    });
  });
}

/** Per connection: the node's namespace, a private mount namespace with its own run dir, sshd in inetd mode. */
const SESSION = `mount --bind "$1" ${RUN_DIR} && exec /usr/sbin/sshd -i -e -f "$2"`;

export async function upLightFleet(count: number): Promise<LightFleet> {
  const dir = mkdtempSync(join(tmpdir(), "dfw-light-"));
  const host = await keyPair(join(dir, "host_ed25519"));
  const user = await keyPair(join(dir, "user_ed25519"));
  writeFileSync(join(dir, "authorized_keys"), `${user.publicKey}\n`, { mode: 0o600 });
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `HostKey ${join(dir, "host_ed25519")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "UsePAM no",
      "StrictModes no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "MaxSessions 10",
      "PrintMotd no",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const servers: Server[] = [];
  const nodes: LightNode[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const ns = await ScratchNamespace.create("dfwl");
      await ns.installDockerUserChain("nft", "ipv4");
      const runDir = join(dir, `run-${i}`);
      mkdirSync(runDir, { mode: 0o700 });
      const server = createServer((sock) => {
        sock.setNoDelay(true);
        const child = spawn(
          "ip",
          [
            "netns",
            "exec",
            ns.name,
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            SESSION,
            "sh",
            runDir,
            config,
          ],
          { stdio: ["pipe", "pipe", "ignore"] },
        );
        const close = () => {
          sock.destroy();
          child.kill();
        };
        sock.on("error", close);
        child.on("error", close);
        child.stdin.on("error", close);
        child.on("exit", () => sock.end());
        sock.pipe(child.stdin);
        child.stdout.pipe(sock);
      });
      servers.push(server);
      const port = await listen(server);
      const input = { host: "127.0.0.1", port, user: "root", hostKey: host.publicKey };
      nodes.push({
        name: `light${i + 1}`,
        ns,
        connection: parseConnection({ ...input, privateKey: user.privateKey }),
        connectionInput: input,
      });
    }
  } catch (e) {
    await down();
    throw e;
  }
  async function down() {
    for (const s of servers) s.close();
    await Promise.all(nodes.map((n) => n.ns.destroy()));
    rmSync(dir, { recursive: true, force: true });
  }
  return { nodes, privateKey: user.privateKey, down };
}
