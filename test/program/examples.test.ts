// Every example program under mocks: the resources it declares, the iptables lines they render to (through the
// provider's real check), the order, the secrecy of the connection, and the dependencies on sets.
import { describe, expect, it, vi } from "vitest";
import { isSecretValue, unwrapSecrets } from "../../demo/engine/program";
import { FAKE_KEY, fakeHostKey, fakeLab } from "./fixtures";
import {
  COMPONENT,
  type Graph,
  IPSET,
  ipv4Lines,
  PERSISTENT,
  PRIORITIES,
  RULE,
  runMocked,
  stableLine,
} from "./harness";

// The serializer really runs under mocks: a failure there shows up as a hang, not an error.
const T = { timeout: 30_000 };
const EXAMPLES = [
  "single-host-allowlist",
  "whitelist-ipset",
  "filtering-container-traffic",
  "fleet",
  "gitops",
  "coexistence",
  "container-target",
];

async function run(example: string, config: Record<string, string> = {}, secretKeys: string[] = []): Promise<Graph> {
  vi.resetModules();
  return runMocked(() => import(`../../examples/${example}/index.ts`), config, secretKeys);
}

const lab = fakeLab();
const onLab = { "docker-firewall:labInventory": lab.inventoryPath };
const lines = (g: Graph, name: string) => ipv4Lines(g.get(RULE, name)).map(stableLine);
const rendered = (g: Graph) => (g.outputs.rendered as string[]).map(stableLine);

describe.each(EXAMPLES)("example %s on the (fake) local lab", (example) => {
  it("declares valid resources whose connection is a secret holding the lab's key", T, async () => {
    const g = await run(example, onLab);
    // Every resource that reaches a host (DockerHostFirewall's RulePriorities is bookkeeping: no host, no connection).
    const dynamic = g.resources.filter((r) => r.custom && r.type !== PRIORITIES);
    expect(dynamic.length).toBeGreaterThan(1);
    for (const r of dynamic) {
      expect(r.type).toMatch(/^pulumi-nodejs:dynamic\/docker-firewall:(DockerUserRule|IpSet|PersistentRuleset)$/);
      expect(r.failures).toEqual([]);
      expect(isSecretValue(r.inputs.connection)).toBe(true);
      const conn = unwrapSecrets(r.inputs.connection) as Record<string, unknown>;
      expect(conn).toMatchObject({ host: "127.0.0.1", user: "root", privateKey: FAKE_KEY });
      expect(lab.inventory.nodes.map((n) => n.ssh.hostKey)).toContain(conn.hostKey);
      expect(typeof r.inputs.__provider).toBe("string");
    }
    // Every rule that matches a set depends on the IpSet resource of that name.
    for (const rule of g.byType(RULE)) {
      const set = (rule.inputs.source as { set?: string } | undefined)?.set;
      if (!set) continue;
      const owner = g.byType(IPSET).filter((s) => s.inputs.name === set && s.parent === rule.parent);
      expect(owner).toHaveLength(1);
      expect(rule.propertyDependencies.source).toEqual([owner[0]?.urn]);
    }
  });

  it("keeps the key out of every input when it comes from stack config", T, async () => {
    const g = await run(example, { ...onLab, "docker-firewall:privateKey": FAKE_KEY }, ["docker-firewall:privateKey"]);
    const everything = JSON.stringify(g.resources.map((r) => r.inputs));
    expect(everything).not.toContain("PRIVATE KEY");
    for (const r of g.resources.filter((x) => x.custom && x.type !== PRIORITIES)) {
      expect(unwrapSecrets(r.inputs.connection)).not.toHaveProperty("privateKey");
    }
  });
});

