// Living with fail2ban and CrowdSec on real Docker 28 nodes of the shared lab (real sshd, kernel, dockerd): their
// real rule shapes in DOCKER-USER (a jump to f2b-web on the web ports, CrowdSec's ipset DROP and its jump to
// crowdsec-chain). Without a policy our up pushes them below our ACCEPTs and banned clients get in; with
// PersistentRuleset's foreignRules they stay above ours, untouched, and packets prove the bans hold. Then, on the
// iptables-nft and the iptables-legacy node, a process re-inserts CrowdSec's jump at the top in a loop while we
// apply several times: every apply succeeds or leaves our rules as they were, and the chain ends right.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerLineOf, findClient, type LabInventory, type LabNode, probeLab, probeResult } from "../../lab/index";
import { defaultPool } from "../../provider/node/ssh-pool";
import { inProcess, settle } from "../support/engine";
import { sharedLab } from "../support/lab";
import { dockerUserChain, onNode } from "../support/rel-lab";

type Props = Record<string, unknown>;
type Calls = ReturnType<typeof inProcess>;

const F2B_JUMP = "-A DOCKER-USER -p tcp -m multiport --dports 80,443 -j f2b-web";
const CS_SET = "-A DOCKER-USER -m set --match-set crowdsec-blacklists src -j DROP";
const CS_JUMP = "-A DOCKER-USER -j crowdsec-chain";
const FLAG = "/run/dfw-coexist-loop";
const foreignRules = { keepAbove: [{ jump: "f2b-*" }, { jump: "crowdsec-chain" }, { set: "crowdsec-*" }] };
const BANS_HOLD = {
  allowed: "web open, udp open",
  denied: "web blocked, udp open",
  lanpeer: "web blocked, udp blocked",
};

let lab: LabInventory;
const made: Array<{ calls: Calls; id: string; outs: Props }> = [];

/** One node's resources (named after the node, so both nodes' can live in one process). */
function onHost(node: LabNode) {
  const connection = {
    host: node.ssh.host,
    port: node.ssh.port,
    user: "root",
    privateKey: readFileSync(node.privateKeyPath, "utf8"),
    hostKey: node.ssh.hostKey,
  };
  const calls = (type: "DockerUserRule" | "PersistentRuleset", name: string) => inProcess(type, `${node.name}-${name}`);
  const allow = (ruleName: string, priority: number, protocol: string, ports: number[]) => ({
    connection,
    ruleName: `${node.name}-${ruleName}`,
    priority,
    action: "ACCEPT",
    protocol,
    publishedPorts: ports,
  });
  return {
    node,
    connection,
    web: calls("DockerUserRule", "web"),
    echo: calls("DockerUserRule", "echo"),
    extra: calls("DockerUserRule", "extra"),
    persistence: calls("PersistentRuleset", "persist"),
    allow,
  };
}
type Host = ReturnType<typeof onHost>;

async function create(calls: Calls, inputs: Props): Promise<{ calls: Calls; id: string; outs: Props }> {
  const r = await calls.create(await calls.check({}, inputs));
  const entry = { calls, id: r.id, outs: r.outs };
  made.push(entry);
  return entry;
}

async function remove(entry: { calls: Calls; id: string; outs: Props }): Promise<void> {
  await entry.calls.delete(entry.id, entry.outs);
  made.splice(made.indexOf(entry), 1);
}

/** Who reaches the node's web (8080/tcp) and echo (5353/udp) ports, by client. */
async function reach(node: LabNode): Promise<Record<string, string>> {
  const clients = ["allowed", "denied", "lanpeer"];
  const rows = await probeLab(lab, { nodes: [node.name], clients, families: ["ipv4"] });
  const at = (client: string, port: number, protocol: "tcp" | "udp") =>
    probeResult(rows, { client, node: node.name, port, protocol });
  return Object.fromEntries(clients.map((c) => [c, `web ${at(c, 8080, "tcp")}, udp ${at(c, 5353, "udp")}`]));
}

const ours = (chain: readonly string[]) => chain.filter((l) => l.includes("dfw:"));
let nft: Host;
let legacy: Host;

/** What fail2ban's iptables-multiport action (chain DOCKER-USER) and CrowdSec's firewall bouncer leave. */
const seedTools = (node: LabNode) =>
  onNode(
    lab,
    node,
    `iptables -w -N f2b-web && iptables -w -A f2b-web -s ${findClient(lab, "denied").ipv4}/32 -j REJECT --reject-with icmp-port-unreachable
iptables -w -A f2b-web -j RETURN && iptables -w -I DOCKER-USER -p tcp -m multiport --dports 80,443 -j f2b-web
ipset create crowdsec-blacklists hash:ip timeout 0 && ipset add crowdsec-blacklists ${findClient(lab, "lanpeer").ipv4}
iptables -w -I DOCKER-USER -m set --match-set crowdsec-blacklists src -j DROP
iptables -w -N crowdsec-chain && iptables -w -A crowdsec-chain -m set --match-set crowdsec-blacklists src -j DROP`,
  );

const removeTools = (node: LabNode) =>
  onNode(
    lab,
    node,
    `rm -f ${FLAG} ${FLAG}.count
for r in "${F2B_JUMP.slice(3)}" "${CS_SET.slice(3)}" "${CS_JUMP.slice(3)}"; do while iptables -w -D $r 2>/dev/null; do :; done; done
iptables -w -F f2b-web; iptables -w -X f2b-web; iptables -w -F crowdsec-chain; iptables -w -X crowdsec-chain
ipset destroy crowdsec-blacklists; true`,
  );

