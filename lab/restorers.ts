// Tools that restore whole firewall tables at boot (netfilter-persistent, nftables, ufw, firewalld), unpacked from
// their real Debian packages into one node and enabled as `systemctl enable` would, so a boot runs their real units.
// The node's /usr gets an overlay first: the packages' programs land in the node's view only, never on the machine.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, posix } from "node:path";
import { mustRunOnNode, type NodeRef, runOnNode } from "./node-ns";
import { type LabPaths, REPO_ROOT } from "./paths";

export type Restorer = "netfilter-persistent" | "nftables" | "ufw" | "firewalld";

/** The packages each restorer needs (the iptables plugins of netfilter-persistent live in iptables-persistent). */
const PACKAGES: Record<Restorer, readonly string[]> = {
  "netfilter-persistent": ["netfilter-persistent", "iptables-persistent"],
  nftables: ["nftables"],
  ufw: ["ufw"],
  firewalld: ["firewalld"],
};

/** Paths a package may write in a node: its /etc and /var are overlays already; /lib is a link into /usr. */
const ALLOWED_ROOTS = ["./etc/", "./usr/", "./lib/", "./sbin/", "./var/"];

export function restorersDir(): string {
  return join(process.env.DFW_CACHE_DIR ?? join(REPO_ROOT, ".cache"), "restorers");
}

/** Runs scripts/fetch-restorers.sh (instant when cached) and returns the .deb files of one restorer. */
export function restorerDebs(restorer: Restorer): string[] {
  execFileSync("bash", [join(REPO_ROOT, "scripts", "fetch-restorers.sh")], { stdio: ["ignore", "ignore", "inherit"] });
  const files = readdirSync(restorersDir());
  return PACKAGES[restorer].map((p) => {
    const f = files.find((x) => x.startsWith(`${p}_`) && x.endsWith(".deb"));
    if (!f) throw new Error(`${p}: no .deb in ${restorersDir()}`);
    return join(restorersDir(), f);
  });
}

/** PURE. Entries of a package outside the node's private dirs (which would land on the machine's own disk). */
export function entriesOutsideNode(listing: readonly string[]): string[] {
  return listing.filter((e) => e !== "" && e !== "./" && !ALLOWED_ROOTS.some((r) => e.startsWith(r)));
}

/** Where the node's /usr overlay keeps its changes: a tmpfs in the node's own /var, which every node can see (the
 * lab's state folder may be under /tmp, which the node's private /tmp hides) and a reboot does not empty. */
const USR_CHANGES = "/var/lib/dfw-lab-usr";

/** Gives the node a private, writable /usr (an overlay over the machine's), once. */
async function privateUsr(paths: LabPaths, node: NodeRef): Promise<void> {
  const mounts = await mustRunOnNode(paths, node, ["cat", "/proc/self/mountinfo"]);
  if (mounts.split("\n").some((l) => l.split(" ")[4] === "/usr")) return;
  const script = [
    `mkdir -p ${USR_CHANGES}`,
    `mount -t tmpfs -o mode=0700 ${node.netns}-usr-changes ${USR_CHANGES}`,
    `mkdir ${USR_CHANGES}/upper ${USR_CHANGES}/work`,
    `mount -t overlay ${node.netns}-usr -o lowerdir=/usr,upperdir=${USR_CHANGES}/upper,workdir=${USR_CHANGES}/work /usr`,
  ].join(" && ");
  await mustRunOnNode(paths, node, ["sh", "-c", script]);
}

/** Unpacks a restorer's packages into the node (its /etc, /var and private /usr) without running their scripts. */
export async function unpackRestorer(paths: LabPaths, node: NodeRef, restorer: Restorer): Promise<void> {
  await privateUsr(paths, node);
  for (const deb of restorerDebs(restorer)) {
    const listing = execFileSync("dpkg-deb", ["--fsys-tarfile", deb], { maxBuffer: 64 << 20 });
    const names = execFileSync("tar", ["-t"], { input: listing, maxBuffer: 16 << 20 })
      .toString()
      .split("\n");
    const outside = entriesOutsideNode(names);
    if (outside.length > 0) throw new Error(`${posix.basename(deb)} would write outside the node: ${outside[0]}`);
    // /lib and /sbin stay links into the node's /usr overlay; existing directories (/ itself) keep their metadata.
    const tar = ["tar", "-x", "--keep-directory-symlink", "--no-overwrite-dir", "--no-same-owner", "-C", "/"];
    const r = await runOnNode(paths, node, tar, { stdin: listing });
    if (r.code !== 0) throw new Error(`unpacking ${posix.basename(deb)} into ${node.name}: ${r.stderr.trim()}`);
  }
}

/** The unit file a restorer's package ships, read from the .deb (no node needed). */
export function packagedUnit(restorer: Restorer, unit: string): string {
  const [deb] = restorerDebs(restorer);
  const tar = execFileSync("dpkg-deb", ["--fsys-tarfile", deb as string], { maxBuffer: 64 << 20 });
  return execFileSync("tar", ["-xO", `./lib/systemd/system/${unit}`], { input: tar }).toString();
}

/** Enables a unit as `systemctl enable` does for WantedBy=x: a link in /etc/systemd/system/x.wants/. */
export async function enableUnit(paths: LabPaths, node: NodeRef, unit: string, wantedBy: string): Promise<void> {
  const dir = `/etc/systemd/system/${wantedBy}.wants`;
  await mustRunOnNode(paths, node, ["mkdir", "-p", dir]);
  await mustRunOnNode(paths, node, ["ln", "-sfn", `/lib/systemd/system/${unit}`, `${dir}/${unit}`]);
}
