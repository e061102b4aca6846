// What the demo shows of a host: its DOCKER-USER chains and ipsets as iptables-save / ipset save print them, and on
// a Docker 29 nftables host our own table as `nft list table` prints it, over SSH; and the indentation the demo
// prints command output with.
import { type LabNode, sshExec } from "../lab/index";
import { NFT_FAMILY, NFT_TABLE } from "../provider/protocol/paths";

/** DOCKER-USER (v4 and v6), the ipsets and our nftables table of a node (nft: empty when the table is absent). */
export async function chainOf(node: LabNode): Promise<{ v4: string[]; v6: string[]; sets: string[]; nft: string[] }> {
  const lines = (text: string) => text.split("\n").filter((l) => l.startsWith("-A DOCKER-USER"));
  const [v4, v6, sets, nft] = await Promise.all([
    sshExec(node, "iptables-save -t filter"),
    sshExec(node, "ip6tables-save -t filter"),
    sshExec(node, "ipset save"),
    sshExec(node, `nft list table ${NFT_FAMILY} ${NFT_TABLE} 2>/dev/null || true`),
  ]);
  return {
    v4: lines(v4.stdout),
    v6: lines(v6.stdout),
    sets: sets.stdout.split("\n").filter((l) => /^(create|add) (?!dfwtmp-)/.test(l)),
    nft: nft.stdout.split("\n").filter((l) => l.trim() !== ""),
  };
}

type Chains = Awaited<ReturnType<typeof chainOf>>;

/** The node as the demo introduces it: its SSH address, Docker and firewall backend, WAN and published ports. */
export function describeNode(n: LabNode): string {
  const firewall =
    n.docker.firewallBackend === "nftables"
      ? `nftables, --bridge-accept-fwmark ${n.docker.acceptMark}`
      : `iptables-${n.iptablesBackend}`;
  const published = n.published.map((p) => `${p.port}/${p.protocol}`).join(" ");
  return `${n.name}: ssh root@${n.ssh.host}:${n.ssh.port}, Docker ${n.docker.version} (${firewall}), WAN ${n.wan.interface} ${n.wan.ipv4}, published ${published}`;
}

/** What the demo prints of a node's applied firewall. */
export function shownChain(n: LabNode, c: Chains): string[] {
  // Docker 29 on nftables has no DOCKER-USER: the same policy is our own table, before Docker's chains.
  if (n.docker.firewallBackend === "nftables") return c.nft;
  return [
    ...c.v4,
    ...c.v6.map((l) => `[v6] ${l}`),
    ...(c.v6.length === 0 ? ["(no IPv6 DOCKER-USER on this host: Docker did not make one)"] : []),
    ...c.sets,
  ];
}

export function indent(text: string, by = "    "): string {
  return text
    .split("\n")
    .map((l) => (l ? by + l : l))
    .join("\n");
}
