// Living with fail2ban and CrowdSec on a real Docker 28 node of the shared lab (real sshd, kernel, dockerd): their
// real rule shapes in DOCKER-USER (a jump to f2b-web on the web ports, CrowdSec's ipset DROP and its jump to
// crowdsec-chain). Without a policy our up pushes them below our ACCEPTs and banned clients get in; with
// PersistentRuleset's foreignRules they stay above ours, untouched, and packets prove the bans hold. Then a
// process re-inserts CrowdSec's jump at the top in a loop while we apply several times: every apply succeeds or
// leaves our rules as they were, and the chain ends right.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerLineOf, findClient, type LabInventory, type LabNode, probeLab, probeResult } from "../../lab/index";
import { defaultPool } from "../../provider/node/ssh-pool";
import { inProcess, settle } from "../support/engine";
import { sharedLab } from "../support/lab";
import { dockerUserChain, onNode } from "../support/rel-lab";

const web = inProcess("DockerUserRule", "coexist-web");
const echo = inProcess("DockerUserRule", "coexist-echo");
const extra = inProcess("DockerUserRule", "coexist-extra");
const persistence = inProcess("PersistentRuleset", "coexist-persist");
type Props = Record<string, unknown>;

const F2B_JUMP = "-A DOCKER-USER -p tcp -m multiport --dports 80,443 -j f2b-web";
const CS_SET = "-A DOCKER-USER -m set --match-set crowdsec-blacklists src -j DROP";
const CS_JUMP = "-A DOCKER-USER -j crowdsec-chain";
const FLAG = "/run/dfw-coexist-loop";
const foreignRules = { keepAbove: [{ jump: "f2b-*" }, { jump: "crowdsec-chain" }, { set: "crowdsec-*" }] };

let lab: LabInventory;
let node: LabNode;
let connection: Props;
const made = new Map<string, { calls: typeof web; id: string; outs: Props }>();

async function create(calls: typeof web, inputs: Props): Promise<void> {
  const r = await calls.create(await calls.check({}, inputs));
  made.set(String(inputs.ruleName ?? "persistence"), { calls, id: r.id, outs: r.outs });
}
const allow = (ruleName: string, priority: number, protocol: string, ports: number[]) => ({
  connection,
  ruleName,
  priority,
  action: "ACCEPT",
  protocol,
  publishedPorts: ports,
});

/** Who reaches the node's web (8080/tcp) and echo (5353/udp) ports, by client. */
async function reach(): Promise<Record<string, string>> {
  const rows = await probeLab(lab, {
    nodes: [node.name],
    clients: ["allowed", "denied", "lanpeer"],
    families: ["ipv4"],
  });
  const out: Record<string, string> = {};
  for (const c of ["allowed", "denied", "lanpeer"])
    out[c] =
      `web ${probeResult(rows, { client: c, node: node.name, port: 8080, protocol: "tcp" })}, udp ${probeResult(rows, { client: c, node: node.name, port: 5353, protocol: "udp" })}`;
  return out;
}

const ours = (chain: readonly string[]) => chain.filter((l) => l.includes("dfw:"));

beforeAll(async () => {
  lab = await sharedLab();
  node = lab.nodes.find((n) => dockerLineOf(n) === "28" && n.iptablesBackend === "nft") as LabNode;
  connection = {
    host: node.ssh.host,
    port: node.ssh.port,
    user: "root",
    privateKey: readFileSync(node.privateKeyPath, "utf8"),
    hostKey: node.ssh.hostKey,
  };
  const denied = findClient(lab, "denied").ipv4;
  const lanpeer = findClient(lab, "lanpeer").ipv4;
  // What fail2ban's iptables-multiport action (chain DOCKER-USER) and CrowdSec's firewall bouncer leave.
  await onNode(
    lab,
    node,
    `iptables -w -N f2b-web && iptables -w -A f2b-web -s ${denied}/32 -j REJECT --reject-with icmp-port-unreachable
iptables -w -A f2b-web -j RETURN && iptables -w -I DOCKER-USER -p tcp -m multiport --dports 80,443 -j f2b-web
ipset create crowdsec-blacklists hash:ip timeout 0 && ipset add crowdsec-blacklists ${lanpeer}
iptables -w -I DOCKER-USER -m set --match-set crowdsec-blacklists src -j DROP
iptables -w -N crowdsec-chain && iptables -w -A crowdsec-chain -m set --match-set crowdsec-blacklists src -j DROP`,
  );
}, 300_000);

afterAll(async () => {
  if (node) await onNode(lab, node, `rm -f ${FLAG}`).catch(() => undefined);
  for (const m of [...made.values()].reverse()) await settle(m.calls.delete(m.id, m.outs));
  defaultPool.closeAll();
  if (node)
    await onNode(
      lab,
      node,
      `for r in "${F2B_JUMP.slice(3)}" "${CS_SET.slice(3)}" "${CS_JUMP.slice(3)}"; do while iptables -w -D $r 2>/dev/null; do :; done; done
iptables -w -F f2b-web; iptables -w -X f2b-web; iptables -w -F crowdsec-chain; iptables -w -X crowdsec-chain
ipset destroy crowdsec-blacklists; true`,
    );
});

