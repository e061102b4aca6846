// Network namespaces and links. Veths are created directly inside lab namespaces, so the root namespace never
// sees a lab interface or address, and its firewall is never touched.

import type { ClientPlan, LabPlan, NodePlan } from "./addresses";
import { mustRun, run } from "./spawn";

export const netnsPath = (netns: string) => `/var/run/netns/${netns}`;

/** argv prefix that runs a command in a network namespace only (no mount namespace, unlike `ip netns exec`). */
export const inNetns = (netns: string, argv: readonly string[]) => ["nsenter", `--net=${netnsPath(netns)}`, ...argv];

export async function listNetns(): Promise<string[]> {
  const r = await run(["ip", "netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n !== "");
}

export async function addNetns(netns: string): Promise<void> {
  await mustRun(["ip", "netns", "add", netns]);
  await mustRun(["ip", "-n", netns, "link", "set", "lo", "up"]);
  // No duplicate address detection: v6 addresses are usable at once, and nobody else is on these links.
  await mustRun(
    inNetns(netns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]),
  );
}

export async function deleteNetns(netns: string): Promise<void> {
  await run(["ip", "netns", "delete", netns]);
}

async function vethBetween(aNs: string, aName: string, bNs: string, bName: string): Promise<void> {
  await mustRun(["ip", "-n", aNs, "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", bNs]);
}

async function addAddresses(netns: string, dev: string, ipv4: string, prefix4: number, ipv6?: string, prefix6 = 64) {
  await mustRun(["ip", "-n", netns, "addr", "add", `${ipv4}/${prefix4}`, "dev", dev]);
  if (ipv6) await mustRun(["ip", "-n", netns, "-6", "addr", "add", `${ipv6}/${prefix6}`, "dev", dev, "nodad"]);
  await mustRun(["ip", "-n", netns, "link", "set", dev, "up"]);
}

async function attachToBridge(segmentNs: string, veth: string) {
  await mustRun(["ip", "-n", segmentNs, "link", "set", veth, "master", "br0", "up"]);
}

/** The WAN and LAN segments: one namespace each holding a plain bridge (no addresses, no firewall). */
export async function createSegments(plan: LabPlan): Promise<void> {
  for (const seg of Object.values(plan.segments)) {
    await addNetns(seg.netns);
    await mustRun(["ip", "-n", seg.netns, "link", "add", seg.bridge, "type", "bridge"]);
    await mustRun(["ip", "-n", seg.netns, "link", "set", seg.bridge, "up"]);
  }
}

export async function createClient(plan: LabPlan, client: ClientPlan): Promise<void> {
  const seg = plan.segments[client.segment].netns;
  await addNetns(client.netns);
  await vethBetween(seg, client.segmentVeth, client.netns, client.interface);
  await attachToBridge(seg, client.segmentVeth);
  await addAddresses(client.netns, client.interface, client.ipv4, client.prefix4, client.ipv6, client.prefix6);
}

/** A node's namespace with eth0 on the WAN bridge and eth1 on the LAN bridge. */
export async function createNodeNetwork(plan: LabPlan, node: NodePlan): Promise<void> {
  await addNetns(node.netns);
  await vethBetween(plan.segments.wan.netns, node.wan.segmentVeth, node.netns, node.wan.interface);
  await attachToBridge(plan.segments.wan.netns, node.wan.segmentVeth);
  await addAddresses(node.netns, node.wan.interface, node.wan.ipv4, 24, node.wan.ipv6);
  await vethBetween(plan.segments.lan.netns, node.lan.segmentVeth, node.netns, node.lan.interface);
  await attachToBridge(plan.segments.lan.netns, node.lan.segmentVeth);
  await addAddresses(node.netns, node.lan.interface, node.lan.ipv4, 24, node.lan.ipv6);
}
