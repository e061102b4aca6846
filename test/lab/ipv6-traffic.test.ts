// IPv6 rules proven with traffic on the mixed fleet, through the real dynamic-provider host (dist/: run
// `npm run build` first): a literal IPv6 source, an IPv6 set, family "both" and "auto", on Docker 28 (nft and
// legacy: IPv6 DOCKER-USER by default) and on Docker 20.10 (no IPv6 DOCKER-USER: "auto" stays IPv4, v6 stays open).
// Then persisted: a power cycle and a Docker restart keep the IPv6 verdicts; destroy leaves every node as before.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dockerLineOf,
  type LabInventory,
  type LabNode,
  type ProbeRow,
  probeLab,
  rebootNode,
  restartDocker,
} from "../../lab/index";
import { ipSetShim, persistentShim, ruleShim } from "../../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../support/engine";
import { sharedLab } from "../support/lab";
import { dockerUserChain, onNode } from "../support/rel-lab";
import { connectionOf } from "../support/rel-policies";

let lab: LabInventory;
let host: EngineHost;
let stack: EngineStack;

const client = (name: string) => {
  const c = lab.clients.find((x) => x.name === name);
  if (!c?.ipv6) throw new Error(`client ${name} has no IPv6 address`);
  return c;
};

/**
 * On `node`: web (8080/tcp) only from the IPv6 set holding the LB range (and, over v4, from the LB CIDR); echo
 * (5353/udp) only from the denied client's literal address; everything else on the WAN dropped, family `drop`.
 */
function policy(node: LabNode, drop: "both" | undefined): Declared[] {
  const connection = connectionOf(node);
  const p = (n: string) => `${node.name}-${n}`;
  const rule = (name: string, inputs: Record<string, unknown>): Declared => ({
    type: "DockerUserRule",
    name: p(name),
    inputs: { connection, ruleName: p(name), ...inputs },
  });
  const web = { action: "ACCEPT", protocol: "tcp", publishedPorts: [8080] };
  const echo = { action: "ACCEPT", protocol: "udp", publishedPorts: [5353] };
  return [
    {
      type: "IpSet",
      name: p("lbs6"),
      inputs: { connection, name: "lbs6", type: "hash:net", family: "ipv6", entries: [lab.lbCidr6] },
    },
    rule("web6", { priority: 100, ...web, family: "ipv6", source: { set: "lbs6" } }),
    rule("web4", { priority: 110, ...web, source: lab.lbCidr }),
    rule("echo6", { priority: 200, ...echo, source: `${client("denied").ipv6}/128` }),
    rule("echo4", { priority: 210, ...echo, source: `${client("denied").ipv4}/32` }),
    rule("drop-wan", {
      priority: 900,
      action: "DROP",
      inInterface: node.wan.interface,
      ...(drop && { family: drop }),
    }),
  ];
}

/** "client family port/proto" -> verdict, for one node. */
async function verdicts(node: LabNode): Promise<Record<string, ProbeRow["result"]>> {
  const rows = await probeLab(lab, { nodes: [node.name], families: ["ipv4", "ipv6"] });
  return Object.fromEntries(rows.map((r) => [`${r.client} ${r.family} ${r.port}/${r.protocol}`, r.result]));
}

/** What the policy lets through when a family is filtered; an unfiltered family stays open. */
function expected(filtered: { ipv4: boolean; ipv6: boolean }): Record<string, ProbeRow["result"]> {
  const out: Record<string, ProbeRow["result"]> = {};
  for (const family of ["ipv4", "ipv6"] as const) {
    const f = filtered[family];
    out[`allowed ${family} 8080/tcp`] = "open";
    out[`allowed ${family} 5353/udp`] = f ? "blocked" : "open";
    out[`denied ${family} 8080/tcp`] = f ? "blocked" : "open";
    out[`denied ${family} 5353/udp`] = "open";
    out[`lanpeer ${family} 8080/tcp`] = "open";
    out[`lanpeer ${family} 5353/udp`] = "open";
  }
  return out;
}

const state = async (node: LabNode) => ({
  chain: await dockerUserChain(lab, node),
  chain6: (await onNode(lab, node, "ip6tables-save -t filter"))
    .split("\n")
    .filter((l) => l.startsWith("-A DOCKER-USER")),
  sets: (await onNode(lab, node, "ipset list -n")).split("\n").filter(Boolean).sort(),
});

beforeAll(async () => {
  lab = await sharedLab();
  if (!lab.ipv6) throw new Error("this suite needs the shared lab with IPv6 (unset DFW_LAB_IPV6=0)");
  host = await EngineHost.start({
    cwd: process.cwd(),
    project: "ipv6-traffic",
    config: { "docker-firewall:privateKey": readFileSync((lab.nodes[0] as LabNode).privateKeyPath, "utf8") },
  });
  stack = new EngineStack(host, { DockerUserRule: ruleShim, IpSet: ipSetShim, PersistentRuleset: persistentShim });
});
afterAll(() => host?.stop());