beforeAll(async () => {
  lab = await sharedLab();
  const on28 = lab.nodes.filter((n) => dockerLineOf(n) === "28");
  nft = onHost(on28.find((n) => n.iptablesBackend === "nft") as LabNode);
  legacy = onHost(on28.find((n) => n.iptablesBackend === "legacy") as LabNode);
  await seedTools(nft.node);
  await seedTools(legacy.node);
}, 300_000);

afterAll(async () => {
  for (const h of [nft, legacy]) if (h) await onNode(lab, h.node, `rm -f ${FLAG}`).catch(() => undefined);
  for (const m of [...made].reverse()) await settle(m.calls.delete(m.id, m.outs));
  defaultPool.closeAll();
  for (const h of [nft, legacy]) if (h) await removeTools(h.node);
});

/** Six applies (update, create, delete of rules) while a process deletes and re-inserts CrowdSec's jump at the top. */
async function applyUnderLoop(h: Host): Promise<void> {
  const web = await create(h.web, h.allow("web", 100, "tcp", [8080]));
  await create(h.echo, h.allow("echo", 110, "udp", [5353]));
  await create(h.persistence, { connection: h.connection, foreignRules });
  const loop = await onNode(
    lab,
    h.node,
    `touch ${FLAG}; nohup sh -c 'n=0; while [ -e ${FLAG} ]; do iptables -w -D DOCKER-USER -j crowdsec-chain 2>/dev/null; iptables -w -I DOCKER-USER 1 -j crowdsec-chain; n=$((n+1)); echo $n >${FLAG}.count; done' >/dev/null 2>&1 & echo $!`,
  ).then((pid) => Number(pid.trim()));
  const outcomes: string[] = [];
  let extra: { calls: Calls; id: string; outs: Props } | undefined;
  for (let i = 0; i < 6; i++) {
    const before = ours(await dockerUserChain(lab, h.node));
    const step = async () => {
      if (i % 2 === 0) {
        const news = await h.web.check(web.outs, h.allow("web", 100, "tcp", i % 4 === 0 ? [8080, 8443] : [8080]));
        web.outs = await h.web.update(web.id, web.outs, news);
      } else if (extra) {
        await remove(extra);
        extra = undefined;
      } else extra = await create(h.extra, h.allow("extra", 120, "tcp", [9090]));
    };
    const r = await settle(step());
    outcomes.push(r.ok ? "ok" : r.error.message);
    if (!r.ok) {
      // A clean refusal: restored after a spoiled read-back, or refused by the kernel before any change.
      expect(r.error.message).toMatch(/what this run touched was restored|nothing was changed on the host/);
      expect(ours(await dockerUserChain(lab, h.node))).toEqual(before);
    }
  }
  // The loop checks the flag after each insert: once it has ended, the jump is in place. Its count is read only
  // then: the loop rewrites the file at every turn, and a read between truncation and write saw it empty (0).
  const loops = Number(
    await onNode(
      lab,
      h.node,
      `rm -f ${FLAG}; while kill -0 ${loop} 2>/dev/null; do sleep 0.1; done; cat ${FLAG}.count; rm -f ${FLAG}.count`,
    ),
  );
  console.log(`coexist ${h.node.name}: ${loops} re-inserts meanwhile; applies: ${outcomes.join(", ")}`);
  expect(loops).toBeGreaterThan(0);
  // One more apply with the loop stopped settles the host: the tools' rules on top, ours right after them.
  await settle(h.web.update(web.id, web.outs, await h.web.check(web.outs, h.allow("web", 100, "tcp", [8080]))));
  const chain = await dockerUserChain(lab, h.node);
  const firstOurs = chain.findIndex((l) => l.includes("dfw:"));
  expect(chain.slice(0, firstOurs).sort()).toEqual([CS_JUMP, CS_SET, F2B_JUMP].sort());
  expect(ours(chain)).toHaveLength(3);
  expect(chain.slice(firstOurs + 3).every((l) => !l.includes("dfw:"))).toBe(true);
}

describe("fail2ban and CrowdSec above our rules (Docker 28)", () => {
  it("without a policy, our up puts our ACCEPTs above their rules: banned clients reach the allowed ports", async () => {
    expect(await reach(nft.node)).toEqual(BANS_HOLD);
    await create(nft.web, nft.allow("web", 100, "tcp", [8080]));
    await create(nft.echo, nft.allow("echo", 110, "udp", [5353]));
    expect((await dockerUserChain(lab, nft.node)).slice(2)).toEqual([CS_SET, F2B_JUMP]);
    expect(await reach(nft.node)).toEqual({
      allowed: "web open, udp open",
      denied: "web open, udp open",
      lanpeer: "web open, udp open",
    });
  });

  it("with foreignRules.keepAbove their rules stay above ours, never rewritten, and the bans hold", async () => {
    await create(nft.persistence, { connection: nft.connection, foreignRules });
    const chain = await dockerUserChain(lab, nft.node);
    expect(chain.slice(0, 2)).toEqual([CS_SET, F2B_JUMP]);
    expect(ours(chain)).toEqual(chain.slice(2, 4));
    expect(await reach(nft.node)).toEqual(BANS_HOLD);
    // The boot file inserts ours after the kept-above rules present at boot too.
    expect(await onNode(lab, nft.node, "cat /etc/docker-firewall/restore")).toContain("-j f2b-");
    for (const m of [...made].reverse()) await remove(m);
    expect(await dockerUserChain(lab, nft.node)).toEqual([CS_SET, F2B_JUMP]);
  });

  it("a jump re-inserted at the top in a loop while we apply (iptables-nft)", async () => {
    await applyUnderLoop(nft);
    expect(await reach(nft.node)).toEqual(BANS_HOLD);
  });

  it("a jump re-inserted at the top in a loop while we apply (iptables-legacy)", async () => {
    await applyUnderLoop(legacy);
    expect(await reach(legacy.node)).toEqual(BANS_HOLD);
  });
});
