// A node's private mount and UTS namespaces: its "disk" (/etc and /var as overlays whose upper dirs are in the
// state folder), fresh /root and /home, and tmpfs /run and /tmp. sshd, dockerd and everything they start live here,
// so files a node persists never reach the real /etc.
import { mkdirSync, writeFileSync } from "node:fs";
import { posix } from "node:path";
import { netnsPath } from "./network";
import type { LabPaths } from "./paths";
import { mustRun, type RunOptions, type RunResult, run } from "./spawn";

/** The environment of every command run in a node: what systemd gives a service, nothing of ours leaks in. */
export const NODE_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
} as const;

export interface NodeRef {
  readonly name: string;
  readonly netns: string;
}

/** argv prefix entering the node's network, mount and UTS namespaces (never `ip netns exec`: it remounts /sys). */
export function nodeArgv(paths: LabPaths, node: NodeRef, argv: readonly string[]): string[] {
  return [
    "nsenter",
    `--net=${netnsPath(node.netns)}`,
    `--mount=${paths.mountNs(node.name)}`,
    `--uts=${paths.utsNs(node.name)}`,
    ...argv,
  ];
}

export function runOnNode(paths: LabPaths, node: NodeRef, argv: readonly string[], opts: RunOptions = {}) {
  return run(nodeArgv(paths, node, argv), { env: { ...NODE_ENV }, ...opts });
}

export function mustRunOnNode(paths: LabPaths, node: NodeRef, argv: readonly string[], opts: RunOptions = {}) {
  return mustRun(nodeArgv(paths, node, argv), { env: { ...NODE_ENV }, ...opts });
}

/**
 * Writes a file inside the node's private view; the content travels on stdin. (`dd` reads fd 0 directly: Node's
 * stdin "pipe" is a socket, which cannot be reopened through /dev/stdin.)
 */
export async function writeNodeFile(
  paths: LabPaths,
  node: NodeRef,
  path: string,
  content: string,
  mode = "0644",
  owner = "root",
) {
  await mustRunOnNode(paths, node, ["mkdir", "-p", posix.dirname(path)]);
  await mustRunOnNode(paths, node, ["dd", `of=${path}`, "status=none"], { stdin: content });
  await mustRunOnNode(paths, node, ["chmod", mode, path]);
  if (owner !== "root") await mustRunOnNode(paths, node, ["chown", `${owner}:${owner}`, path]);
}

/** The private dir holding the ns files must not propagate, or the kernel refuses to bind mount namespaces in it. */
export async function prepareNsDir(paths: LabPaths): Promise<void> {
  mkdirSync(paths.nsDir, { recursive: true });
  await mustRun(["mount", "--bind", paths.nsDir, paths.nsDir]);
  await mustRun(["mount", "--make-private", paths.nsDir]);
}

/** Mount points of namespace files (nsfs) as listed in a mountinfo text: other labs' and /run/netns entries. */
export function nsfsMountPoints(mountinfo: string): string[] {
  return mountinfo
    .split("\n")
    .map((line) => line.split(" "))
    .filter((f) => f[f.indexOf("-") + 1] === "nsfs")
    .map((f) => unescapeMountPath(f[4] ?? ""));
}

const unescapeMountPath = (p: string) =>
  p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * `keep`: host folders the node's processes must reach (the unpacked Docker 28); one under /tmp is bound back at its
 * own path after the node gets its private /tmp (a clone of the repository may live under /tmp).
 */
export async function createNodeNamespaces(
  paths: LabPaths,
  node: NodeRef,
  hostname: string,
  keep: readonly string[] = [],
): Promise<void> {
  for (const f of [paths.mountNs(node.name), paths.utsNs(node.name)]) writeFileSync(f, "");
  for (const d of ["etc", "var"] as const) {
    mkdirSync(paths.upper(node.name, d), { recursive: true });
    mkdirSync(paths.work(node.name, d), { recursive: true });
  }
  mkdirSync(paths.privateHome(node.name, "root"), { recursive: true, mode: 0o700 });
  mkdirSync(paths.privateHome(node.name, "home"), { recursive: true, mode: 0o755 });
  await mustRun([
    "unshare",
    `--mount=${paths.mountNs(node.name)}`,
    `--uts=${paths.utsNs(node.name)}`,
    "--propagation",
    "private",
    "true",
  ]);
  const inNs = (argv: string[]) => mustRun(["nsenter", `--mount=${paths.mountNs(node.name)}`, ...argv]);
  // The copy of the parent's mounts holds references to every existing namespace file (other nodes, other labs,
  // /run/netns); drop them so no namespace outlives its own `down`.
  for (const mp of nsfsMountPoints(await inNs(["cat", "/proc/self/mountinfo"]))) {
    await run(["nsenter", `--mount=${paths.mountNs(node.name)}`, "umount", "-l", mp]);
  }
  await run(["nsenter", `--mount=${paths.mountNs(node.name)}`, "umount", "-l", "/run/netns"]);
  for (const d of ["etc", "var"] as const) {
    const opts = `lowerdir=/${d},upperdir=${paths.upper(node.name, d)},workdir=${paths.work(node.name, d)}`;
    await inNs(["mount", "-t", "overlay", `${node.netns}-${d}`, "-o", opts, `/${d}`]);
  }
  // Binds before the tmpfs mounts: the state folder itself may live under /tmp.
  await inNs(["mount", "--bind", paths.privateHome(node.name, "root"), "/root"]);
  await inNs(["mount", "--bind", paths.privateHome(node.name, "home"), "/home"]);
  await inNs(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", `${node.netns}-run`, "/run"]);
  // Parked in the node's own /var (its overlay: nothing of it reaches the host) while /tmp is replaced.
  const kept = keep.filter((d) => d.startsWith("/tmp/")).map((d, i) => ({ d, park: `/var/lib/dfw-lab-keep/${i}` }));
  for (const { d, park } of kept) {
    await inNs(["mkdir", "-p", park]);
    await inNs(["mount", "--bind", d, park]);
  }
  await inNs(["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", `${node.netns}-tmp`, "/tmp"]);
  for (const { d, park } of kept) {
    await inNs(["mkdir", "-p", d]);
    await inNs(["mount", "--bind", park, d]);
    await inNs(["umount", park]);
  }
  await inNs(["mkdir", "-p", "/run/sshd", "/run/lock"]);
  await mustRun(["nsenter", `--uts=${paths.utsNs(node.name)}`, "hostname", hostname]);
  const ref = { name: node.name, netns: node.netns };
  await writeNodeFile(paths, ref, "/etc/hostname", `${hostname}\n`);
  // sudo warns on stderr when it cannot resolve the host name: keep the provider's command output clean.
  await writeNodeFile(
    paths,
    ref,
    "/etc/hosts",
    `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  );
}

export type { RunResult };
