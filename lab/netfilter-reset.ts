// What a power cycle does to a node's firewall: every table and chain of both backends (nft and legacy, v4 and v6)
// and every ipset are gone, and forwarding is off again. Runs inside the node's network namespace only.

import { mustRunOnNode, type NodeRef, runOnNode } from "./node-ns";
import type { LabPaths } from "./paths";

const BUILTIN_CHAINS: Record<string, readonly string[]> = {
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  raw: ["PREROUTING", "OUTPUT"],
  security: ["INPUT", "FORWARD", "OUTPUT"],
};

/**
 * PURE. An iptables-restore script that empties every table present in a save output: restoring a table without
 * --noflush flushes it and deletes its user chains; built-in chains get policy ACCEPT back.
 */
export function emptyTablesScript(saveOutput: string): string {
  const tables = [...saveOutput.matchAll(/^\*(\w+)$/gm)].map((m) => m[1] as string);
  return tables
    .map((t) => [`*${t}`, ...(BUILTIN_CHAINS[t] ?? []).map((c) => `:${c} ACCEPT [0:0]`), "COMMIT"].join("\n"))
    .join("\n")
    .concat(tables.length > 0 ? "\n" : "");
}

export async function resetNetfilter(paths: LabPaths, node: NodeRef): Promise<void> {
  // Forwarding is off after a real boot; whoever turns it on decides FORWARD's policy (dockerd sets DROP then).
  await mustRunOnNode(paths, node, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"]);
  // nft: one command removes every table, including those iptables-nft and ip6tables-nft made.
  await mustRunOnNode(paths, node, ["nft", "flush", "ruleset"]);
  for (const bin of ["iptables-legacy", "ip6tables-legacy"]) {
    const saved = await mustRunOnNode(paths, node, [`${bin}-save`]);
    const script = emptyTablesScript(saved);
    if (script !== "") await mustRunOnNode(paths, node, [`${bin}-restore`, "-w", "5"], { stdin: script });
  }
  // No references remain once the rules are gone, so every set can be destroyed.
  const r = await runOnNode(paths, node, ["ipset", "destroy"]);
  if (r.code !== 0 && !/does not exist|no sets/i.test(r.stderr)) {
    throw new Error(`ipset destroy on ${node.name} failed: ${r.stderr.trim()}`);
  }
}
