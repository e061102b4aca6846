// A real Docker 29 node on its nftables backend (lab `--docker 29-nft`: dockerd --firewall-backend=nftables
// --bridge-accept-fwmark) managed through our nftables renderer and atomic apply over SSH, and the traffic matrix it
// yields on real packets: published ports over IPv4 and IPv6, clients inside / outside the LB CIDR, the LAN peer.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downLab, type LabInventory, type LabNode, locateLab, probeLab, sshExec, upLab } from "../../lab/index";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import {
  type AcceptMark,
  detectFirewallBackend,
  formatAcceptMark,
  parseNftRulesetJson,
} from "../../provider/netfilter/firewall-backend";
import { applyNft, type NftExec } from "../../provider/nftables/apply";
import { nftRuleOf, nftSetOf } from "../../provider/nftables/from-kernel";
import type { NftRule, NftSet } from "../../provider/nftables/nft-model";
import type { NftBlockChange } from "../../provider/nftables/plan";

const loc = (() => {
  const labId = uniqueLabId("dfwtm");
  return { labId, stateDir: join(REPO_ROOT, ".lab", labId) };
})();
const shellQuote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

describe("Docker 29 nftables node: our table, the traffic matrix", () => {
  let lab: LabInventory;
  let node: LabNode;
  let mark: AcceptMark;
  const exec: NftExec = async (argv, stdin) => {
    const r = await sshExec(node, argv.map(shellQuote).join(" "), { stdin });
    return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const set = (name: string, family: "ipv4" | "ipv6", entries: string[]): NftSet => {
    const s = nftSetOf(ipSetArgs.parse({ name, type: "hash:net", family, entries }));
    if ("reason" in s) throw new Error(s.reason);
    return s;
  };
  const block = (id: string, priority: number, args: Record<string, unknown>): NftBlockChange => {
    const tag = { priority, id };
    const families = ["ipv4", "ipv6"] as const;
    const kernel = expandRule(dockerUserRuleArgs.parse(args), tag, families);
    const rules = families.flatMap((f) => kernel[f]).map((k) => nftRuleOf(k, mark));
    for (const r of rules) if ("reason" in r) throw new Error(`${r.field}: ${r.reason}`);
    return { tag, rules: rules as NftRule[] };
  };
  const matrix = async () =>
    Object.fromEntries((await probeLab(lab)).map((r) => [`${r.client} ${r.family} ${r.port}/${r.protocol}`, r.result]));

  beforeAll(async () => {
    mkdirSync(locateLab(loc).stateDir, { recursive: true });
    claimLab(locateLab(loc));
    lab = await upLab({ ...loc, nodes: 1, docker: ["29-nft"] });
    node = lab.nodes[0] as LabNode;
  });
  afterAll(async () => {
    await downLab(loc);
    rmSync(locateLab(loc).stateDir, { recursive: true, force: true });
  });

  it("the node is Docker 29 on nftables, with the accept mark it was started with", async () => {
    expect(node.docker.version).toMatch(/^29\./);
    const ruleset = await exec(["nft", "-j", "list", "ruleset"]);
    expect(ruleset.code, ruleset.stderr).toBe(0);
    const fact = detectFirewallBackend({ nft: parseNftRulesetJson(ruleset.stdout), saves: { nft: {}, legacy: {} } });
    if ("error" in fact) throw new Error(fact.error);
    expect(fact.backend).toBe("nftables");
    expect(fact.families).toEqual(["ipv4", "ipv6"]);
    mark = fact.acceptMark as AcceptMark;
    expect(formatAcceptMark(mark)).toBe(node.docker.acceptMark);
  });

  it("LB clients allowed, others dropped on the WAN, the LAN untouched; v4 and v6; priorities order the blocks", async () => {
    expect(Object.values(await matrix()).every((r) => r === "open")).toBe(true);
    const ports = { protocol: "tcp+udp", publishedPorts: [8080, 5353] };
    const sets = [
      { name: "lbs", set: set("lbs", "ipv4", [lab.lbCidr]) },
      { name: "lbs6", set: set("lbs6", "ipv6", [lab.lbCidr6 as string]) },
    ];
    const allow4 = block("allow-lb", 100, { action: "ACCEPT", ...ports, source: { set: "lbs" }, family: "ipv4" });
    const allow6 = block("allow-lb6", 100, { action: "ACCEPT", ...ports, source: { set: "lbs6" }, family: "ipv6" });
    const drop = block("drop-wan", 200, {
      action: "DROP",
      ...ports,
      inInterface: "eth0",
      log: { prefix: "dfw-drop ", rate: "5/min" },
    });
    const applied = await applyNft(exec, [allow4, allow6, drop], sets);
    expect(applied.ok, JSON.stringify(applied)).toBe(true);
    const want = (allowed: string, denied: string) => ({
      ...Object.fromEntries(
        ["ipv4", "ipv6"].flatMap((f) =>
          ["8080/tcp", "5353/udp"].flatMap((p) => [
            [`allowed ${f} ${p}`, allowed],
            [`denied ${f} ${p}`, denied],
            [`lanpeer ${f} ${p}`, "open"],
          ]),
        ),
      ),
    });
    expect(await matrix()).toEqual(want("open", "blocked"));

    // The drop block ahead of the allow blocks: the allowed client is dropped too.
    const reordered = await applyNft(exec, [{ ...drop, tag: { priority: 50, id: "drop-wan" } }], []);
    expect(reordered.ok, JSON.stringify(reordered)).toBe(true);
    expect(await matrix()).toEqual(want("blocked", "blocked"));

    // Everything removed: the node is back to Docker's own behaviour, Docker's tables untouched throughout.
    const removed = await applyNft(
      exec,
      ["allow-lb", "allow-lb6", "drop-wan"].map((id) => ({ tag: { priority: 0, id }, rules: null })),
      sets.map((s) => ({ name: s.name, set: null })),
    );
    expect(removed.ok, JSON.stringify(removed)).toBe(true);
    expect(Object.values(await matrix()).every((r) => r === "open")).toBe(true);
  });
});