describe("single-host-allowlist", () => {
  it("accepts 8080 from one address above the drop, both on the WAN", T, async () => {
    const g = await run("single-host-allowlist", onLab);
    expect(rendered(g)).toEqual([
      '-A DOCKER-USER -s 198.51.100.10/32 -i eth0 -p tcp -m comment --comment "dfw:0100:allow-8080-<id> 8080 from one address" -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j ACCEPT',
      '-A DOCKER-USER -i eth0 -p tcp -m comment --comment "dfw:0200:drop-8080-<id> 8080 from anyone else" -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP',
    ]);
  });

  it("takes the address and port from stack config on real hosts", T, async () => {
    const hosts = JSON.stringify([{ name: "web1", host: "203.0.113.10", user: "deploy", sudo: true }]);
    const g = await run("single-host-allowlist", {
      "docker-firewall:hosts": hosts,
      "docker-firewall:allowFrom": "192.168.0.1",
      "docker-firewall:port": "9090",
    });
    expect(lines(g, "allow-8080")[0]).toMatch(/^-A DOCKER-USER -s 192\.168\.0\.1\/32 -i eth0 .*--ctorigdstport 9090 /);
    expect(unwrapSecrets(g.get(RULE, "drop-8080").inputs.connection)).toEqual({
      host: "203.0.113.10",
      user: "deploy",
      sudo: true,
    });
  });
});

describe("whitelist-ipset", () => {
  it(
    "returns whitelisted sources and 80/443, and logs (rate-limited, 29-character prefix) before the drop",
    T,
    async () => {
      const g = await run("whitelist-ipset", {
        ...onLab,
        "docker-firewall:whitelist": '["203.0.113.7","203.0.113.8"]',
      });
      expect(g.get(IPSET, "whitelist").inputs).toMatchObject({
        name: "whitelist",
        type: "hash:ip",
        entries: ["203.0.113.7", "203.0.113.8"],
      });
      expect(rendered(g)).toEqual([
        '-A DOCKER-USER -m comment --comment "dfw:0010:established-<id>" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
        '-A DOCKER-USER -i docker0 -m comment --comment "dfw:0020:from-containers-<id>" -j RETURN',
        '-A DOCKER-USER -m comment --comment "dfw:0030:whitelisted-<id>" -m set --match-set whitelist src -j RETURN',
        '-A DOCKER-USER -p tcp -m comment --comment "dfw:0040:web-<id>" -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j RETURN',
        '-A DOCKER-USER -p tcp -m comment --comment "dfw:0040:web-<id>" -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN',
        '-A DOCKER-USER -m comment --comment "dfw:0900:drop-rest-<id>" -m limit --limit 2/min -j LOG --log-prefix "DOCKER-USER dropped: "',
        '-A DOCKER-USER -m comment --comment "dfw:0900:drop-rest-<id>" -j DROP',
      ]);
      expect(g.get(RULE, "whitelisted").dependencies).toEqual([g.get(IPSET, "whitelist").urn]);
    },
  );
});

describe("filtering-container-traffic", () => {
  it("renders Docker's documented WAN filter, one rule per trusted network, as one component", T, async () => {
    const g = await run("filtering-container-traffic", {
      ...onLab,
      "docker-firewall:trustedNetworks": '["10.11.11.0/24","10.22.22.0/24"]',
    });
    const component = g.get(COMPONENT, "node1-wan");
    expect(g.byType(RULE).every((r) => r.parent === component.urn)).toBe(true);
    expect(rendered(g)).toEqual([
      '-A DOCKER-USER -i eth0 -m comment --comment "dfw:0010:node1-wan-established-<id>" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
      '-A DOCKER-USER -i eth0 -p tcp -m comment --comment "dfw:0020:node1-wan-web-<id>" -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j RETURN',
      '-A DOCKER-USER -i eth0 -p tcp -m comment --comment "dfw:0020:node1-wan-web-<id>" -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN',
      '-A DOCKER-USER -s 10.11.11.0/24 -i eth0 -p tcp -m comment --comment "dfw:0030:node1-wan-8080-from-1-<id>" -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j RETURN',
      '-A DOCKER-USER -s 10.22.22.0/24 -i eth0 -p tcp -m comment --comment "dfw:0040:node1-wan-8080-from-2-<id>" -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j RETURN',
      '-A DOCKER-USER -i eth0 -m comment --comment "dfw:0900:node1-wan-block-external-<id>" -j DROP',
    ]);
  });
});

