// A host migrated from Docker 28's iptables backend to Docker 29's nftables backend (the lab node's dockerd
// switched, its data kept): the host fact says nftables, names the DOCKER-USER chains left in iptables-nft (their
// rules still run until removed or rebooted) and warns; our table still applies. Measured here, not imitated.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planLab } from "../../lab/addresses";
import { dockerdArgv, ensureDocker28, ensureDocker29 } from "../../lab/docker";
import {
  downLab,
  execOnNode,
  type LabInventory,
  type LabNode,
  locateLab,
  probeLab,
  rebootNode,
  renderProbeTable,
  restartDocker,
  upLab,
} from "../../lab/index";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";
import { pathsOf, rememberDockerdArgv } from "../../lab/power";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { NftExec } from "../../provider/nftables/apply";
import { readNftFact, runNftIntents } from "../../provider/nftables/intents";

const loc = (() => {
  const labId = uniqueLabId("dfwtm");
  return { labId, stateDir: join(REPO_ROOT, ".lab", labId) };
})();

describe("a host migrated from Docker 28 (iptables) to Docker 29 (nftables)", () => {
  let lab: LabInventory;
  let node: LabNode;
  const exec: NftExec = (argv, stdin) => execOnNode(lab, node.name, argv, stdin);
  const denied = () => lab.clients.find((c) => c.name === "denied")?.ipv4;

  beforeAll(async () => {
    mkdirSync(locateLab(loc).stateDir, { recursive: true });
    claimLab(locateLab(loc));
    lab = await upLab({ ...loc, nodes: 1 });
    node = lab.nodes[0] as LabNode;
    const plan = planLab({ labId: loc.labId, nodes: 1, ipv6: true, docker: ["29-nft"] });
    const docker = plan.nodes[0]?.docker as (typeof plan.nodes)[number]["docker"];
    rememberDockerdArgv(
      pathsOf(lab),
      node.name,
      dockerdArgv(docker, true, await ensureDocker28(), await ensureDocker29()),
    );
    await restartDocker(lab, node.name);
  });
  afterAll(async () => {
    await downLab(loc);
    rmSync(locateLab(loc).stateDir, { recursive: true, force: true });
  });

  it("the fact is nftables, with the stale DOCKER-USER chains named and warned about", async () => {
    const version = await execOnNode(lab, node.name, ["docker", "version", "--format", "{{.Server.Version}}"]);
    expect(version.stdout.trim()).toMatch(/^29\./);
    const fact = await readNftFact(exec);
    if ("error" in fact) throw new Error(fact.error);
    expect(fact.backend).toBe("nftables");
    expect(fact.staleDockerUser).toEqual([
      { backend: "nft", family: "ipv4" },
      { backend: "nft", family: "ipv6" },
    ]);
    expect(fact.warnings).toContainEqual(expect.stringMatching(/DOCKER-USER chain is left in iptables-nft \(ipv4\)/));
    // Measured: the leftover iptables-nft FORWARD chain (policy DROP, Docker 28's rules for the old bridge state)
    // is a base chain on the forward hook too, and drops every published port until it is removed or rebooted.
    const rows = await probeLab(lab);
    console.log(`[nft migration] matrix right after the switch:\n${renderProbeTable(rows)}`);
    expect(rows.filter((r) => r.result === "open")).toEqual([]);
  });

  it("our table applies next to the leftovers, which it never touches", async () => {
    const before = await execOnNode(lab, node.name, ["iptables-nft-save", "-t", "filter"]);
    const out = await runNftIntents(exec, [
      {
        kind: "rule",
        id: "drop-denied",
        priority: 10,
        rule: dockerUserRuleArgs.parse({
          action: "DROP",
          protocol: "tcp",
          publishedPorts: [8080],
          source: denied(),
        }),
      },
    ]);
    if ("error" in out) throw new Error(out.error);
    expect(out.apply?.ok, JSON.stringify(out.apply)).toBe(true);
    const after = await execOnNode(lab, node.name, ["iptables-nft-save", "-t", "filter"]);
    const strip = (t: string) => t.replace(/^#.*$/gm, "").replace(/\[\d+:\d+\]/g, "");
    expect(strip(after.stdout)).toBe(strip(before.stdout));
  });

  it("after a power cycle the leftovers are gone: no warning, Docker 29 publishes, our table filters", async () => {
    await rebootNode(lab, node.name);
    const fact = await readNftFact(exec);
    if ("error" in fact) throw new Error(fact.error);
    expect({ stale: fact.staleDockerUser, warnings: fact.warnings }).toEqual({ stale: [], warnings: [] });
    const out = await runNftIntents(exec, [
      {
        kind: "rule",
        id: "drop-denied",
        priority: 10,
        rule: dockerUserRuleArgs.parse({ action: "DROP", protocol: "tcp", publishedPorts: [8080], source: denied() }),
      },
    ]);
    if ("error" in out) throw new Error(out.error);
    expect(out.apply?.ok, JSON.stringify(out.apply)).toBe(true);
    const rows = await probeLab(lab, { families: ["ipv4"] });
    const result = (client: string, port: number) => rows.find((r) => r.client === client && r.port === port)?.result;
    expect([result("denied", 8080), result("denied", 5353), result("allowed", 8080)]).toEqual([
      "blocked",
      "open",
      "open",
    ]);
  });
});
