// The lab's inventory: what `up` built, written to <stateDir>/inventory.json for tests, examples and benchmarks.
import { readFileSync } from "node:fs";
import { z } from "zod";

const protocol = z.enum(["tcp", "udp"]);

export const PublishedPortSchema = z.object({
  port: z.number().int(),
  protocol,
  containerPort: z.number().int(),
  container: z.string(),
});

export const LabNodeSchema = z.object({
  name: z.string(),
  netns: z.string(),
  hostname: z.string(),
  ssh: z.object({
    host: z.string(),
    port: z.number().int(),
    /** OpenSSH public key line of the node's host key: "ssh-ed25519 AAAA...". */
    hostKey: z.string().startsWith("ssh-ed25519 "),
    hostKeyFingerprint: z.string().startsWith("SHA256:"),
  }),
  privateKeyPath: z.string(),
  rootUser: z.literal("root"),
  /** Non-root, passwordless sudo. */
  sudoUser: z.string(),
  /** Non-root whose sudo asks for a password (which nobody knows): `sudo -n` fails with "a password is required". */
  nosudoUser: z.string(),
  wan: z.object({ interface: z.string(), ipv4: z.string(), ipv6: z.string().optional() }),
  lan: z.object({ interface: z.string(), ipv4: z.string(), ipv6: z.string().optional() }),
  docker: z.object({
    socketPath: z.string(),
    bridgeSubnet: z.string(),
    bridgeSubnetV6: z.string().optional(),
    /** Server version as the node's dockerd reports it (`docker version`), e.g. "28.5.2+dfsg4". */
    version: z.string(),
    ipv6: z.boolean(),
    /** Docker 29 nodes: "nftables" (no DOCKER-USER) and dockerd's --bridge-accept-fwmark. Absent: iptables. */
    firewallBackend: z.enum(["iptables", "nftables"]).optional(),
    acceptMark: z.string().optional(),
  }),
  published: z.array(PublishedPortSchema),
  /** The backend the node's `iptables` command (and so dockerd) uses; the other one is installed too. */
  iptablesBackend: z.enum(["nft", "legacy"]),
});

export const LabClientSchema = z.object({
  name: z.string(),
  netns: z.string(),
  segment: z.enum(["wan", "lan"]),
  ipv4: z.string(),
  ipv6: z.string().optional(),
});

export const LabInventorySchema = z.object({
  labId: z.string(),
  stateDir: z.string(),
  rttMs: z.number(),
  createdAt: z.string(),
  /** The "load balancer" CIDR: the allowed client is inside it, the denied client outside. */
  lbCidr: z.string(),
  lbCidr6: z.string().optional(),
  ipv6: z.boolean(),
  /** How long `up` took, ms. */
  upMs: z.number(),
  nodes: z.array(LabNodeSchema),
  clients: z.array(LabClientSchema),
});

export type PublishedPort = z.infer<typeof PublishedPortSchema>;
export type LabNode = z.infer<typeof LabNodeSchema>;
export type LabClient = z.infer<typeof LabClientSchema>;
export type LabInventory = z.infer<typeof LabInventorySchema>;

export function parseInventory(text: string): LabInventory {
  return LabInventorySchema.parse(JSON.parse(text));
}

export function loadInventory(path: string): LabInventory {
  return parseInventory(readFileSync(path, "utf8"));
}

export function findNode(inventory: LabInventory, name: string): LabNode {
  const node = inventory.nodes.find((n) => n.name === name);
  if (!node)
    throw new Error(`no node ${name} in lab ${inventory.labId} (nodes: ${inventory.nodes.map((n) => n.name)})`);
  return node;
}

/** PURE. The Docker line a node runs, from the version its daemon reported ("28.5.2+dfsg4" -> "28"). */
export function dockerLineOf(node: LabNode): "28" | "20.10" | "29" | "other" {
  if (node.docker.version.startsWith("28.")) return "28";
  if (node.docker.version.startsWith("29.")) return "29";
  return node.docker.version.startsWith("20.10.") ? "20.10" : "other";
}

/** PURE. What the node's Docker leaves in a fresh DOCKER-USER: 20.10 a RETURN, 28 nothing. */
export const freshDockerUser = (node: LabNode): string[] =>
  dockerLineOf(node) === "20.10" ? ["-A DOCKER-USER -j RETURN"] : [];

export function findClient(inventory: LabInventory, name: string): LabClient {
  const client = inventory.clients.find((c) => c.name === name);
  if (!client) throw new Error(`no client ${name} in lab ${inventory.labId}`);
  return client;
}
