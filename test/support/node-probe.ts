// The traffic facts most lab tests assert: can the allowed and the denied client reach one node's published
// web port (8080/tcp) and echo port (5353/udp) over IPv4.
import { type LabInventory, type LabNode, probeLab, probeResult } from "../../lab/index";

export interface NodeReachability {
  readonly allowedWeb: string;
  readonly deniedWeb: string;
  readonly allowedUdp: string;
  readonly deniedUdp: string;
}

export async function probeNode(lab: LabInventory, node: LabNode): Promise<NodeReachability> {
  const rows = await probeLab(lab, { nodes: [node.name], clients: ["allowed", "denied"], families: ["ipv4"] });
  const r = (client: string, port: number, protocol: "tcp" | "udp") =>
    probeResult(rows, { client, node: node.name, port, protocol });
  return {
    allowedWeb: r("allowed", 8080, "tcp"),
    deniedWeb: r("denied", 8080, "tcp"),
    allowedUdp: r("allowed", 5353, "udp"),
    deniedUdp: r("denied", 5353, "udp"),
  };
}
