// Standing a lab up: segments and clients, then every node in parallel (network, private namespaces, users, sshd,
// dockerd, published containers), then the SSH forwarder; returns once every published port answers.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { type LabPlan, type NodePlan, PUBLISHED, planLab, USERS, WAN } from "./addresses";
import {
  builtDocker29Bin,
  DOCKER_SOCKET,
  dockerdArgv,
  ensureDocker28,
  ensureDocker29,
  importImage,
  LAB_ACCEPT_MARK,
  runServices,
  waitForServices,
} from "./docker";
import { downLab } from "./down";
import { sshBanner, startForwarder } from "./forwarder";
import { buildImageTar } from "./image";
import type { LabInventory, LabNode } from "./inventory";
import { createClient, createNodeNetwork, createSegments } from "./network";
import { createNodeNamespaces, mustRunOnNode, prepareNsDir } from "./node-ns";
import { type LabLocationOptions, type LabPaths, labPaths, locateLab } from "./paths";
import { rememberDockerdArgv, startDocker } from "./power";
import { probeLab } from "./probe";
import { waitFor } from "./spawn";
import { createUsers, ensureClientKey, generateHostKey, hostKeyFingerprint, startSshd } from "./sshd";

export interface UpOptions extends LabLocationOptions {
  readonly nodes?: number;
  /** Simulated round trip on every SSH connection, added by the forwarder (half each way). */
  readonly rttMs?: number;
  readonly ipv6?: boolean;
  /** Nodes whose `iptables` (and so Docker) use iptables-legacy instead of iptables-nft, e.g. ["node3"]. */
  readonly legacyNodes?: readonly string[];
  /** Docker per node, e.g. ["28", "node3=20.10"] (addresses.ts `dockerPerNode`); default Docker 28 everywhere. */
  readonly docker?: readonly string[];
  /** Leave a half-built lab in place for inspection instead of tearing it down. */
  readonly keepOnFailure?: boolean;
  readonly log?: (message: string) => void;
}

interface BuiltNode {
  readonly plan: NodePlan;
  readonly hostKey: string;
  readonly dockerVersion: string;
}

async function bringUpNode(
  paths: LabPaths,
  plan: LabPlan,
  node: NodePlan,
  publicKey: string,
  imageReady: Promise<void>,
  docker28Root: string | undefined,
  docker29Bin: string | undefined,
): Promise<BuiltNode> {
  await createNodeNetwork(plan, node);
  const binds = [docker28Root, docker29Bin ?? builtDocker29Bin()].filter((p): p is string => p !== undefined);
  await createNodeNamespaces(paths, node, node.hostname, binds);
  await createUsers(paths, node, publicKey);
  const hostKey = await generateHostKey(paths, node, node.hostname);
  if (node.iptablesBackend === "legacy") {
    // The node's own /etc/alternatives: the real machine's choice is untouched.
    for (const bin of ["iptables", "ip6tables"]) {
      await mustRunOnNode(paths, node, ["update-alternatives", "--quiet", "--set", bin, `/usr/sbin/${bin}-legacy`]);
    }
  }
  writeFileSync(paths.pidFile(`${node.name}.sshd`), `${await startSshd(paths, node)}\n`);
  rememberDockerdArgv(paths, node.name, dockerdArgv(node.docker, plan.ipv6, docker28Root, docker29Bin));
  const dockerVersion = await startDocker(paths, node);
  await imageReady;
  await importImage(paths, node);
  await runServices(paths, node, plan.ipv6);
  await waitForServices(paths, node);
  return { plan: node, hostKey, dockerVersion };
}

/** PURE. The inventory entry of one node. */
export function inventoryNode(b: BuiltNode, sshPort: number, privateKeyPath: string, ipv6: boolean): LabNode {
  const n = b.plan;
  return {
    name: n.name,
    netns: n.netns,
    hostname: n.hostname,
    ssh: { host: "127.0.0.1", port: sshPort, hostKey: b.hostKey, hostKeyFingerprint: hostKeyFingerprint(b.hostKey) },
    privateKeyPath,
    rootUser: "root",
    sudoUser: USERS.sudo,
    nosudoUser: USERS.nosudo,
    wan: { interface: n.wan.interface, ipv4: n.wan.ipv4, ipv6: n.wan.ipv6 },
    lan: { interface: n.lan.interface, ipv4: n.lan.ipv4, ipv6: n.lan.ipv6 },
    docker: {
      socketPath: DOCKER_SOCKET,
      bridgeSubnet: n.docker.bridgeSubnet,
      bridgeSubnetV6: n.docker.fixedCidrV6,
      version: b.dockerVersion,
      ipv6,
      ...(n.docker.line === "29-nft" && { firewallBackend: "nftables" as const, acceptMark: LAB_ACCEPT_MARK }),
    },
    published: PUBLISHED.map((p) => ({ ...p })),
    iptablesBackend: n.iptablesBackend,
  };
}

