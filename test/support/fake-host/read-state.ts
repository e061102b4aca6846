// The output of the read script (node/netfilter-commands.ts READ_STATE) for a FakeHost's node: the same sections,
// in the same order, framed by the caller's nonce, each printed as the host's tool would print it.
import { sha256 } from "../../../provider/persistence/files";
import { FILE_TARGETS, OLD_LINK } from "./boot-files";
import type { NodeState } from "./node-state";

const HASHED = ["config", "ipsets", "rules-ipv4", "rules-ipv6", "restore", "unit"];
const LINKS = [
  "/etc/systemd/system/multi-user.target.wants/docker-firewall.service",
  "/etc/systemd/system/docker.service.requires/docker-firewall.service",
  OLD_LINK,
];

export function renderReadState(node: NodeState, nonce: string): string {
  const out: string[] = [];
  const section = (name: string, body: string) => out.push(`\n@@${nonce} ${name}\n${body}`);
  const has = (tool: string) => node.facts.tools.includes(tool);
  section("tools", node.facts.tools.map((t) => `${t}\n`).join(""));
  for (const [name, backend, family] of [
    ["nft4", "nft", "ipv4"],
    ["nft6", "nft", "ipv6"],
    ["legacy4", "legacy", "ipv4"],
    ["legacy6", "legacy", "ipv6"],
  ] as const) {
    const tool = `${family === "ipv4" ? "iptables" : "ip6tables"}-${backend}-restore`;
    section(name, has(tool) ? (node.tables[backend][family]?.save() ?? "") : "");
  }
  const ipset = node.facts.ipsetSaveFails
    ? `ipset save failed: exit ${node.facts.ipsetSaveFails}\n`
    : node.ipsets.save();
  section("ipset", has("ipset") ? ipset : "");
  section("v6dnat", has("ip6tables-nft-restore") ? `${node.facts.ipv6Dnat}\n` : "");
  section("v6fwd", node.facts.ipv6Forwarding ? "1\n" : "0\n");
  const nftTables = Object.entries(node.tables.nft).map(([f]) => `table ${f === "ipv4" ? "ip" : "ip6"} filter\n`);
  section("nfttables", has("nft") ? nftTables.join("") : "");
  section("dockerconf", node.facts.dockerConfig ?? "");
  section("persistconfig", node.boot.files.get(FILE_TARGETS.config as string) ?? "");
  section("managedsets", node.boot.files.get(FILE_TARGETS["managed-sets"] as string) ?? "");
  const hashes = HASHED.flatMap((n) => {
    const path = FILE_TARGETS[n] as string;
    const text = node.boot.files.get(path);
    return text === undefined ? [] : [`${sha256(text)}  ${path}\n`];
  });
  const links = LINKS.filter((l) => node.boot.links.has(l)).map((l) => `link ${l}\n`);
  section("persisted", [...hashes, ...links].join(""));
  const others = [...node.facts.otherPersisters].map(([p, n]) => `${p} ${n}\n`);
  section("otherpersisters", others.join(""));
  section("end", "");
  return out.join("");
}