describe("coexistence", () => {
  it("keeps fail2ban's and CrowdSec's rules above ours: the policy is on the host before any rule", T, async () => {
    const g = await run("coexistence", onLab);
    const persistence = g.get(PERSISTENT, "node1-persistence");
    expect(persistence.checked.foreignRules).toEqual({
      keepAbove: [{ jump: "f2b-*" }, { jump: "crowdsec-chain" }, { set: "crowdsec-*" }],
      ignore: [],
    });
    for (const r of g.byType(RULE)) expect(r.dependencies).toContain(persistence.urn);
    expect(persistence.dependencies).toEqual([]);
  });

  it("refuses a bad matcher at check, naming the field", T, async () => {
    const g = await run("coexistence", { ...onLab, "docker-firewall:keepAbove": '[{"jump":"f2b web"}]' });
    expect(g.get(PERSISTENT, "node1-persistence").failures).toEqual([
      {
        property: "foreignRules.keepAbove.0.jump",
        reason: 'may use only letters, digits and _ . : + -, and * or ? as wildcards (got "f2b web")',
      },
    ]);
  });
});

describe("container-target", () => {
  it(
    "guards the lab's web container by name, or a compose service: no port numbers, nothing rendered at check",
    T,
    async () => {
      const g = await run("container-target", onLab);
      const rules = g.byType(RULE);
      expect(rules.map((r) => [r.name, r.inputs.action, r.inputs.source, r.inputs.target])).toEqual([
        ["node1-from-1", "RETURN", lab.inventory.lbCidr, { container: "web" }],
        ["node1-drop", "DROP", undefined, { container: "web" }],
      ]);
      // The ports are the host's to say (resolved at apply): check renders no lines for a target.
      for (const r of rules) expect(r.checked.rendered).toBeUndefined();
      const compose = await run("container-target", {
        ...onLab,
        "docker-firewall:composeService": "api",
        "docker-firewall:composeProject": "shop",
      });
      expect(compose.get(RULE, "node1-drop").inputs.target).toEqual({ composeService: "api", composeProject: "shop" });
    },
  );
});

