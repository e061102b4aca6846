// PURE. Where a lab keeps its state. Everything the lab writes on this machine is under stateDir.
import { join, resolve } from "node:path";
import { validateLabId } from "./addresses";

export const REPO_ROOT = resolve(__dirname, "..");
export const DEFAULT_LAB_ID = "dfwlab";

// Paths end up in mount options (overlay lowerdir=…,upperdir=…) and sshd_config: keep them to a safe alphabet.
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export interface LabLocation {
  readonly labId: string;
  readonly stateDir: string;
}

export interface LabLocationOptions {
  readonly labId?: string;
  readonly stateDir?: string;
}

/** Lab id from opts, then DFW_LAB_ID, then "dfwlab"; state folder from opts, then DFW_LAB_DIR, then <repo>/.lab/<id>. */
export function locateLab(opts: LabLocationOptions = {}, env: NodeJS.ProcessEnv = process.env): LabLocation {
  const labId = validateLabId(opts.labId ?? env.DFW_LAB_ID ?? DEFAULT_LAB_ID);
  const stateDir = resolve(opts.stateDir ?? env.DFW_LAB_DIR ?? join(REPO_ROOT, ".lab", labId));
  if (!SAFE_PATH.test(stateDir)) throw new Error(`lab state folder must match ${SAFE_PATH}: ${stateDir}`);
  // /etc and /var are overlaid inside each node; an upper dir inside its own lower dir is refused by overlayfs.
  for (const covered of ["/etc", "/var", "/proc", "/sys", "/dev"]) {
    if (stateDir === covered || stateDir.startsWith(`${covered}/`)) {
      throw new Error(`lab state folder cannot be under ${covered}: ${stateDir}`);
    }
  }
  return { labId, stateDir };
}

export function labPaths(loc: LabLocation) {
  const s = loc.stateDir;
  return {
    ...loc,
    inventory: join(s, "inventory.json"),
    keysDir: join(s, "keys"),
    clientKey: join(s, "keys", "id_ed25519"),
    /** A private bind mount holding the nodes' mount and UTS namespace files (like ip netns does for /run/netns). */
    nsDir: join(s, "ns"),
    mountNs: (node: string) => join(s, "ns", `${node}.mnt`),
    utsNs: (node: string) => join(s, "ns", `${node}.uts`),
    nodesDir: join(s, "nodes"),
    nodeDir: (node: string) => join(s, "nodes", node),
    upper: (node: string, dir: "etc" | "var") => join(s, "nodes", node, `${dir}-upper`),
    work: (node: string, dir: "etc" | "var") => join(s, "nodes", node, `${dir}-work`),
    privateHome: (node: string, dir: "root" | "home") => join(s, "nodes", node, dir),
    runDir: join(s, "run"),
    pidsDir: join(s, "run", "pids"),
    pidFile: (name: string) => join(s, "run", "pids", `${name}.pid`),
    forwarderConfig: join(s, "run", "forwarder.json"),
    forwarderPorts: join(s, "run", "forwarder-ports.json"),
    logsDir: join(s, "logs"),
    log: (name: string) => join(s, "logs", `${name}.log`),
    imageDir: join(s, "image"),
    imageTar: join(s, "image", "rootfs.tar"),
    bootReport: (node: string) => join(s, "run", `${node}.boot.json`),
  };
}

export type LabPaths = ReturnType<typeof labPaths>;

/** The runtime parts that `down` removes; logs stay for post-mortems and are cleared by the next `up`. */
export const runtimeParts = (p: LabPaths) => [p.inventory, p.keysDir, p.nsDir, p.nodesDir, p.runDir, p.imageDir];

export const inventoryPath = (opts: LabLocationOptions = {}) => labPaths(locateLab(opts)).inventory;
