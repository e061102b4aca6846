// The resources under the real dynamic-provider host, driven with the engine's call sequences against a lab
// node over real SSH, with the traffic probe proving the policy after each step: preview, up, no-op up, edit,
// replace, refresh after tampering by hand (each drift detected, then repaired), and destroy back to the start.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerLineOf, freshDockerUser, type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { ipSetShim, ruleShim } from "../../provider/resources/shims";
import { type Declared, EngineHost, EngineStack, serializeProvider, UNKNOWN } from "../support/engine";
import { sharedLab } from "../support/lab";
import { probeNode } from "../support/node-probe";

let lab: LabInventory;
let node: LabNode;
let host: EngineHost;
let stack: EngineStack;
let privateKey: string;

const connection = () => ({ host: node.ssh.host, port: node.ssh.port, user: "root", hostKey: node.ssh.hostKey });
const client = (name: string) => lab.clients.find((c) => c.name === name);

function policy(extraLbEntries: string[] = [], dropFamily?: "ipv4"): Declared[] {
  return [
    {
      type: "IpSet",
      name: "lbs",
      inputs: { connection: connection(), name: "lbs", type: "hash:net", entries: [lab.lbCidr, ...extraLbEntries] },
    },
    {
      type: "DockerUserRule",
      name: "established",
      inputs: {
        connection: connection(),
        ruleName: "established",
        priority: 10,
        action: "RETURN",
        inInterface: node.wan.interface,
        connectionStates: ["RELATED", "ESTABLISHED"],
      },
    },
    {
      type: "DockerUserRule",
      name: "web-from-lbs",
      inputs: {
        connection: connection(),
        ruleName: "web-from-lbs",
        priority: 100,
        action: "ACCEPT",
        protocol: "tcp",
        publishedPorts: [8080],
        source: { set: "lbs" },
      },
    },
    {
      type: "DockerUserRule",
      name: "drop-wan",
      inputs: {
        connection: connection(),
        ruleName: "drop-wan",
        priority: 900,
        action: "DROP",
        inInterface: node.wan.interface,
        log: { prefix: "dfw drop: ", rate: "10/min" },
        ...(dropFamily && { family: dropFamily }),
      },
    },
  ];
}

const snapshot = async () => ({
  chain: (await sshExec(node, "iptables-save -t filter")).stdout
    .split("\n")
    .filter((l) => l.startsWith("-A DOCKER-USER")),
  chain6: (await sshExec(node, "ip6tables-save -t filter")).stdout
    .split("\n")
    .filter((l) => l.startsWith("-A DOCKER-USER")),
  sets: (await sshExec(node, "ipset list -n")).stdout.split("\n").filter(Boolean).sort(),
});

const probe = () => probeNode(lab, node);

beforeAll(async () => {
  lab = await sharedLab();
  node = lab.nodes[0] as LabNode;
  privateKey = readFileSync(node.privateKeyPath, "utf8");
  // The key comes from stack config, so it never enters any resource's inputs or outputs.
  host = await EngineHost.start({ cwd: process.cwd(), config: { "docker-firewall:privateKey": privateKey } });
  stack = new EngineStack(host, { DockerUserRule: ruleShim, IpSet: ipSetShim });
});
afterAll(() => host?.stop());

