// A lab of its own, so it can be changed freely: simulated latency, a node on iptables-legacy, boot
// units run by `reboot`, `restart-docker`, and a `down` that must leave nothing behind.
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  downLab,
  type LabInventory,
  labFootprint,
  labPaths,
  locateLab,
  probeLab,
  rebootNode,
  restartDocker,
  sshConnect,
  sshExec,
  sshRun,
  upLab,
} from "../../lab/index";
import { listNetns } from "../../lab/network";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";
import { isAlive, readProc } from "../../lab/reap";
import { run } from "../../lab/spawn";

// A fresh id per run ("dfwtm…"): concurrent runs on one machine never touch each other's lab.
const LAB_ID = uniqueLabId("dfwtm");
const LAB = { labId: LAB_ID, stateDir: join(REPO_ROOT, ".lab", LAB_ID) };
const RTT_MS = 40;
let lab: LabInventory;

beforeAll(async () => {
  mkdirSync(locateLab(LAB).stateDir, { recursive: true });
  claimLab(locateLab(LAB)); // torn down by the next run should this worker die first
  lab = await upLab({ ...LAB, nodes: 2, rttMs: RTT_MS, legacyNodes: ["node2"] });
});

afterAll(async () => {
  await downLab(LAB);
  rmSync(locateLab(LAB).stateDir, { recursive: true, force: true });
});

const node = (name: string) => lab.nodes.find((n) => n.name === name) as LabInventory["nodes"][number];

const PERSIST_UNIT = `[Unit]
Description=Restore DOCKER-USER rules before Docker starts
Before=docker.service
After=network-pre.target
ConditionFileNotEmpty=/etc/iptables/dfw.v4

[Service]
Type=oneshot
Environment="RULES=/etc/iptables/dfw.v4"
ExecStartPre=-/usr/sbin/ipset create lbs hash:net -exist
ExecStart=/usr/sbin/iptables-restore -w 5 --noflush \${RULES}
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

const AFTER_DOCKER_UNIT = `[Unit]
Description=Record DOCKER-USER once Docker is up
After=docker.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c "iptables -S DOCKER-USER > /run/after-docker.txt"

[Install]
WantedBy=multi-user.target
`;

// A typo in a key and a missing binary: systemd-analyze verify must say so.
const BROKEN_UNIT = `[Unit]
Description=Broken on purpose
Befor=docker.service

[Service]
Type=oneshot
ExecStart=/usr/sbin/no-such-binary --flag

