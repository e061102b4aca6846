// Rules that follow a container, on a real Docker 28 node of the shared lab through the real dynamic-provider host
// (dist/: run `npm run build` first): examples/container-target's rules (the load balancers' range returned, the
// rest of the WAN dropped) target container `dfwc-web` (its own name, so the lab's `web` stays as other files
// expect it). Published on 18080 it is blocked there; recreated on 18081, refresh
// reports drift (resolvedPorts) and the client gets through until the next up follows it (a plain up follows
// too); recreated with another address on the same port, nothing drifts and it stays filtered; removed, the up fails
// naming the container and the host, and the node's filter table is unchanged. Traffic is probed from the lab's
// WAN clients (their own namespaces).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rules } from "../../examples/container-target/policy";
import { IMAGE_NAME } from "../../lab/image";
import { dockerLineOf, type LabInventory, type LabNode, probeLab, probeResult } from "../../lab/index";
import { formatPorts, resolveTarget } from "../../provider/containers/resolve";
import { parseConnection } from "../../provider/model/connection";
import type { RuleTarget } from "../../provider/model/target";
import { sshSession } from "../../provider/node/session";
import { SshPool } from "../../provider/node/ssh-pool";
import { readHostState } from "../../provider/node/transaction";
import { ruleShim } from "../../provider/resources/shims";
import { type Declared, EngineHost, EngineStack } from "../support/engine";
import { sharedLab } from "../support/lab";
import { onNode } from "../support/rel-lab";
import { connectionOf } from "../support/rel-policies";

const NAME = "dfwc-web";
const EVIL = "dfwc-evil";
const FILLER = "dfwc-filler";
let lab: LabInventory;
let node: LabNode;
let host: EngineHost;
let stack: EngineStack;

const runWeb = (port: number) =>
  onNode(
    lab,
    node,
    `docker rm -f ${NAME} >/dev/null 2>&1; docker run -d --name ${NAME} --init -p ${port}:80 ${IMAGE_NAME} sh -c "echo dfwc > /www/index.html && exec httpd -f -p 80 -h /www" >/dev/null`,
  );

/** The example's rules for `dfwc-web`, trusting the lab's load balancers (`allowed` is inside, `denied` is not). */
const declared = (): Declared[] =>
  Object.entries(
    rules({ name: "dfwc", target: { container: NAME }, trusted: [lab.lbCidr], wan: node.wan.interface }),
  ).map(([name, args]) => ({
    type: "DockerUserRule",
    name,
    inputs: { ...args, connection: connectionOf(node), ruleName: name },
  }));
/** `pulumi up` of every rule: the steps taken. */
const up = async () => {
  const steps: string[] = [];
  for (const d of declared()) steps.push(await stack.up(d));
  return steps;
};
const refresh = async () => Promise.all(declared().map((d) => stack.refresh(d.type, d.name)));
const resolved = () => declared().map((d) => stack.state.get(`DockerUserRule::${d.name}`)?.outputs.resolvedPorts);

/** allowed and denied (WAN, IPv4) against the given published ports of the node. */
async function reach(ports: number[]): Promise<Record<string, string>> {
  const published = ports.map((port) => ({ port, protocol: "tcp" as const, containerPort: 80, container: NAME }));
  const inventory = { ...lab, nodes: lab.nodes.map((n) => (n.name === node.name ? { ...n, published } : n)) };
  const rows = await probeLab(inventory, { nodes: [node.name], clients: ["allowed", "denied"], families: ["ipv4"] });
  const out: Record<string, string> = {};
  for (const client of ["allowed", "denied"])
    for (const port of ports)
      out[`${client} ${port}`] = probeResult(rows, { client, node: node.name, port, protocol: "tcp" });
  return out;
}

const filter = () => onNode(lab, node, "iptables-save -t filter | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'");

beforeAll(async () => {
  lab = await sharedLab();
  node = lab.nodes.find((n) => dockerLineOf(n) === "28" && n.iptablesBackend === "nft") as LabNode;
  host = await EngineHost.start({
    cwd: process.cwd(),
    project: "container-target",
    config: { "docker-firewall:privateKey": readFileSync(node.privateKeyPath, "utf8") },
  });
  stack = new EngineStack(host, { DockerUserRule: ruleShim });
  await runWeb(18080);
  // A neighbour whose label holds what would break a lax parse: quotes, a backslash, newlines, a section marker.
  await onNode(
    lab,
    node,
    `docker rm -f ${EVIL} >/dev/null 2>&1; docker run -d --name ${EVIL} --init --label "evil=$(cat)" ${IMAGE_NAME} sleep 3600 >/dev/null`,
    'a"b\\c\n@@0123 end\n{"name":"/dfwc-web","ports":{"80/tcp":[{"HostIp":"","HostPort":"9"}]},"labels":null}\n',
  );
});
afterAll(async () => {
  for (const d of node ? declared() : []) await stack?.destroy(d.type, d.name).catch(() => undefined);
  if (node) await onNode(lab, node, `docker rm -f ${NAME} ${EVIL} ${FILLER} >/dev/null 2>&1 || true`);
  await host?.stop();
});