describe("DockerUserRule and IpSet through the engine protocol on a lab node", () => {
  let before: Awaited<ReturnType<typeof snapshot>>;

  it("preview: check tolerates unknowns, validates before any connection, and shows the literal rule", async () => {
    before = await snapshot();
    const unknownSet = await stack.preview({
      type: "DockerUserRule",
      name: "p",
      inputs: {
        connection: connection(),
        ruleName: "p",
        action: "ACCEPT",
        protocol: "tcp",
        publishedPorts: [443],
        source: { set: UNKNOWN },
      },
    });
    expect(unknownSet.step).toBe("create");
    await expect(
      stack.preview({
        type: "DockerUserRule",
        name: "bad",
        inputs: { connection: { host: "$(reboot)" }, ruleName: "bad", action: "ALLOW" },
      }),
    ).rejects.toThrow(/connection.host.*action/s);
    const shown = await stack.preview(policy()[2] as Declared);
    expect((shown.inputs.rendered as { ipv4: string[] }).ipv4[0]).toMatch(
      /^-A DOCKER-USER -p tcp -m comment --comment "dfw:0100:web-from-lbs-[0-9a-f]{8}" -m set --match-set lbs src -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j ACCEPT$/,
    );
    expect(await snapshot()).toEqual(before);
  });

  it("up creates the policy, which the probe proves; a second up changes nothing", async () => {
    for (const d of policy()) expect(await stack.up(d)).toBe("create");
    expect(await probe()).toEqual({
      allowedWeb: "open",
      deniedWeb: "blocked",
      allowedUdp: "blocked",
      deniedUdp: "blocked",
    });
    // Docker 20.10 publishes over IPv6 without an IPv6 DOCKER-USER: the provider says so, once. 28 has one.
    const unfiltered = host.logs.filter((l) => /IPv6 traffic to containers is NOT filtered/.test(l));
    if (lab.ipv6) expect(unfiltered).toHaveLength(dockerLineOf(node) === "20.10" ? 1 : 0);
    const live = await snapshot();
    // established, web, LOG + DROP, then Docker's RETURN on 20.10 (28 makes DOCKER-USER empty)
    expect(live.chain.slice(4)).toEqual(freshDockerUser(node));
    for (const d of policy()) expect(await stack.up(d)).toBe("same");
  });

  it("an edit is an update: adding the denied client to the set opens the port to it", async () => {
    const denied = `${client("denied")?.ipv4}/32`;
    expect(await stack.up(policy([denied])[0] as Declared)).toBe("update");
    expect((await probe()).deniedWeb).toBe("open");
    expect(await stack.up(policy()[0] as Declared)).toBe("update");
    expect((await probe()).deniedWeb).toBe("blocked");
  });

  it("an identity change (rule family) replaces the rule, new block first, and the policy holds", async () => {
    expect(await stack.up(policy([], "ipv4")[3] as Declared)).toBe("replace");
    const live = await snapshot();
    expect(live.chain.filter((l) => l.includes("drop-wan"))).toHaveLength(2);
    expect(await probe()).toEqual({
      allowedWeb: "open",
      deniedWeb: "blocked",
      allowedUdp: "blocked",
      deniedUdp: "blocked",
    });
  });

  it("refresh detects rules deleted, edited and reordered by hand and a set member added; up repairs all", async () => {
    const live = await snapshot();
    const est = live.chain.find((l) => l.includes("established")) as string;
    const web = live.chain.find((l) => l.includes("web-from-lbs")) as string;
    const webIndex = live.chain.indexOf(web) + 1;
    const drop = live.chain.find((l) => l.includes("drop-wan") && l.endsWith("-j DROP")) as string;
    const tamper = [
      `-D DOCKER-USER ${est.slice(15)}`,
      `-R DOCKER-USER ${webIndex - 1} ${web.slice(15).replace("8080", "8081")}`,
      `-D DOCKER-USER ${drop.slice(15)}`,
      `-I DOCKER-USER 1 ${drop.slice(15)}`,
    ];
    const r = await sshExec(node, "iptables-restore --noflush", { stdin: `*filter\n${tamper.join("\n")}\nCOMMIT\n` });
    expect(r.stderr).toBe("");
    // With an IPv6 DOCKER-USER (Docker 23+ with ip6tables), "established" (family auto) has a v6 line too: gone means both.
    const est6 = live.chain6.find((l) => l.includes("established"));
    if (est6) expect((await sshExec(node, `ip6tables -D DOCKER-USER ${est6.slice(15)}`)).stderr).toBe("");
    await sshExec(node, "ipset add lbs 203.0.113.0/24");

    expect(await stack.refresh("DockerUserRule", "established")).toBe("gone");
    expect(await stack.refresh("DockerUserRule", "web-from-lbs")).toBe("drift");
    expect(await stack.refresh("DockerUserRule", "drop-wan")).toBe("drift");
    expect(await stack.refresh("IpSet", "lbs")).toBe("drift");
    expect((await probe()).allowedWeb).toBe("blocked");

    const steps = [];
    for (const d of policy([], "ipv4")) steps.push(await stack.up(d));
    expect(steps).toEqual(["update", "create", "update", "update"]);
    expect(await probe()).toEqual({
      allowedWeb: "open",
      deniedWeb: "blocked",
      allowedUdp: "blocked",
      deniedUdp: "blocked",
    });
    const verdicts: Record<string, string> = {};
    for (const [t, n] of [
      ["IpSet", "lbs"],
      ["DockerUserRule", "established"],
      ["DockerUserRule", "web-from-lbs"],
      ["DockerUserRule", "drop-wan"],
    ] as const) {
      verdicts[n] = await stack.refresh(t, n);
    }
    expect(verdicts).toEqual({
      lbs: "in-sync",
      established: "in-sync",
      "web-from-lbs": "in-sync",
      "drop-wan": "in-sync",
    });
  });

  it("a credentials-only change (another user, with sudo) is an update, not a replace", async () => {
    const d = policy([], "ipv4")[2] as Declared;
    const viaSudo = { ...d, inputs: { ...d.inputs, connection: { ...connection(), user: node.sudoUser, sudo: true } } };
    const preview = await stack.preview(viaSudo);
    expect(preview).toMatchObject({ step: "update", replaces: [] });
    expect(await stack.up(viaSudo)).toBe("update");
    expect(await stack.refresh("DockerUserRule", "web-from-lbs")).toBe("in-sync");
  });

  it("deleting a set still used by a rule fails and names the rule", async () => {
    await expect(stack.destroy("IpSet", "lbs")).rejects.toThrow(/still used by 1 rule.*web-from-lbs/);
  });

  it("destroy leaves DOCKER-USER and the sets exactly as before the stack existed", async () => {
    for (const n of ["drop-wan", "web-from-lbs", "established"]) await stack.destroy("DockerUserRule", n);
    await stack.destroy("IpSet", "lbs");
    expect(await snapshot()).toEqual(before);
    // Deleting again is not an error: already gone is success.
    await host.delete("urn:pulumi:test::fw::pulumi-nodejs:dynamic/docker-firewall:DockerUserRule::x", "x-00000000", {
      __provider: await serializeProvider(ruleShim),
      connection: connection(),
      ruleName: "x",
      ruleId: "x-00000000",
    });
  });

  it("no output, state or provider log line contains the private key", () => {
    const keyLines = privateKey.split("\n").filter((l) => l.trim().length >= 16);
    const everything = JSON.stringify([...stack.state.values()]) + host.logs.join("\n");
    for (const l of keyLines) expect(everything).not.toContain(l.trim());
    expect(keyLines.length).toBeGreaterThan(2);
  });
});
