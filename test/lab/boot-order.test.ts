// Our boot unit runs after every tool that restores whole firewall tables at boot, and before Docker: a private
// 1-node lab boots with the real units and scripts of Debian's netfilter-persistent (+ iptables-persistent),
// nftables and ufw unpacked into the node, each with a saved configuration of its own, and our rules survive.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOrder } from "../../lab/boot/order";
import { listValues, parseUnit } from "../../lab/boot/unit-file";
import type { LabInventory, LabNode } from "../../lab/index";
import { pathsOf, rebootNode } from "../../lab/power";
import { enableUnit, packagedUnit, type Restorer, unpackRestorer } from "../../lab/restorers";
import { defaultPool } from "../../provider/node/ssh-pool";
import { renderPersistedFiles } from "../../provider/persistence/files";
import { UNIT_NAME } from "../../provider/protocol/paths";
import { inProcess, settle } from "../support/engine";
import { dockerUserChain, managedState, onNode, type PrivateLab, upPrivateLab } from "../support/rel-lab";

const ipsets = inProcess("IpSet", "lbs");
const web = inProcess("DockerUserRule", "web");
const deny = inProcess("DockerUserRule", "deny");
const persistence = inProcess("PersistentRuleset", "persist");

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;
let applied: string[];
let connection: Record<string, unknown>;

beforeAll(async () => {
  priv = await upPrivateLab(1);
  lab = priv.lab;
  node = lab.nodes[0] as LabNode;
  connection = {
    host: node.ssh.host,
    port: node.ssh.port,
    user: "root",
    privateKey: readFileSync(node.privateKeyPath, "utf8"),
    hostKey: node.ssh.hostKey,
  };
  const lbs = { connection, name: "lbs", type: "hash:net", entries: ["198.51.100.0/26"] };
  await ipsets.create(await ipsets.check({}, lbs));
  const allow = { connection, ruleName: "web", priority: 100, action: "ACCEPT", protocol: "tcp" };
  await web.create(await web.check({}, { ...allow, publishedPorts: [8080], source: { set: "lbs" } }));
  const drop = { connection, ruleName: "deny", priority: 900, action: "DROP", protocol: "tcp" };
  await deny.create(await deny.check({}, { ...drop, publishedPorts: [8080] }));
  await persistence.create(await persistence.check({}, { connection }));
  applied = await dockerUserChain(lab, node);
}, 300_000);

afterAll(async () => {
  defaultPool.closeAll();
  await priv?.down();
});

/** Each restorer with the configuration an operator would have saved, and a trace its real script leaves. */
const CASES: {
  restorer: Restorer;
  unit: string;
  wantedBy: string;
  configure: string;
  ranTrace: string;
}[] = [
  {
    restorer: "netfilter-persistent",
    unit: "netfilter-persistent.service",
    wantedBy: "multi-user.target",
    // What `netfilter-persistent save` writes: a whole filter table, restored without --noflush at boot.
    configure: `printf '%s\\n' '*filter' ':INPUT ACCEPT [0:0]' ':FORWARD ACCEPT [0:0]' ':OUTPUT ACCEPT [0:0]' \\
      '-A INPUT -p tcp -m tcp --dport 22 -m comment --comment saved-by-netfilter-persistent -j ACCEPT' 'COMMIT' \\
      >/etc/iptables/rules.v4`,
    ranTrace: "iptables-save -t filter | grep -c saved-by-netfilter-persistent",
  },
  {
    restorer: "nftables",
    unit: "nftables.service",
    wantedBy: "sysinit.target",
    // The package's own /etc/nftables.conf: `flush ruleset`, then an inet filter table.
    configure: "grep -q '^flush ruleset' /etc/nftables.conf",
    ranTrace: "nft list table inet filter >/dev/null && echo 1",
  },
  {
    restorer: "ufw",
    unit: "ufw.service",
    wantedBy: "multi-user.target",
    // What the package's postinst puts in /etc/ufw, then `ufw enable`'s switch.
    configure: `t=/usr/share/ufw; for f in before before6 after after6 user user6; do cp $t/iptables/$f.rules /etc/ufw/; done
      cp $t/before.init $t/after.init $t/ufw.conf /etc/ufw/ && sed -i 's/^ENABLED=no/ENABLED=yes/' /etc/ufw/ufw.conf
      grep -q '^ENABLED=yes' /etc/ufw/ufw.conf`,
    ranTrace: "iptables-save -t filter | grep -c '^:ufw-before-input'",
  },
];