describe("IPv6 rules with traffic, per Docker version", () => {
  const baseline = new Map<string, Awaited<ReturnType<typeof state>>>();
  const on28 = () => lab.nodes.filter((n) => dockerLineOf(n) === "28");
  const on2010 = () => lab.nodes.filter((n) => dockerLineOf(n) === "20.10");

  it("starts with every port open over both families", async () => {
    expect(on28().map((n) => n.iptablesBackend)).toEqual(["nft", "legacy"]);
    expect(on2010()).toHaveLength(1);
    for (const n of lab.nodes) {
      baseline.set(n.name, await state(n));
      expect(await verdicts(n)).toEqual(expected({ ipv4: false, ipv6: false }));
    }
  });

  it("Docker 28: a literal v6 source, a v6 set and family both filter IPv6 as they say", async () => {
    const decls = on28().flatMap((n) => policy(n, "both"));
    for (const d of decls.filter((x) => x.type === "IpSet")) expect(await stack.up(d)).toBe("create");
    await Promise.all(decls.filter((x) => x.type === "DockerUserRule").map((d) => stack.up(d)));
    for (const n of on28()) {
      expect(await verdicts(n), n.name).toEqual(expected({ ipv4: true, ipv6: true }));
      const { chain6 } = await state(n);
      expect(chain6.some((l) => l.includes("--match-set lbs6 src"))).toBe(true);
      expect(chain6.some((l) => l.startsWith(`-A DOCKER-USER -s ${client("denied").ipv6}/128 `))).toBe(true);
    }
  });

  it("Docker 28: family auto (no family) on the drop covers IPv6 too: an update, same verdicts", async () => {
    for (const n of on28()) {
      expect(await stack.up(policy(n, undefined)[5] as Declared)).toMatch(/update|replace/);
      expect(await verdicts(n), n.name).toEqual(expected({ ipv4: true, ipv6: true }));
      expect((await state(n)).chain6.filter((l) => l.includes("drop-wan"))).toHaveLength(1);
    }
  });

  it("Docker 20.10: family auto stays IPv4 (no IPv6 DOCKER-USER), so IPv6 stays open and the host says so", async () => {
    const [n] = on2010() as [LabNode];
    const drop = policy(n, undefined).filter((d) => d.name.endsWith("web4") || d.name.endsWith("drop-wan"));
    for (const d of drop) expect(await stack.up(d)).toBe("create");
    const v = await verdicts(n);
    // web4 accepts only the LB CIDR and drop-wan drops the rest of the WAN, over IPv4 only.
    expect([v["allowed ipv4 8080/tcp"], v["denied ipv4 8080/tcp"], v["allowed ipv4 5353/udp"]]).toEqual([
      "open",
      "blocked",
      "blocked",
    ]);
    expect([v["denied ipv6 8080/tcp"], v["allowed ipv6 5353/udp"]]).toEqual(["open", "open"]);
    expect(host.logs.some((l) => /IPv6 traffic to containers is NOT filtered/.test(l))).toBe(true);
    for (const d of drop) await stack.destroy("DockerUserRule", d.name);
  });

  it("Docker 28: persisted IPv6 rules hold across a power cycle and a Docker restart, by traffic", async () => {
    for (const n of on28()) {
      expect(
        await stack.up({
          type: "PersistentRuleset",
          name: `${n.name}-persist`,
          inputs: { connection: connectionOf(n) },
        }),
      ).toBe("create");
    }
    const applied = new Map(await Promise.all(on28().map(async (n) => [n.name, await state(n)] as const)));
    const faults: Array<(n: LabNode) => Promise<unknown>> = [
      (n) => rebootNode(lab, n.name),
      (n) => restartDocker(lab, n.name),
    ];
    for (const fault of faults) {
      await Promise.all(on28().map(fault));
      for (const n of on28()) {
        expect(await verdicts(n), n.name).toEqual(expected({ ipv4: true, ipv6: true }));
        expect(await state(n)).toEqual(applied.get(n.name));
      }
    }
  });

  it("destroy leaves every node as before, open over both families", async () => {
    for (const n of on28()) await stack.destroy("PersistentRuleset", `${n.name}-persist`);
    for (const n of on28()) {
      for (const d of policy(n, undefined).filter((x) => x.type === "DockerUserRule")) {
        await stack.destroy("DockerUserRule", d.name);
      }
      await stack.destroy("IpSet", `${n.name}-lbs6`);
    }
    for (const n of lab.nodes) {
      expect(await state(n), n.name).toEqual(baseline.get(n.name));
      expect(await verdicts(n), n.name).toEqual(expected({ ipv4: false, ipv6: false }));
    }
  });
});