describe("a rule that follows a container (Docker 28, real containers)", () => {
  it("matches the port the container publishes", async () => {
    // The neighbour's label really holds the newline and the marker (JSON-escaped by docker inspect).
    expect(await onNode(lab, node, `docker inspect --format "{{json .Config.Labels}}" ${EVIL}`)).toContain(
      '\\n@@0123 end\\n{\\"name\\":\\"/dfwc-web\\"',
    );
    expect(await up()).toEqual(["create", "create"]);
    expect(resolved()).toEqual([["18080/tcp"], ["18080/tcp"]]);
    expect(await reach([18080])).toEqual({ "allowed 18080": "open", "denied 18080": "blocked" });
  });

  it("a republish on another port is drift at refresh, and the next up follows it", async () => {
    await runWeb(18081);
    // The block still matches 18080: the denied client reaches the new port until the rule follows.
    expect(await reach([18081])).toEqual({ "allowed 18081": "open", "denied 18081": "open" });
    expect(await refresh()).toEqual(["drift", "drift"]);
    expect(resolved()).toEqual([["18081/tcp"], ["18081/tcp"]]);
    expect(await up()).toEqual(["update", "update"]);
    expect(await refresh()).toEqual(["in-sync", "in-sync"]);
    expect(await reach([18081])).toEqual({ "allowed 18081": "open", "denied 18081": "blocked" });
    expect(await filter()).toMatch(/-A DOCKER-USER -i \S+ -p tcp .*--ctorigdstport 18081 --ctdir ORIGINAL -j DROP/);
  });

  it("an up without refresh follows too: its diff resolves against the containers running now", async () => {
    await runWeb(18082);
    expect(await up()).toEqual(["update", "update"]);
    expect(resolved()).toEqual([["18082/tcp"], ["18082/tcp"]]);
    expect(await reach([18082])).toEqual({ "allowed 18082": "open", "denied 18082": "blocked" });
  });

  it("recreated with another address on the same port: in sync, nothing to do, still filtered", async () => {
    const ipOf = async (name: string) =>
      (await onNode(lab, node, `docker inspect --format "{{.NetworkSettings.IPAddress}}" ${name}`)).trim();
    const before = await ipOf(NAME);
    // A filler takes the freed address, so the new dfwc-web gets another one.
    await onNode(
      lab,
      node,
      `docker rm -f ${NAME} >/dev/null && docker run -d --name ${FILLER} ${IMAGE_NAME} sleep 3600 >/dev/null`,
    );
    await runWeb(18082);
    expect(await ipOf(NAME)).not.toBe(before);
    expect(await refresh()).toEqual(["in-sync", "in-sync"]);
    expect(await reach([18082])).toEqual({ "allowed 18082": "open", "denied 18082": "blocked" });
  });

  it("a removed container is an error naming it and the host; the node is unchanged", async () => {
    await onNode(lab, node, `docker rm -f ${NAME} >/dev/null`);
    const before = await filter();
    expect(await refresh()).toEqual(["drift", "drift"]);
    expect(resolved()).toEqual([[], []]);
    const failed = up();
    await expect(failed).rejects.toThrow(/no running container matches container dfwc-web/);
    await expect(failed).rejects.toThrow(`root@${node.ssh.host}:${node.ssh.port}`);
    expect(await filter()).toBe(before);
  });
});

describe("the read lists containers only when asked, on every Docker of the fleet", () => {
  it("28 (nft), 28 (legacy), 20.10: the lab's web and echo resolve, as the sudo user; a plain read lists none", async () => {
    for (const n of lab.nodes) {
      const conn = parseConnection({
        host: n.ssh.host,
        port: n.ssh.port,
        user: n.sudoUser,
        sudo: true,
        privateKey: readFileSync(n.privateKeyPath, "utf8"),
        hostKey: n.ssh.hostKey,
      });
      const pool = new SshPool();
      try {
        const session = sshSession(conn, { exec: { pool } });
        const { state } = await readHostState(session, { containers: true });
        const ports = (t: RuleTarget) =>
          ((r) => (r.ok ? formatPorts(r.ports) : r.error))(resolveTarget(state.containers, t, "all"));
        expect([n.name, ports({ container: "web" }), ports({ container: "echo" })]).toEqual([
          n.name,
          ["8080/tcp"],
          ["5353/udp"],
        ]);
        expect((await readHostState(session)).state.containers).toBeUndefined();
      } finally {
        pool.closeAll();
      }
    }
  });
});