describe("fail2ban and CrowdSec above our rules (Docker 28, iptables-nft)", () => {
  it("without a policy, our up puts our ACCEPTs above their rules: banned clients reach the allowed ports", async () => {
    expect(await reach()).toEqual({
      allowed: "web open, udp open",
      denied: "web blocked, udp open",
      lanpeer: "web blocked, udp blocked",
    });
    await create(web, allow("coexist-web", 100, "tcp", [8080]));
    await create(echo, allow("coexist-echo", 110, "udp", [5353]));
    expect((await dockerUserChain(lab, node)).slice(2)).toEqual([CS_SET, F2B_JUMP]);
    expect(await reach()).toEqual({
      allowed: "web open, udp open",
      denied: "web open, udp open",
      lanpeer: "web open, udp open",
    });
  });

  it("with foreignRules.keepAbove their rules stay above ours, never rewritten, and the bans hold", async () => {
    await create(persistence, { connection, foreignRules });
    const chain = await dockerUserChain(lab, node);
    expect(chain.slice(0, 2)).toEqual([CS_SET, F2B_JUMP]);
    expect(ours(chain)).toEqual(chain.slice(2, 4));
    expect(await reach()).toEqual({
      allowed: "web open, udp open",
      denied: "web blocked, udp open",
      lanpeer: "web blocked, udp blocked",
    });
    // The boot file inserts ours after the kept-above rules present at boot too.
    const script = await onNode(lab, node, "cat /etc/docker-firewall/restore");
    expect(script).toContain("-j f2b-");
  });

  it("a jump re-inserted at the top in a loop while we apply: each apply succeeds or leaves ours as they were", async () => {
    const loop = await onNode(
      lab,
      node,
      `touch ${FLAG}; nohup sh -c 'n=0; while [ -e ${FLAG} ]; do iptables -w -D DOCKER-USER -j crowdsec-chain 2>/dev/null; iptables -w -I DOCKER-USER 1 -j crowdsec-chain; n=$((n+1)); echo $n >${FLAG}.count; done' >/dev/null 2>&1 & echo $!`,
    ).then((pid) => Number(pid.trim()));
    const outcomes: string[] = [];
    const webRule = made.get("coexist-web") as { id: string; outs: Props };
    let webOuts = webRule.outs;
    for (let i = 0; i < 6; i++) {
      const before = ours(await dockerUserChain(lab, node));
      const step =
        i % 2 === 0
          ? web
              .check(webOuts, allow("coexist-web", 100, "tcp", i % 4 === 0 ? [8080, 8443] : [8080]))
              .then((news) => web.update(webRule.id, webOuts, news))
              .then((outs) => {
                webOuts = outs;
              })
          : i % 4 === 1
            ? create(extra, allow("coexist-extra", 120, "tcp", [9090]))
            : extra
                .delete(made.get("coexist-extra")?.id as string, made.get("coexist-extra")?.outs as Props)
                .then(() => {
                  made.delete("coexist-extra");
                });
      const r = await settle(step);
      outcomes.push(r.ok ? "ok" : (r.error.message.match(/the state read back .*differs/)?.[0] ?? r.error.message));
      if (!r.ok) expect(ours(await dockerUserChain(lab, node))).toEqual(before);
    }
    const loops = Number(await onNode(lab, node, `cat ${FLAG}.count`));
    // The loop checks the flag after each insert: once it is gone and the loop ended, the jump is in place.
    await onNode(
      lab,
      node,
      `rm -f ${FLAG}; while kill -0 ${loop} 2>/dev/null; do sleep 0.1; done; rm -f ${FLAG}.count`,
    );
    console.log(`coexist: ${loops} re-inserts meanwhile; applies: ${outcomes.join(", ")}`);
    expect(loops).toBeGreaterThan(0);
    expect(outcomes.every((o) => o === "ok" || /the state read back/.test(o))).toBe(true);
    // One more apply with the loop stopped settles the host: the tools' rules on top, ours right after them.
    await settle(web.update(webRule.id, webOuts, await web.check(webOuts, allow("coexist-web", 100, "tcp", [8080]))));
    const chain = await dockerUserChain(lab, node);
    const firstOurs = chain.findIndex((l) => l.includes("dfw:"));
    expect(chain.slice(0, firstOurs).sort()).toEqual([CS_JUMP, CS_SET, F2B_JUMP].sort());
    expect(ours(chain)).toHaveLength(3);
    expect(await reach()).toEqual({
      allowed: "web open, udp open",
      denied: "web blocked, udp open",
      lanpeer: "web blocked, udp blocked",
    });
  });
});