[Install]
WantedBy=multi-user.target
`;

const install = (name: string) =>
  `cat > /etc/systemd/system/${name} && ln -sf ../${name} /etc/systemd/system/multi-user.target.wants/${name}`;

describe("throwaway lab", () => {
  it("adds the simulated round trip to every SSH exchange", async () => {
    const client = await sshConnect(node("node1"));
    try {
      const start = performance.now();
      await sshRun(client, "true");
      const ms = performance.now() - start;
      console.log(`ssh exec round trip with rtt ${RTT_MS} ms: ${Math.round(ms)} ms`);
      expect(ms).toBeGreaterThanOrEqual(RTT_MS);
    } finally {
      client.end();
    }
  });

  it("runs node2's iptables and dockerd on iptables-legacy, node1's on nft", async () => {
    expect((await sshExec(node("node1"), "iptables -V")).stdout).toContain("(nf_tables)");
    expect((await sshExec(node("node2"), "iptables -V")).stdout).toContain("(legacy)");
    expect((await sshExec(node("node2"), "iptables-legacy-save -t filter")).stdout).toContain(":DOCKER-USER");
    expect(lab.nodes.map((n) => n.iptablesBackend)).toEqual(["nft", "legacy"]);
  });

  it("reboot runs the enabled boot units in systemd order, verified, and clears everything else", async () => {
    for (const n of lab.nodes) {
      const rules = `*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -s ${lab.clients[1]?.ipv4}/32 -p udp -m conntrack --ctorigdstport 5353 --ctdir ORIGINAL -j DROP\n-A DOCKER-USER -j RETURN\nCOMMIT\n`;
      expect((await sshExec(n, "mkdir -p /etc/iptables && cat > /etc/iptables/dfw.v4", { stdin: rules })).code).toBe(0);
      expect((await sshExec(n, install("dfw-persist.service"), { stdin: PERSIST_UNIT })).code).toBe(0);
      expect((await sshExec(n, install("dfw-after.service"), { stdin: AFTER_DOCKER_UNIT })).code).toBe(0);
      expect((await sshExec(n, install("dfw-broken.service"), { stdin: BROKEN_UNIT })).code).toBe(0);
      // Not persisted: must be gone after the reboot.
      await sshExec(n, "iptables -I DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP");
    }
    for (const n of lab.nodes) {
      const report = await rebootNode(lab, n.name);
      expect(report.order).toEqual([
        "dfw-broken.service",
        "dfw-persist.service",
        "docker.service",
        "dfw-after.service",
      ]);
      const byName = Object.fromEntries(report.units.map((u) => [u.unit, u]));
      expect(byName["dfw-persist.service"]).toMatchObject({ state: "done", verify: { ok: true, output: "" } });
      expect(byName["dfw-after.service"]).toMatchObject({ state: "done", verify: { ok: true } });
      expect(byName["dfw-broken.service"]?.state).toBe("failed");
      expect(byName["dfw-broken.service"]?.verify.ok).toBe(false);
      expect(byName["dfw-broken.service"]?.verify.output).toMatch(/Unknown key 'Befor'/);
      expect(byName["dfw-broken.service"]?.verify.output).toMatch(/no-such-binary is not executable/);
      const after = await sshExec(n, "cat /run/after-docker.txt; ipset list -n");
      expect(after.stdout).toContain("--ctorigdstport 5353 --ctdir ORIGINAL -j DROP");
      expect(after.stdout).not.toContain("--ctorigdstport 8080");
      expect(after.stdout).toContain("lbs\n");
    }
    const rows = await probeLab(lab);
    expect(
      rows.filter((r) => r.result === "blocked").map((r) => `${r.client} ${r.node} ${r.port}/${r.protocol}`),
    ).toEqual(["denied node1 5353/udp", "denied node2 5353/udp"]);
  });

  it("restart-docker restarts only dockerd: DOCKER-USER rules stay, containers come back", async () => {
    const n = node("node1");
    const before = (await sshExec(n, "iptables -S DOCKER-USER")).stdout;
    const r = await restartDocker(lab, n.name);
    console.log(`restart-docker ${n.name}: ${r.ms} ms`);
    expect((await sshExec(n, "iptables -S DOCKER-USER")).stdout).toBe(before);
    const rows = await probeLab(lab, { clients: ["allowed"], nodes: [n.name] });
    expect(rows.every((x) => x.result === "open")).toBe(true);
  });

  it("down leaves no namespace, process, mount, interface or runtime file behind", async () => {
    const paths = labPaths(locateLab(LAB));
    const before = await labFootprint(paths);
    expect(before.netns.length).toBe(2 + 2 + 3); // nodes, segments, clients
    expect(before.pids.length).toBeGreaterThan(0);
    const procs = before.pids.map((pid) => readProc(pid)).filter((p) => p !== undefined);
    const report = await downLab(LAB);
    expect(report.left).toEqual({ netns: [], nsFiles: [], nsInodes: [], pids: [], mounts: [] });
    expect((await listNetns()).filter((n) => n.startsWith(`${LAB.labId}-`))).toEqual([]);
    expect(procs.filter((p) => isAlive(p.pid, p.startTime))).toEqual([]);
    // No process anywhere still holds one of the lab's namespaces, and no mount refers to them or the state folder.
    const inodes = new Set(before.nsInodes.map(String));
    const holders = () =>
      readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .filter((pid) => ["net", "mnt", "uts"].some((k) => inodes.has(nsInode(`/proc/${pid}/ns/${k}`) ?? "")));
    // A process killed by down may take a moment to be gone from /proc; anything still there after 5 s is a leak.
    for (let i = 0; i < 50 && holders().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    const linked = holders().map(
      (pid) => `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")}`,
    );
    expect(linked).toEqual([]);
    const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
    expect(mountinfo.split("\n").filter((l) => l.includes(paths.stateDir) || l.includes(LAB.labId))).toEqual([]);
    expect((await run(["ip", "-o", "link"])).stdout).not.toContain(LAB.labId);
    expect(readdirSync(paths.stateDir).sort()).toEqual(["logs", "owner.json"]);
  });
});

function nsInode(link: string): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync(link))?.[1];
  } catch {
    return undefined;
  }
}
