// The host checks every read makes, on real Docker 28 nodes of the shared lab, through the real dynamic-provider
// host (dist/: run `npm run build` first): a FORWARD that no longer jumps to DOCKER-USER (v4 on nft, v6 on legacy),
// or jumps to it after Docker's own chain, is refused with what to do, at create and at refresh (never "in sync"),
// leaving the node untouched; a Docker restart puts the jump back. A switch to Docker's nftables backend is
// test/lab/nft-migration.test.ts (a real dockerd 29, not an imitation of its tables).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerLineOf, type LabInventory, type LabNode, restartDocker } from "../../lab/index";
import { ruleShim } from "../../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../support/engine";
import { sharedLab } from "../support/lab";
import { onNode } from "../support/rel-lab";
import { connectionOf } from "../support/rel-policies";

let lab: LabInventory;
let host: EngineHost;
let stack: EngineStack;
let nft: LabNode;
let legacy: LabNode;

const rule = (node: LabNode): Declared => ({
  type: "DockerUserRule",
  name: `${node.name}-drop-denied`,
  inputs: {
    connection: connectionOf(node),
    ruleName: `${node.name}-drop-denied`,
    action: "DROP",
    protocol: "tcp",
    publishedPorts: [8080],
  },
});

/** Both families' filter tables without counters: what "untouched" means here. */
const filter = async (node: LabNode) => {
  const save = (cmd: string) => onNode(lab, node, `${cmd} -t filter | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'`);
  return `${await save("iptables-save")}${await save("ip6tables-save")}`;
};

beforeAll(async () => {
  lab = await sharedLab();
  const on28 = lab.nodes.filter((n) => dockerLineOf(n) === "28");
  nft = on28.find((n) => n.iptablesBackend === "nft") as LabNode;
  legacy = on28.find((n) => n.iptablesBackend === "legacy") as LabNode;
  host = await EngineHost.start({
    cwd: process.cwd(),
    project: "forward-checks",
    config: { "docker-firewall:privateKey": readFileSync(nft.privateKeyPath, "utf8") },
  });
  stack = new EngineStack(host, { DockerUserRule: ruleShim });
});
afterAll(() => host?.stop());

describe("FORWARD must jump to DOCKER-USER before Docker's chains (Docker 28)", () => {
  it("no v4 jump (nft): create is refused with what to do, and the node is untouched", async () => {
    await onNode(lab, nft, "iptables -D FORWARD -j DOCKER-USER");
    const before = await filter(nft);
    await expect(stack.up(rule(nft))).rejects.toThrow(
      /FORWARD in iptables-nft does not jump to DOCKER-USER, so rules there would filter nothing\. Restart Docker/,
    );
    expect(await filter(nft)).toBe(before);
  });

  it("a Docker restart puts the jump back first; then create works", async () => {
    await restartDocker(lab, nft.name);
    const forward = (await onNode(lab, nft, "iptables -S FORWARD")).split("\n").filter((l) => l.startsWith("-A"));
    expect(forward[0]).toBe("-A FORWARD -j DOCKER-USER");
    expect(await stack.up(rule(nft))).toBe("create");
  });

  it("a jump that comes after Docker's own chain is refused at refresh: never in sync", async () => {
    await onNode(lab, nft, "iptables -D FORWARD -j DOCKER-USER && iptables -A FORWARD -j DOCKER-USER");
    await expect(stack.refresh("DockerUserRule", `${nft.name}-drop-denied`)).rejects.toThrow(
      /hands traffic to Docker \("-A FORWARD -j DOCKER-FORWARD"\) before it jumps to DOCKER-USER/,
    );
    await onNode(lab, nft, "iptables -D FORWARD -j DOCKER-USER && iptables -I FORWARD -j DOCKER-USER");
    expect(await stack.refresh("DockerUserRule", `${nft.name}-drop-denied`)).toBe("in-sync");
    await stack.destroy("DockerUserRule", `${nft.name}-drop-denied`);
    expect(await onNode(lab, nft, "iptables -S DOCKER-USER")).toBe("-N DOCKER-USER\n");
  });

  it("no v6 jump (legacy): refused for ip6tables-legacy, node untouched; Docker restart repairs", async () => {
    await onNode(lab, legacy, "ip6tables -D FORWARD -j DOCKER-USER");
    const before = await filter(legacy);
    await expect(stack.up(rule(legacy))).rejects.toThrow(/FORWARD in ip6tables-legacy does not jump to DOCKER-USER/);
    expect(await filter(legacy)).toBe(before);
    await restartDocker(lab, legacy.name);
    expect(await stack.up(rule(legacy))).toBe("create");
    await stack.destroy("DockerUserRule", `${legacy.name}-drop-denied`);
  });
});