export async function upLab(opts: UpOptions = {}): Promise<LabInventory> {
  const log = opts.log ?? (() => undefined);
  const loc = locateLab(opts);
  const paths = labPaths(loc);
  const plan = planLab({
    labId: loc.labId,
    nodes: opts.nodes ?? 3,
    ipv6: opts.ipv6 ?? true,
    legacyNodes: opts.legacyNodes,
    docker: opts.docker,
  });
  const rttMs = opts.rttMs ?? 0;
  const t0 = performance.now();
  const since = () => `${Math.round(performance.now() - t0)} ms`;
  const cleaned = await downLab(loc);
  if (cleaned.stopped > 0 || cleaned.netnsDeleted.length > 0) log(`cleaned a previous lab ${loc.labId}`);
  rmSync(paths.logsDir, { recursive: true, force: true });
  for (const d of [paths.logsDir, paths.pidsDir, paths.nodesDir, paths.imageDir]) mkdirSync(d, { recursive: true });
  try {
    await prepareNsDir(paths);
    const imageReady = buildImageTar(paths.imageDir, paths.imageTar);
    imageReady.catch(() => undefined); // awaited by every node; this only avoids an unhandled rejection
    const publicKey = await ensureClientKey(paths);
    const docker28Root = plan.nodes.some((n) => n.docker.line !== "20.10") ? await ensureDocker28() : undefined;
    const docker29Bin = plan.nodes.some((n) => n.docker.line === "29-nft") ? await ensureDocker29() : undefined;
    await createSegments(plan);
    await Promise.all(plan.clients.map((c) => createClient(plan, c)));
    log(`segments and clients ready (${since()})`);
    const built = await Promise.all(
      plan.nodes.map((n) => bringUpNode(paths, plan, n, publicKey, imageReady, docker28Root, docker29Bin)),
    );
    log(`${built.length} nodes ready (${since()})`);
    const fwd = await startForwarder(paths, plan.nodes, rttMs);
    writeFileSync(paths.pidFile("forwarder"), `${fwd.pid}\n`);
    const inventory: LabInventory = {
      labId: loc.labId,
      stateDir: loc.stateDir,
      rttMs,
      createdAt: new Date().toISOString(),
      lbCidr: WAN.lbCidr,
      lbCidr6: plan.ipv6 ? WAN.lbCidr6 : undefined,
      ipv6: plan.ipv6,
      upMs: 0,
      nodes: built.map((b) => inventoryNode(b, fwd.ports[b.plan.name] as number, paths.clientKey, plan.ipv6)),
      clients: plan.clients.map((c) => ({
        name: c.name,
        netns: c.netns,
        segment: c.segment,
        ipv4: c.ipv4,
        ipv6: c.ipv6,
      })),
    };
    await Promise.all(
      inventory.nodes.map((n) =>
        waitFor(`sshd of ${n.name} through the forwarder`, 20_000, async () => {
          const banner = await sshBanner(n.ssh.port);
          return banner?.startsWith("SSH-2.0-") ? banner : undefined;
        }),
      ),
    );
    // Ready means every published service answers the allowed client: DNAT and forwarding really work.
    await waitFor("every published port to answer the allowed client", 20_000, async () => {
      const rows = await probeLab(inventory, { clients: ["allowed"] });
      return rows.every((r) => r.result === "open") ? rows : undefined;
    });
    const done: LabInventory = { ...inventory, upMs: Math.round(performance.now() - t0) };
    writeFileSync(paths.inventory, `${JSON.stringify(done, null, 2)}\n`);
    log(`lab ${loc.labId} up with ${built.length} nodes in ${since()}; inventory ${paths.inventory}`);
    return done;
  } catch (e) {
    if (!opts.keepOnFailure) await downLab(loc).catch(() => undefined);
    throw e;
  }
}