describe("boot order with the tools that restore whole tables", () => {
  for (const c of CASES) {
    it(`keeps the managed rules when ${c.unit} restores at boot`, async () => {
      const paths = pathsOf(lab);
      await unpackRestorer(paths, node, c.restorer);
      await onNode(lab, node, c.configure);
      await enableUnit(paths, node, c.unit, c.wantedBy);
      try {
        const report = await rebootNode(lab, node.name);
        const ran = report.units.find((u) => u.unit === c.unit);
        expect(ran?.state, JSON.stringify(ran?.commands.at(-1))).toBe("done");
        expect(Number((await onNode(lab, node, c.ranTrace)).trim())).toBeGreaterThan(0);
        expect(await dockerUserChain(lab, node)).toEqual(applied);
        const order = report.order;
        expect(order.indexOf(c.unit)).toBeLessThan(order.indexOf(UNIT_NAME));
        expect(order.indexOf(UNIT_NAME)).toBeLessThan(order.indexOf("docker.service"));
        expect(report.units.find((u) => u.unit === UNIT_NAME)?.state).toBe("done");
      } finally {
        await onNode(lab, node, `rm -f /etc/systemd/system/${c.wantedBy}.wants/${c.unit}`);
      }
    }, 300_000);
  }
});

describe("boot order with every packaged restorer at once (firewalld too, whose D-Bus daemon the lab cannot run)", () => {
  it("starts ours after all of them and before Docker, with no ordering cycle", () => {
    const ours = renderPersistedFiles(
      { backend: "nft", families: ["ipv4"], rules: {}, sets: [] },
      { exclusive: false },
    );
    const units = [
      [UNIT_NAME, ours.unit],
      ...CASES.map((c) => [c.unit, packagedUnit(c.restorer, c.unit)]),
      ["firewalld.service", packagedUnit("firewalld", "firewalld.service")],
    ].map(([name, text]) => {
      const u = parseUnit(text as string);
      return { name: name as string, before: listValues(u, "Unit", "Before"), after: listValues(u, "Unit", "After") };
    });
    const { order, cycle } = startOrder(
      [...units, { name: "docker.service", before: [], after: [] }],
      "docker.service",
    );
    expect(cycle).toEqual([]);
    for (const other of units.filter((u) => u.name !== UNIT_NAME)) {
      expect(order.indexOf(other.name), other.name).toBeLessThan(order.indexOf(UNIT_NAME));
    }
    expect(order.at(-1)).toBe("docker.service");
  });
});

describe("a host without systemd", () => {
  it("refuses PersistentRuleset with a clear message and changes nothing", async () => {
    // The node's own view loses systemd (its mount namespace is private): as a host without it would be.
    await onNode(lab, node, "mount -t tmpfs nosystemd /usr/lib/systemd");
    try {
      const before = await managedState(lab, node);
      const out = await settle(persistence.update("p", { connection }, { connection, exclusive: true }));
      expect(out.ok).toBe(false);
      expect(out.ok ? "" : out.error.message).toMatch(
        new RegExp(`${node.ssh.host}:${node.ssh.port}.*this host has no systemd.*PersistentRuleset needs systemd`),
      );
      expect(await managedState(lab, node)).toEqual(before);
    } finally {
      await onNode(lab, node, "umount /usr/lib/systemd");
    }
  }, 120_000);
});
