// PersistentRuleset on a lab node through the engine protocol: the policy survives a simulated power cycle
// (boot unit run in systemd order, before dockerd starts) and a Docker restart, with no Docker restart during
// apply; later changes keep the files in step; tampering with them is drift that the next up repairs;
// exclusive mode removes unmanaged rules; the restore script is idempotent.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDockerUser, type LabInventory, type LabNode, rebootNode, restartDocker, sshExec } from "../../lab/index";
import { ipSetShim, persistentShim, ruleShim } from "../../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../support/engine";
import { sharedLab } from "../support/lab";
import { probeNode } from "../support/node-probe";

let lab: LabInventory;
let node: LabNode;
let host: EngineHost;
let stack: EngineStack;

const connection = () => ({
  host: node.ssh.host,
  port: node.ssh.port,
  user: node.sudoUser,
  sudo: true,
  hostKey: node.ssh.hostKey,
});

function policy(extra = false): Declared[] {
  return [
    {
      type: "IpSet",
      name: "lbs",
      inputs: { connection: connection(), name: "lbs", type: "hash:net", entries: [lab.lbCidr] },
    },
    {
      type: "DockerUserRule",
      name: "web",
      inputs: {
        connection: connection(),
        ruleName: "web",
        priority: 100,
        action: "ACCEPT",
        protocol: "tcp",
        publishedPorts: [8080],
        source: { set: "lbs" },
      },
    },
    ...(extra
      ? [
          {
            type: "DockerUserRule",
            name: "udp",
            inputs: {
              connection: connection(),
              ruleName: "udp",
              priority: 200,
              action: "ACCEPT",
              protocol: "udp",
              publishedPorts: [5353],
              source: { set: "lbs" },
            },
          } as Declared,
        ]
      : []),
    {
      type: "DockerUserRule",
      name: "drop",
      inputs: {
        connection: connection(),
        ruleName: "drop",
        priority: 900,
        action: "DROP",
        inInterface: node.wan.interface,
        family: "ipv4",
      },
    },
  ];
}
const persistence = (exclusive = false): Declared => ({
  type: "PersistentRuleset",
  name: "persist",
  inputs: { connection: connection(), exclusive },
});

const chain = async () =>
  (await sshExec(node, "iptables-save -t filter")).stdout.split("\n").filter((l) => l.startsWith("-A DOCKER-USER"));
const dockerPid = async () =>
  (await sshExec(node, "cat /run/docker.pid 2>/dev/null || pgrep -o dockerd")).stdout.trim();

const probe = () => probeNode(lab, node);

beforeAll(async () => {
  lab = await sharedLab();
  node = lab.nodes[1] as LabNode;
  host = await EngineHost.start({
    cwd: process.cwd(),
    config: { "docker-firewall:privateKey": readFileSync(node.privateKeyPath, "utf8") },
  });
  stack = new EngineStack(host, { DockerUserRule: ruleShim, IpSet: ipSetShim, PersistentRuleset: persistentShim });
});
afterAll(() => host?.stop());

