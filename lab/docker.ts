// A node's own dockerd (Docker 28.5 from .cache/docker28, Docker 29 from .cache/docker29 on nftables, or Debian 12's
// docker.io 20.10) and its published services.

import { spawn } from "node:child_process";
import { createReadStream, existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import type { NodePlan } from "./addresses";
import { PUBLISHED } from "./addresses";
import { IMAGE_NAME } from "./image";
import { mustRunOnNode, NODE_ENV, type NodeRef, nodeArgv, runOnNode } from "./node-ns";
import { type LabPaths, REPO_ROOT } from "./paths";
import { mustRun, spawnDaemon, waitFor } from "./spawn";

export const DOCKER_SOCKET = "/var/run/docker.sock";

/**
 * Runs scripts/install-docker28.sh (seconds when cached) and returns the unpacked root. It lives in the repo's
 * cache folder (or DFW_CACHE_DIR); a node whose private /tmp would hide it gets it bound back (node-ns.ts).
 */
export async function ensureDocker28(): Promise<string> {
  const out = await mustRun(["bash", join(REPO_ROOT, "scripts", "install-docker28.sh")], { timeoutMs: 600_000 });
  const root = out.trim().split("\n").pop() ?? "";
  if (!root.startsWith("/")) throw new Error(`install-docker28.sh printed no unpacked root: ${out}`);
  return root;
}

/** Runs scripts/install-docker29.sh (0.1 s with its stamp, ~30 s relink with a warm Go cache) and returns the bin folder. */
export async function ensureDocker29(): Promise<string> {
  const out = await mustRun(["bash", join(REPO_ROOT, "scripts", "install-docker29.sh")], { timeoutMs: 3_600_000 });
  const bin = out.trim().split("\n").pop() ?? "";
  if (!bin.startsWith("/")) throw new Error(`install-docker29.sh printed no bin folder: ${out}`);
  // The node binds this path into its mount namespace: a symlinked cache must be bound by its real path.
  return realpathSync(bin);
}

/** Docker 29's bin folder when it is built already (never builds): Docker 28 nodes bind it too, so a test can switch
 * a node to Docker 29 even when the lab's state folder is under /tmp (which a node's private /tmp hides). */
export function builtDocker29Bin(): string | undefined {
  const bin = join(process.env.DFW_CACHE_DIR ?? join(REPO_ROOT, ".cache", "docker29"), "bin");
  return existsSync(join(bin, "dockerd")) ? realpathSync(bin) : undefined;
}

/** The mark Docker 29 nodes accept (--bridge-accept-fwmark); our nftables table sets it on allowed packets. */
export const LAB_ACCEPT_MARK = "0x2b00/0xff00";

/** Docker 29's nftables backend leaves forwarding off (docs/docker29-nftables.md): the node's "sysctl.conf". */
const FORWARDING_ON = 'sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 && exec "$@"';

/**
 * PURE. dockerd's command line: vfs storage, its own bridge subnet, iptables on, optionally IPv6 with ip6tables.
 * Docker 28 runs from `docker28Root` with its containerd first on PATH (runc and docker-init are Debian 12's).
 */
export function dockerdArgv(
  docker: NodePlan["docker"],
  ipv6: boolean,
  docker28Root?: string,
  docker29Bin?: string,
): string[] {
  if (docker.line !== "20.10" && !docker28Root) throw new Error("Docker 28/29 nodes need the unpacked Docker 28 root");
  if (docker.line === "29-nft" && !docker29Bin) throw new Error("Docker 29 nodes need the built Docker 29 dockerd");
  // Docker 29 runs with Docker 28's containerd 2.1 (scripts/install-docker29.sh).
  const path = `PATH=${docker28Root}/usr/bin:${docker28Root}/usr/sbin:${NODE_ENV.PATH}`;
  const binary =
    docker.line === "28"
      ? ["env", path, `${docker28Root}/usr/sbin/dockerd`]
      : docker.line === "29-nft"
        ? ["sh", "-c", FORWARDING_ON, "sh", "env", path, `${docker29Bin}/dockerd`]
        : ["/usr/sbin/dockerd"];
  const firewall =
    docker.line === "29-nft"
      ? // This moby gives containers a time namespace Debian 12's runc 1.1.5 does not know: turned off.
        ["--firewall-backend=nftables", `--bridge-accept-fwmark=${LAB_ACCEPT_MARK}`, "--feature=time-namespaces=false"]
      : ["--iptables=true"];
  const argv = [
    ...binary,
    "--storage-driver=vfs",
    // /var and /run are the node's own (overlay and tmpfs): the default places are private already, named anyway.
    "--data-root=/var/lib/docker",
    "--exec-root=/run/docker",
    "--pidfile=/run/docker.pid",
    `--host=unix://${DOCKER_SOCKET}`,
    `--bip=${docker.bip}`,
    `--default-address-pool=${docker.addressPool}`,
    ...firewall,
    // Published ports are reached through DNAT only, as on a host with the proxy off; saves a process per port.
    "--userland-proxy=false",
    "--log-level=warn",
  ];
  if (ipv6 && docker.fixedCidrV6) {
    // 20.10 keeps ip6tables behind --experimental; 28 has it on by default (named anyway).
    argv.push("--ipv6", `--fixed-cidr-v6=${docker.fixedCidrV6}`);
    if (docker.line !== "29-nft") argv.push("--ip6tables");
    if (docker.line === "20.10") argv.push("--experimental");
  }
  return argv;
}

export function startDockerd(paths: LabPaths, node: NodeRef, argv: readonly string[]): number {
  return spawnDaemon(nodeArgv(paths, node, argv), paths.log(`${node.name}-dockerd`), { ...NODE_ENV });
}

export async function dockerServerVersion(paths: LabPaths, node: NodeRef): Promise<string | undefined> {
  const r = await runOnNode(paths, node, ["docker", "version", "--format", "{{.Server.Version}}"], { timeoutMs: 5000 });
  return r.code === 0 && r.stdout.trim() !== "" ? r.stdout.trim() : undefined;
}

export const waitForDocker = (paths: LabPaths, node: NodeRef, timeoutMs = 60_000) =>
  waitFor(`dockerd on ${node.name}`, timeoutMs, () => dockerServerVersion(paths, node), 150);

/** Streams the rootfs tarball into `docker import` inside the node. */
export function importImage(paths: LabPaths, node: NodeRef): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = nodeArgv(paths, node, ["docker", "import", "-", IMAGE_NAME]);
    const child = spawn(cmd as string, args, { env: { ...NODE_ENV }, stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`docker import on ${node.name} failed: ${stderr}`)),
    );
    createReadStream(paths.imageTar).on("error", reject).pipe(child.stdin);
  });
}

