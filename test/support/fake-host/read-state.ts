// The output of the read script (protocol/read-script.ts) for a FakeHost's node: every section of READ, in order,
// framed by the caller's nonce (protocol/sections.ts), each body printed as the node's tool would print it.
import { sha256 } from "../../../provider/persistence/files";
import {
  MANAGED_SETS_PATH,
  OLD_UNIT_LINK,
  OTHER_PERSISTERS,
  PERSISTED_PATHS,
  UNIT_LINKS,
} from "../../../provider/protocol/paths";
import { READ, type ReadSection, renderSections } from "../../../provider/protocol/sections";
import type { NodeState } from "./node-state";

const lines = (list: readonly string[]) => list.map((l) => `${l}\n`).join("");

function bodies(node: NodeState): Record<ReadSection, string> {
  const has = (tool: string) => node.facts.tools.includes(tool);
  const save = (backend: "nft" | "legacy", family: "ipv4" | "ipv6") =>
    has(`${family === "ipv4" ? "iptables" : "ip6tables"}-${backend}-restore`)
      ? (node.tables[backend][family]?.save() ?? "")
      : "";
  const ipset = node.facts.ipsetSaveFails
    ? `ipset save failed: exit ${node.facts.ipsetSaveFails}\n`
    : node.ipsets.save();
  const hashes = Object.values(PERSISTED_PATHS).flatMap((path) => {
    const text = node.boot.files.get(path);
    return text === undefined ? [] : [`${sha256(text)}  ${path}`];
  });
  const links = [...UNIT_LINKS, OLD_UNIT_LINK].filter((l) => node.boot.links.has(l)).map((l) => `link ${l}`);
  const others = OTHER_PERSISTERS.flatMap((p) => {
    const n = node.facts.otherPersisters.get(p);
    return n === undefined ? [] : [`${p} ${n}`];
  });
  const nftTables = Object.keys(node.tables.nft).map((f) => `table ${f === "ipv4" ? "ip" : "ip6"} filter`);
  return {
    tools: lines(node.facts.tools),
    nft4: save("nft", "ipv4"),
    nft6: save("nft", "ipv6"),
    legacy4: save("legacy", "ipv4"),
    legacy6: save("legacy", "ipv6"),
    ipset: has("ipset") ? ipset : "",
    v6dnat: has("ip6tables-nft-restore") ? `${node.facts.ipv6Dnat}\n` : "",
    v6fwd: node.facts.ipv6Forwarding ? "1\n" : "0\n",
    nfttables: has("nft") ? lines(nftTables) : "",
    // The fake node is an iptables host: Docker's nftables backend is tested on real dockerd 29 (test/lab, test/cli).
    nftjson: "",
    nfttable: "",
    dockerconf: node.facts.dockerConfig ?? "",
    persistconfig: node.boot.files.get(PERSISTED_PATHS.config) ?? "",
    managedsets: node.boot.files.get(MANAGED_SETS_PATH) ?? "",
    persisted: lines([...hashes, ...links]),
    otherpersisters: lines(others),
    // Printed only when asked (renderReadState); real containers: test/lab/container-target.test.ts.
    containers: node.facts.containers ?? "",
    end: "",
  };
}

/** `containers`: the read was asked to list them (`<nonce> containers`); otherwise that section is not printed. */
export function renderReadState(node: NodeState, nonce: string, containers = false): string {
  const b = bodies(node);
  return renderSections(
    nonce,
    Object.values(READ)
      .filter((name) => containers || name !== READ.containers)
      .map((name) => [name, b[name]] as const),
  );
}