describe("fleet (the top-level program)", () => {
  it(
    "gives every lab node the same policy: lbs set, web from lbs, admin from one address, logged WAN drop, persistence",
    T,
    async () => {
      const g = await run("fleet", onLab);
      expect(g.byType(COMPONENT).map((c) => c.name)).toEqual(["node1", "node2", "node3"]);
      for (const node of ["node1", "node2", "node3"]) {
        const parent = g.get(COMPONENT, node).urn;
        expect(g.get(IPSET, `${node}-lbs`).inputs).toMatchObject({
          name: "lbs",
          type: "hash:net",
          entries: ["198.51.100.0/26"],
        });
        expect(g.get(PERSISTENT, `${node}-persistence`).parent).toBe(parent);
        expect(
          g
            .byType(RULE)
            .filter((r) => r.parent === parent)
            .map((r) => r.name)
            .sort(),
        ).toEqual([`${node}-admin`, `${node}-drop-wan`, `${node}-established`, `${node}-web-from-lbs`]);
        expect((g.outputs.rendered as Record<string, { ipv4: string[] }>)[node]?.ipv4.map(stableLine)).toEqual([
          `-A DOCKER-USER -i eth0 -m comment --comment "dfw:0010:${node}-established-<id>" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
          `-A DOCKER-USER -p tcp -m comment --comment "dfw:0100:${node}-web-from-lbs-<id> web port from the load balancers" -m set --match-set lbs src -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j ACCEPT`,
          `-A DOCKER-USER -s 198.51.100.200/32 -p udp -m comment --comment "dfw:0200:${node}-admin-<id> admin port from one address" -m conntrack --ctorigdstport 5353 --ctdir ORIGINAL -j ACCEPT`,
          `-A DOCKER-USER -i eth0 -m comment --comment "dfw:0900:${node}-drop-wan-<id> everything else from the WAN" -m limit --limit 10/min -j LOG --log-prefix "dfw drop: "`,
          `-A DOCKER-USER -i eth0 -m comment --comment "dfw:0900:${node}-drop-wan-<id> everything else from the WAN" -j DROP`,
        ]);
      }
      // Rules without a literal address also cover IPv6 wherever the host's Docker has an IPv6 DOCKER-USER.
      expect(g.get(RULE, "node1-drop-wan").checked.rendered).toMatchObject({ ipv6: expect.any(Array) });
      expect((g.get(RULE, "node1-drop-wan").checked.rendered as { ipv6: string[] }).ipv6).toHaveLength(2);
    },
  );

  it("targets the hosts of stack config, adding IPv6 allow rules for hosts marked ipv6", T, async () => {
    const hosts = [
      { name: "web1", host: "203.0.113.10", user: "deploy", sudo: true, hostKey: fakeHostKey(), ipv6: true },
      { name: "web2", host: "203.0.113.11", port: 2222, wanInterface: "ens3" },
    ];
    const g = await run(
      "fleet",
      {
        "docker-firewall:hosts": JSON.stringify(hosts),
        "docker-firewall:user": "ops",
        "docker-firewall:loadBalancers": '["192.0.2.0/28"]',
        "docker-firewall:loadBalancers6": '["2001:db8:1b::/64"]',
        "docker-firewall:webPort": "443",
        "docker-firewall:admin": '{"port":22022,"protocol":"tcp","from":"203.0.113.5","from6":"2001:db8:ad::5"}',
        "docker-firewall:persistence": "false",
        "docker-firewall:privateKey": FAKE_KEY,
      },
      ["docker-firewall:privateKey"],
    );
    expect(g.byType(PERSISTENT)).toEqual([]);
    expect(unwrapSecrets(g.get(RULE, "web2-admin").inputs.connection)).toEqual({
      host: "203.0.113.11",
      port: 2222,
      user: "ops",
    });
    expect(unwrapSecrets(g.get(RULE, "web1-admin").inputs.connection)).toMatchObject({ user: "deploy", sudo: true });
    expect(g.get(IPSET, "web1-lbs6").inputs).toMatchObject({
      name: "lbs6",
      family: "ipv6",
      entries: ["2001:db8:1b::/64"],
    });
    expect(() => g.get(IPSET, "web2-lbs6")).toThrow();
    expect(g.get(RULE, "web1-web-from-lbs6").propertyDependencies.source).toEqual([g.get(IPSET, "web1-lbs6").urn]);
    const v6 = g.get(RULE, "web1-admin6").checked.rendered as { ipv4: string[]; ipv6: string[] };
    expect(v6.ipv4).toEqual([]);
    expect(v6.ipv6.map(stableLine)).toEqual([
      '-A DOCKER-USER -s 2001:db8:ad::5/128 -p tcp -m comment --comment "dfw:0201:web1-admin6-<id> admin port from one address (IPv6)" -m conntrack --ctorigdstport 22022 --ctdir ORIGINAL -j ACCEPT',
    ]);
    expect(lines(g, "web2-drop-wan")[1]).toMatch(/^-A DOCKER-USER -i ens3 .* -j DROP$/);
    expect(lines(g, "web2-web-from-lbs")[0]).toContain("--ctorigdstport 443 ");
    expect(g.get(IPSET, "web2-lbs").inputs.entries).toEqual(["192.0.2.0/28"]);
  });

  it("refuses a malformed host list with the config key and field named", T, async () => {
    await expect(run("fleet", { "docker-firewall:hosts": '[{"name":"bad name","host":"x"}]' })).rejects.toThrow(
      /docker-firewall:hosts is not a list of hosts:\n {2}- hosts\.0\.name: must be 1-40 letters/,
    );
  });

  it("says how to target hosts when there is neither config nor a lab", T, async () => {
    await expect(run("fleet", { "docker-firewall:labInventory": "/nonexistent/inventory.json" })).rejects.toThrow(
      /no hosts configured \(stack config docker-firewall:hosts\) and no local lab at \/nonexistent\/inventory\.json/,
    );
  });
});

describe("gitops", () => {
  it("applies the reviewed policy file to every host: two sets, four rules each", T, async () => {
    const g = await run("gitops", onLab);
    expect(g.byType(IPSET).map((s) => s.name)).toEqual([
      "node1-lbs",
      "node1-admins",
      "node2-lbs",
      "node2-admins",
      "node3-lbs",
      "node3-admins",
    ]);
    expect(g.get(IPSET, "node2-admins").inputs).toMatchObject({ type: "hash:ip", entries: ["198.51.100.200"] });
    expect(lines(g, "node2-admin")).toEqual([
      '-A DOCKER-USER -p udp -m comment --comment "dfw:0200:node2-admin-<id>" -m set --match-set admins src -m conntrack --ctorigdstport 5353 --ctdir ORIGINAL -j ACCEPT',
    ]);
    expect(g.get(RULE, "node2-admin").propertyDependencies.source).toEqual([g.get(IPSET, "node2-admins").urn]);
    expect(g.byType(RULE)).toHaveLength(12);
  });
});
