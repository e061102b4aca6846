// A real Docker 29 node on its nftables backend (lab `--docker 29-nft`: dockerd --firewall-backend=nftables
// --bridge-accept-fwmark) managed through our nftables renderer and atomic apply over SSH, and the traffic matrix it
// yields on real packets: published ports over IPv4 and IPv6, clients inside / outside the LB CIDR, the LAN peer.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  downLab,
  type LabInventory,
  type LabNode,
  locateLab,
  probeLab,
  rebootNode,
  restartDocker,
  sshExec,
  upLab,
} from "../../lab/index";
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
import type { Intent } from "../../provider/netfilter/intent";
import { applyNft, type NftExec } from "../../provider/nftables/apply";
import { nftRuleOf, nftSetOf } from "../../provider/nftables/from-kernel";
import { runNftIntents } from "../../provider/nftables/intents";
import type { NftRule, NftSet } from "../../provider/nftables/nft-model";
import { NFT_BOOT_FILE, NFT_UNIT_PATH, nftBootBatch, nftBootUnit } from "../../provider/nftables/persist";
import type { NftBlockChange } from "../../provider/nftables/plan";
import { UNIT_LINKS } from "../../provider/protocol/paths";

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

  const want = (allowed: string, denied: string) =>
    Object.fromEntries(
      ["ipv4", "ipv6"].flatMap((f) =>
        ["8080/tcp", "5353/udp"].flatMap((p) => [
          [`allowed ${f} ${p}`, allowed],
          [`denied ${f} ${p}`, denied],
          [`lanpeer ${f} ${p}`, "open"],
        ]),
      ),
    );
  const writeFile = async (path: string, content: string) => {
    const r = await exec(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path], content);
    expect(r.code, r.stderr).toBe(0);
  };

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

  it("a port set (hash:net,port, src,dst): the LB clients reach only 8080/tcp (container port 80); v4 and v6", async () => {
    const ports = { protocol: "tcp+udp", publishedPorts: [8080, 5353] };
    const portSet = (name: string, family: "ipv4" | "ipv6", cidr: string): Intent => ({
      kind: "set",
      name,
      spec: ipSetArgs.parse({
        name,
        type: "hash:net,port",
        family,
        entries: [{ entry: `${cidr},tcp:80`, comment: "web's $port" }],
      }),
    });
    const allow = (id: string, set: string, family: string): Intent => ({
      kind: "rule",
      id,
      priority: 100,
      rule: dockerUserRuleArgs.parse({ action: "ACCEPT", ...ports, source: { set, setFlags: "src,dst" }, family }),
    });
    const intents: Intent[] = [
      portSet("web", "ipv4", lab.lbCidr),
      portSet("web6", "ipv6", lab.lbCidr6 as string),
      allow("allow-web", "web", "ipv4"),
      allow("allow-web6", "web6", "ipv6"),
      {
        kind: "rule",
        id: "drop-wan",
        priority: 200,
        rule: dockerUserRuleArgs.parse({ action: "DROP", ...ports, inInterface: "eth0" }),
      },
    ];
    const out = await runNftIntents(exec, intents);
    if ("error" in out) throw new Error(out.error);
    expect([...out.refused]).toEqual([]);
    expect(out.apply?.ok, JSON.stringify(out.apply)).toBe(true);
    // The port is the container's (after DNAT), as ipset's in DOCKER-USER: 80, not the published 8080.
    const m = await matrix();
    expect(m).toEqual({
      ...want("blocked", "blocked"),
      "allowed ipv4 8080/tcp": "open",
      "allowed ipv6 8080/tcp": "open",
    });
    const listed = await exec(["nft", "list", "set", "inet", "docker-firewall", "web"]);
    expect(listed.stdout).toContain(`${lab.lbCidr} . tcp . 80 comment "web's $port"`);
    const removed = await applyNft(
      exec,
      ["allow-web", "allow-web6", "drop-wan"].map((id) => ({ tag: { priority: 0, id }, rules: null })),
      ["web", "web6"].map((name) => ({ name, set: null })),
    );
    expect(removed.ok, JSON.stringify(removed)).toBe(true);
  });

  it("the provider's intents: refusals name the field; the rest applies; the boot unit restores it after a reboot", async () => {
    const ports = { protocol: "tcp+udp", publishedPorts: [8080, 5353] };
    const intents: Intent[] = [
      { kind: "set", name: "lbs", spec: ipSetArgs.parse({ name: "lbs", type: "hash:net", entries: [lab.lbCidr] }) },
      {
        kind: "set",
        name: "lbs6",
        spec: ipSetArgs.parse({ name: "lbs6", type: "hash:net", family: "ipv6", entries: [lab.lbCidr6] }),
      },
      {
        kind: "rule",
        id: "allow-lb",
        priority: 100,
        rule: dockerUserRuleArgs.parse({ action: "ACCEPT", ...ports, source: { set: "lbs" } }),
      },
      {
        kind: "rule",
        id: "allow-lb6",
        priority: 100,
        rule: dockerUserRuleArgs.parse({ action: "ACCEPT", ...ports, source: { set: "lbs6" }, family: "ipv6" }),
      },
      {
        kind: "rule",
        id: "drop-wan",
        priority: 200,
        rule: dockerUserRuleArgs.parse({ action: "DROP", ...ports, inInterface: "eth0" }),
      },
      // Refused on nftables, before anything runs; the other intents still apply.
      {
        kind: "rule",
        id: "odd-states",
        priority: 300,
        rule: dockerUserRuleArgs.parse({ action: "DROP", connectionStates: ["NEW", "DNAT"] }),
      },
      {
        kind: "set",
        name: "odd",
        spec: ipSetArgs.parse({
          name: "odd",
          type: "hash:net",
          entries: ["10.0.0.0/8", { entry: "10.1.0.0/16", comment: "x" }],
        }),
      },
    ];
    const out = await runNftIntents(exec, intents);
    if ("error" in out) throw new Error(out.error);
    expect([...out.refused]).toEqual([
      [5, expect.stringMatching(/^connectionStates SNAT\/DNAT cannot be combined/)],
      [6, expect.stringMatching(/^entries\.1\.comment 10\.1\.0\.0\/16 overlaps 10\.0\.0\.0\/8, whose comment differs/)],
    ]);
    expect(out.apply?.ok, JSON.stringify(out.apply)).toBe(true);
    expect(await matrix()).toEqual(want("open", "blocked"));

    // Persistence as the transaction would write it: the boot batch and the unit, enabled by its symlinks.
    if (!out.apply?.ok) throw new Error("unreachable");
    await writeFile(NFT_BOOT_FILE, nftBootBatch(out.apply.plan));
    await writeFile(NFT_UNIT_PATH, nftBootUnit());
    for (const link of UNIT_LINKS) {
      const r = await exec(["sh", "-c", 'mkdir -p "$(dirname "$1")" && ln -sfn "$2" "$1"', "sh", link, NFT_UNIT_PATH]);
      expect(r.code, r.stderr).toBe(0);
    }
    const boot = await rebootNode(lab, node.name);
    const unit = boot.units.find((u) => u.unit === "docker-firewall.service");
    expect(unit && { state: unit.state, verify: unit.verify }).toEqual({
      state: "done",
      verify: { ok: true, output: "" },
    });
    // Ours before Docker: systemd's order, as the lab computed it from the units.
    expect(boot.order.indexOf("docker-firewall.service")).toBeLessThan(boot.order.indexOf("docker.service"));
    expect(boot.dockerBlocked).toBeUndefined();
    expect(await matrix()).toEqual(want("open", "blocked"));
    // Docker 29 restarting recreates its own tables only: ours stays.
    await restartDocker(lab, node.name);
    expect(await matrix()).toEqual(want("open", "blocked"));
  });
});