/** PURE. `docker run` argv for one published service; --init so SIGTERM stops it at once, restart policy so it
 * comes back whenever dockerd starts. */
export function serviceRunArgv(nodeName: string, service: (typeof PUBLISHED)[number], ipv6: boolean): string[] {
  const publish = `${service.port}:${service.containerPort}/${service.protocol}`;
  const base = ["docker", "run", "-d", "--name", service.container, "--restart", "always", "--init", "-p", publish];
  if (service.protocol === "tcp") {
    // The page names its node, so a probe can tell which node answered.
    const script = `echo "dfwlab ${nodeName} web" > /www/index.html && exec httpd -f -p ${service.containerPort} -h /www`;
    return [...base, IMAGE_NAME, "sh", "-c", script];
  }
  const listen = ipv6
    ? `UDP6-RECVFROM:${service.containerPort},ipv6only=0,fork`
    : `UDP4-RECVFROM:${service.containerPort},fork`;
  return [...base, IMAGE_NAME, "socat", "-T", "2", listen, "EXEC:/bin/cat"];
}

export async function runServices(paths: LabPaths, node: NodeRef, ipv6: boolean): Promise<void> {
  for (const service of PUBLISHED) await mustRunOnNode(paths, node, serviceRunArgv(node.name, service, ipv6));
}

/** Names of running containers (empty when dockerd does not answer). */
export async function runningContainers(paths: LabPaths, node: NodeRef): Promise<string[]> {
  const r = await runOnNode(paths, node, ["docker", "ps", "--format", "{{.Names}}"], { timeoutMs: 5000 });
  return r.code === 0 ? r.stdout.split("\n").filter((s) => s !== "") : [];
}

export const waitForServices = (paths: LabPaths, node: NodeRef, timeoutMs = 60_000) =>
  waitFor(`published containers on ${node.name}`, timeoutMs, async () => {
    const running = await runningContainers(paths, node);
    return PUBLISHED.every((s) => running.includes(s.container)) ? running : undefined;
  });
