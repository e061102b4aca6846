// The shared 3-node lab as the provider will see it: real SSH with pinned host keys, real dockerd with its
// DOCKER-USER chain, and probes that show what traffic really passes.
import { beforeAll, describe, expect, it } from "vitest";
import {
  dockerLineOf,
  type LabInventory,
  labStatus,
  probeLab,
  rebootNode,
  renderProbeTable,
  sshExec,
} from "../../lab/index";
import { run } from "../../lab/spawn";
import { SHARED_FLEET, sharedLab } from "../support/lab";

let lab: LabInventory;

beforeAll(async () => {
  lab = await sharedLab();
});

const node = (i: number) => lab.nodes[i] as LabInventory["nodes"][number];
const onDocker = (line: "28" | "20.10") => lab.nodes.filter((n) => dockerLineOf(n) === line);

describe("shared lab", () => {
  it("has 3 nodes, each its own host over SSH as root, the sudo user and the password-sudo user", async () => {
    expect(lab.nodes.map((n) => n.name)).toEqual(["node1", "node2", "node3"]);
    for (const n of lab.nodes) {
      const root = await sshExec(n, "id -un; hostname");
      expect(root).toMatchObject({ code: 0, stdout: `root\n${n.hostname}\n` });
      const sudo = await sshExec(n, "sudo -n id -un", { user: n.sudoUser });
      expect(sudo).toMatchObject({ code: 0, stdout: "root\n", stderr: "" });
      const nosudo = await sshExec(n, "sudo -n id -un", { user: n.nosudoUser });
      expect(nosudo.code).not.toBe(0);
      expect(nosudo.stderr).toMatch(/a password is required/);
    }
  });

  it("is a mixed fleet whose inventory records each daemon's own version: 28 on nft, 28 on legacy, 20.10", async () => {
    expect(SHARED_FLEET.legacyNodes).toEqual(["node2"]);
    expect(lab.nodes.map((n) => [n.name, dockerLineOf(n), n.iptablesBackend])).toEqual([
      ["node1", "28", "nft"],
      ["node2", "28", "legacy"],
      ["node3", "20.10", "nft"],
    ]);
    for (const n of lab.nodes) {
      const live = await sshExec(n, "docker version --format '{{.Server.Version}}'");
      expect(live.stdout.trim()).toBe(n.docker.version);
    }
    expect(onDocker("28")[0]?.docker.version).toMatch(/^28\.5\./);
  });

  it("pins host keys: the node's own key connects, another node's key is refused", async () => {
    const [a, b] = [node(0), node(1)];
    expect(a.ssh.hostKey).not.toBe(b.ssh.hostKey);
    await expect(sshExec(a, "true", { hostKey: b.ssh.hostKey })).rejects.toThrow(/verification failed/i);
    const keygen = await run(["ssh-keygen", "-lf", "-"], { stdin: `${a.ssh.hostKey}\n` });
    expect(keygen.stdout).toContain(a.ssh.hostKeyFingerprint);
  });

  it("runs a real dockerd whose DOCKER-USER chain sits first in FORWARD", async () => {
    for (const n of lab.nodes) {
      const save = await sshExec(n, "iptables-save -t filter");
      expect(save.code).toBe(0);
      expect(save.stdout).toContain(":DOCKER-USER - [0:0]");
      expect(save.stdout.split("\n").find((l) => l.startsWith("-A FORWARD"))).toBe("-A FORWARD -j DOCKER-USER");
      const ps = await sshExec(n, "sudo -n docker ps --format '{{.Names}} {{.Ports}}'", { user: n.sudoUser });
      expect(ps.stdout).toMatch(/^web .*0\.0\.0\.0:8080->80\/tcp/m);
      expect(ps.stdout).toMatch(/^echo .*0\.0\.0\.0:5353->7\/udp/m);
    }
  });

  it("with IPv6: Docker 28 has a v6 DOCKER-USER that FORWARD jumps to first, and drops what it does not publish", async () => {
    if (!lab.ipv6) return;
    for (const n of onDocker("28")) {
      const filter = (await sshExec(n, "ip6tables-save -t filter")).stdout;
      expect(filter).toContain(":DOCKER-USER - [0:0]");
      expect(filter).toContain(":FORWARD DROP");
      expect(filter.split("\n").filter((l) => l.startsWith("-A FORWARD"))).toEqual([
        "-A FORWARD -j DOCKER-USER",
        "-A FORWARD -j DOCKER-FORWARD",
      ]);
      // Docker 28 creates DOCKER-USER empty: nothing may rely on a trailing RETURN.
      expect(filter.split("\n").filter((l) => l.startsWith("-A DOCKER-USER"))).toEqual([]);
    }
  });

  it("with IPv6: Docker 20.10 publishes ports over v6 (ip6tables DNAT) but makes no v6 DOCKER-USER chain", async () => {
    if (!lab.ipv6) return;
    const n = onDocker("20.10")[0] as LabInventory["nodes"][number];
    const i = n.name.slice(4);
    expect(n.wan.ipv6).toBeDefined();
    const nat = await sshExec(n, "ip6tables-save -t nat");
    expect(nat.stdout).toMatch(new RegExp(`-A DOCKER .*--dport 8080 -j DNAT --to-destination \\[2001:db8:1:${i}:`));
    const filter = await sshExec(n, "ip6tables-save -t filter");
    expect(filter.stdout).toContain(":DOCKER-ISOLATION-STAGE-1");
    // Ground truth for the provider: on this Docker, a v6 DOCKER-USER chain and its FORWARD jump are not Docker's.
    expect(filter.stdout).not.toContain("DOCKER-USER");
  });

  it("keeps what a node writes under /etc on that node", async () => {
    const [a, b] = [node(0), node(1)];
    const marker = `/etc/lab-marker-${process.pid}`;
    expect((await sshExec(a, `echo ${a.name} > ${marker} && cat ${marker}`)).stdout).toBe(`${a.name}\n`);
    expect((await sshExec(b, `test -e ${marker}`)).code).not.toBe(0);
    expect((await run(["test", "-e", marker])).code).not.toBe(0);
    await sshExec(a, `rm -f ${marker}`);
  });

  it("probes every published port open from every client, on each address family", async () => {
    const start = performance.now();
    const rows = await probeLab(lab);
    const ms = Math.round(performance.now() - start);
    console.log(`${renderProbeTable(rows)}\nprobe: ${rows.length} probes in ${ms} ms`);
    expect(rows.filter((r) => r.result !== "open")).toEqual([]);
    expect(new Set(rows.map((r) => r.client))).toEqual(new Set(["allowed", "denied", "lanpeer"]));
    expect(rows.filter((r) => r.family === "ipv4")).toHaveLength(3 * 3 * 2);
    // The page names the node: DNAT really went to that node's container.
    for (const r of rows.filter((x) => x.protocol === "tcp")) expect(r.detail).toBe(`dfwlab ${r.node} web`);
  });

  it.each(["28", "20.10"] as const)(
    "Docker %s: a DOCKER-USER DROP added by hand closes exactly that port for exactly that client; reboot clears it",
    async (line) => {
      const n = onDocker(line)[0] as LabInventory["nodes"][number];
      const denied = lab.clients.find((c) => c.name === "denied")?.ipv4;
      const rule = `-s ${denied} -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP`;
      const add = await sshExec(n, `sudo -n iptables -I DOCKER-USER ${rule}`, { user: n.sudoUser });
      expect(add).toMatchObject({ code: 0, stderr: "" });
      const closed = await probeLab(lab, { families: ["ipv4"] });
      expect(closed.filter((r) => r.result === "blocked").map((r) => [r.client, r.node, r.port, r.protocol])).toEqual([
        ["denied", n.name, 8080, "tcp"],
      ]);
      const reboot = await rebootNode(lab, n.name);
      console.log(`reboot of ${n.name}: ${reboot.ms} ms, start order ${reboot.order.join(" → ")}`);
      // 20.10 ends its fresh chain with RETURN; 28 leaves it empty.
      const fresh = line === "20.10" ? "-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n" : "-N DOCKER-USER\n";
      expect((await sshExec(n, "iptables -S DOCKER-USER")).stdout).toBe(fresh);
      const reopened = await probeLab(lab, { families: ["ipv4"] });
      expect(reopened.filter((r) => r.result !== "open")).toEqual([]);
    },
  );

  it("reports its figures: up time and memory per node", async () => {
    const status = await labStatus(lab);
    const mib = (kib: number) => Math.round(kib / 1024);
    console.log(`lab ${lab.labId}: up of ${lab.nodes.length} nodes took ${lab.upMs} ms`);
    for (const n of status.nodes) {
      const parts = Object.entries(n.rssKiB.byCommand).map(([cmd, kib]) => `${cmd} ${mib(kib)}`);
      console.log(
        `${n.name} (Docker ${lab.nodes.find((x) => x.name === n.name)?.docker.version}): RSS ${mib(n.rssKiB.total)} MiB (${parts.join(", ")})`,
      );
      expect(n.sshd.alive && n.dockerd.alive).toBe(true);
      expect(n.sshd.banner).toMatch(/^SSH-2\.0-OpenSSH/);
    }
    expect(lab.upMs).toBeLessThan(60_000);
  });
});
