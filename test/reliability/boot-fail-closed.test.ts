// Boot persistence fails closed, on a private 1-node lab through the resource providers: a rule on a set no
// IpSet manages is refused while persistence is on (the boot restore could not recreate the set), and a boot whose
// restore fails anyway (the persisted sets lost) keeps Docker from starting, as systemd would with RequiredBy=.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootNode } from "../../lab/boot/boot-units";
import type { LabInventory, LabNode } from "../../lab/index";
import { resetNetfilter } from "../../lab/netfilter-reset";
import { pathsOf, startDocker, stopDocker } from "../../lab/power";
import { defaultPool } from "../../provider/node/ssh-pool";
import { inProcess, type Props, settle } from "../support/engine";
import { dockerUserChain, onNode, type PrivateLab, upPrivateLab } from "../support/rel-lab";

const rules = inProcess("DockerUserRule", "web");
const ipsets = inProcess("IpSet", "lbs");
const persistence = inProcess("PersistentRuleset", "persistence");

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;
let conn: Props;

beforeAll(async () => {
  priv = await upPrivateLab(1);
  lab = priv.lab;
  node = lab.nodes[0] as LabNode;
  conn = {
    host: node.ssh.host,
    port: node.ssh.port,
    user: "root",
    privateKey: readFileSync(node.privateKeyPath, "utf8"),
    hostKey: node.ssh.hostKey,
  };
  const lbs = { connection: conn, name: "lbs", type: "hash:net", entries: ["198.51.100.0/26"] };
  await ipsets.create(await ipsets.check({}, lbs));
  const web = { connection: conn, ruleName: "web", priority: 100, action: "ACCEPT", protocol: "tcp" };
  await rules.create(await rules.check({}, { ...web, publishedPorts: [8080], source: { set: "lbs" } }));
  await persistence.create(await persistence.check({}, { connection: conn }));
}, 300_000);

afterAll(async () => {
  defaultPool.closeAll();
  await priv?.down();
});

describe("boot persistence fails closed", () => {
  it("refuses a persisted rule on a set no IpSet manages, naming the set, and changes nothing", async () => {
    await onNode(lab, node, "ipset create foreign hash:net && ipset add foreign 192.0.2.0/24");
    const before = await dockerUserChain(lab, node);
    const news = await rules.check(
      {},
      { connection: conn, ruleName: "f", priority: 200, action: "DROP", source: { set: "foreign" } },
    );
    const out = await settle(rules.create(news));
    expect(out.ok).toBe(false);
    expect(out.ok ? "" : out.error.message).toMatch(/set foreign is not managed by an IpSet resource .*boot/);
    expect(await dockerUserChain(lab, node)).toEqual(before);
  });

  it("keeps Docker from starting when the boot restore fails", async () => {
    const paths = pathsOf(lab);
    // The persisted sets are lost (as with a set no IpSet manages): the rules that use lbs cannot be restored.
    await onNode(lab, node, ": >/etc/docker-firewall/ipsets.restore");
    await stopDocker(paths, node, { keepUnits: false });
    await resetNetfilter(paths, node);
    let dockerStarted = false;
    const report = await bootNode(paths, node, async () => {
      dockerStarted = true;
      await startDocker(paths, node);
    });
    const unit = report.units.find((u) => u.unit === "docker-firewall.service");
    expect(unit?.state).toBe("failed");
    expect(unit?.commands.at(-1)?.stderr).toMatch(/restoring the ipv4 rules failed: Docker is kept from starting/);
    expect(report.dockerBlocked).toMatch(/docker-firewall\.service/);
    expect(dockerStarted).toBe(false);
    await startDocker(paths, node);
  });
});