describe("PersistentRuleset on a lab node (as the sudo user)", () => {
  let applied: string[];

  it("persists the managed rules and sets without restarting Docker", async () => {
    const pid = await dockerPid();
    for (const d of [...policy(), persistence()]) expect(await stack.up(d)).toBe("create");
    expect(await dockerPid()).toBe(pid);
    applied = await chain();
    const files = await sshExec(node, "ls /etc/docker-firewall /etc/systemd/system/multi-user.target.wants");
    expect(files.stdout).toMatch(
      /ipsets\.restore[\s\S]*restore[\s\S]*rules-ipv4\.restore[\s\S]*docker-firewall\.service/,
    );
    const rules = (await sshExec(node, "cat /etc/docker-firewall/rules-ipv4.restore")).stdout;
    expect(rules.split("\n").filter(Boolean)).toHaveLength(2);
    expect(rules).not.toContain("RETURN"); // never Docker's or foreign rules
    expect(await probe()).toEqual({
      allowedWeb: "open",
      deniedWeb: "blocked",
      allowedUdp: "blocked",
      deniedUdp: "blocked",
    });
  });

  it("survives a power cycle: restored by the boot unit before dockerd starts", async () => {
    const r = await rebootNode(lab, node.name);
    // The unit verified clean with systemd-analyze, ran to completion, and in systemd order before dockerd.
    const unit = r.units.find((u) => u.unit === "docker-firewall.service");
    expect(unit).toMatchObject({ state: "done", verify: { ok: true, output: "" } });
    expect(r.order.indexOf("docker-firewall.service")).toBeLessThan(r.order.indexOf("docker.service"));
    expect(r.order).toContain("docker.service");
    expect(await chain()).toEqual(applied);
    expect((await sshExec(node, "ipset list lbs")).stdout).toContain(lab.lbCidr);
    expect(await probe()).toEqual({
      allowedWeb: "open",
      deniedWeb: "blocked",
      allowedUdp: "blocked",
      deniedUdp: "blocked",
    });
  });

  it("survives a Docker restart", async () => {
    await restartDocker(lab, node.name);
    expect(await chain()).toEqual(applied);
    expect(await probe()).toEqual({
      allowedWeb: "open",
      deniedWeb: "blocked",
      allowedUdp: "blocked",
      deniedUdp: "blocked",
    });
  });

  it("keeps the files in step with a later change, so the next boot has it", async () => {
    for (const d of policy(true)) await stack.up(d);
    const now = await chain();
    expect(now).toHaveLength(applied.length + 1);
    await rebootNode(lab, node.name);
    expect(await chain()).toEqual(now);
    expect((await probe()).allowedUdp).toBe("open");
  });

  it("the restore script is idempotent and leaves foreign rules alone", async () => {
    await sshExec(node, "iptables -I DOCKER-USER 1 -s 192.0.2.99 -j DROP");
    const before = await chain();
    for (let i = 0; i < 2; i++) expect((await sshExec(node, "sh /etc/docker-firewall/restore")).code).toBe(0);
    const after = await chain();
    expect(after.filter((l) => l.includes("192.0.2.99"))).toHaveLength(1);
    expect([...after].sort()).toEqual([...before].sort());
    expect(after.slice(0, 3).every((l) => l.includes("dfw:"))).toBe(true);
  });

  it("refresh reports a removed unit and an unmanaged rule (exclusive); up repairs both", async () => {
    expect(await stack.up(persistence(true))).toBe("update");
    expect((await chain()).some((l) => l.includes("192.0.2.99"))).toBe(false);
    await sshExec(
      node,
      "rm -f /etc/systemd/system/docker-firewall.service /etc/systemd/system/multi-user.target.wants/docker-firewall.service",
    );
    await sshExec(node, "iptables -A DOCKER-USER -s 192.0.2.98 -j ACCEPT");
    expect(await stack.refresh("PersistentRuleset", "persist")).toBe("drift");
    expect(await stack.up(persistence(true))).toBe("update");
    expect((await chain()).some((l) => l.includes("192.0.2.98"))).toBe(false);
    expect(
      (await sshExec(node, "test -L /etc/systemd/system/multi-user.target.wants/docker-firewall.service")).code,
    ).toBe(0);
    expect(await stack.refresh("PersistentRuleset", "persist")).toBe("in-sync");
  });

  it("a host problem found at read time shows in the resource's warnings output", async () => {
    // Another tool's saved ruleset holding Docker lines: restoring it at boot resurrects stale DOCKER-USER rules.
    const saved = "/etc/iptables/rules.v4";
    await sshExec(node, `mkdir -p /etc/iptables && printf '*filter\\n-A DOCKER-USER -j RETURN\\nCOMMIT\\n' > ${saved}`);
    try {
      await stack.refresh("PersistentRuleset", "persist");
      const warnings = stack.state.get("PersistentRuleset::persist")?.outputs.warnings as string[];
      expect(warnings.some((w) => w.startsWith(`${saved} (restored at boot`))).toBe(true);
    } finally {
      await sshExec(node, `rm -f ${saved}`);
    }
    await stack.refresh("PersistentRuleset", "persist");
    expect(stack.state.get("PersistentRuleset::persist")?.outputs.warnings).toEqual([]);
  });

  it("destroy removes the files and the unit; rules and sets go with their own resources", async () => {
    await stack.destroy("PersistentRuleset", "persist");
    expect((await sshExec(node, "ls /etc/docker-firewall")).stdout.trim()).toBe("managed-sets");
    for (const n of ["drop", "udp", "web"]) await stack.destroy("DockerUserRule", n);
    await stack.destroy("IpSet", "lbs");
    expect(await chain()).toEqual(freshDockerUser(node));
    expect((await sshExec(node, "cat /etc/docker-firewall/managed-sets")).stdout).toBe("");
  });
});
