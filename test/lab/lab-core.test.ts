// The lab's pure parts: names and addresses, unit files and Exec lines, start order, firewall reset script,
// mountinfo and ldd parsing, the delayed pipe, and the probe table.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { dockerPerNode, type NodePlan, planLab, WAN } from "../../lab/addresses";
import { verifyLinesAbout } from "../../lab/boot/boot-units";
import { parseExecLine } from "../../lab/boot/exec-line";
import { startOrder } from "../../lab/boot/order";
import {
  environment,
  listValues,
  parseEnvironmentFile,
  parseUnit,
  serviceType,
  values,
} from "../../lab/boot/unit-file";
import { delayedPipe } from "../../lab/delay";
import { dockerdArgv } from "../../lab/docker";
import { lddLibraries } from "../../lab/image";
import { emptyTablesScript } from "../../lab/netfilter-reset";
import { nsfsMountPoints } from "../../lab/node-ns";
import { uniqueLabId } from "../../lab/owner";
import { locateLab } from "../../lab/paths";
import { type ProbeRow, probeResult, renderProbeTable } from "../../lab/probe";
import { parseStat, withDescendants } from "../../lab/reap";
import { hostKeyFingerprint, sshdConfig } from "../../lab/sshd";
import { nodeMemory } from "../../lab/status";
import { TEST_LAB_IDS } from "../support/lab-global-setup";

describe("plan", () => {
  it("prefixes every namespace and segment-side interface with the lab id", () => {
    const plan = planLab({ labId: "dfwlt", nodes: 3, ipv6: true });
    const names = [...plan.nodes.map((n) => n.netns), ...plan.clients.map((c) => c.netns)];
    names.push(plan.segments.wan.netns, plan.segments.lan.netns);
    expect(names.every((n) => n.startsWith("dfwlt-"))).toBe(true);
    for (const veth of [...plan.nodes.map((n) => n.wan.segmentVeth), ...plan.clients.map((c) => c.segmentVeth)]) {
      expect(veth.startsWith("dfwlt-")).toBe(true);
      expect(veth.length).toBeLessThanOrEqual(15);
    }
    expect(new Set(plan.nodes.map((n) => n.docker.bridgeSubnet)).size).toBe(3);
  });

  it("puts the allowed client inside the LB CIDR and the denied one and the nodes outside it", () => {
    const plan = planLab({ labId: "x", nodes: 20, ipv6: true });
    const inLb = (ip: string) => Number(ip.split(".")[3]) < 64; // 198.51.100.0/26
    expect(WAN.lbCidr).toBe("198.51.100.0/26");
    expect(inLb(plan.clients.find((c) => c.name === "allowed")?.ipv4 ?? "")).toBe(true);
    expect(inLb(plan.clients.find((c) => c.name === "denied")?.ipv4 ?? "")).toBe(false);
    expect(plan.nodes.some((n) => inLb(n.wan.ipv4))).toBe(false);
  });

  it("refuses ids that could collide or overflow interface names, and bad sizes", () => {
    expect(() => planLab({ labId: "dfw-lt", nodes: 1, ipv6: false })).toThrow(/lab id/);
    expect(() => planLab({ labId: "waytoolongid", nodes: 1, ipv6: false })).toThrow(/lab id/);
    expect(() => planLab({ labId: "dfwt", nodes: 1, ipv6: false })).toThrow(/reserved/);
    expect(() => planLab({ labId: "ok", nodes: 0, ipv6: false })).toThrow(/nodes/);
    expect(() => planLab({ labId: "ok", nodes: 2, ipv6: false, legacyNodes: ["node3"] })).toThrow(/node3/);
  });

  it("chooses Docker per node: 28 by default, a bare version for all, nodeN=VERSION for one", () => {
    expect(planLab({ labId: "x", nodes: 2, ipv6: true }).nodes.map((n) => n.docker.line)).toEqual(["28", "28"]);
    expect(dockerPerNode(["28", "node3=20.10"], 3)).toEqual(["28", "28", "20.10"]);
    expect(dockerPerNode(["node1=28", "20.10"], 2)).toEqual(["28", "20.10"]);
    expect(() => dockerPerNode(["27"], 1)).toThrow(/--docker 27: version must be one of 28, 20.10/);
    expect(() => dockerPerNode(["node4=28"], 3)).toThrow(/--docker node4=28: no such node/);
    expect(() => dockerPerNode(["node1=29"], 3)).toThrow(/version must be/);
  });

  it("starts Docker 28 from the unpacked root with its containerd first on PATH, 20.10 from the system", () => {
    const [n28, n2010] = planLab({ labId: "x", nodes: 2, ipv6: true, docker: ["node2=20.10"] }).nodes;
    const a = dockerdArgv(n28?.docker as NodePlan["docker"], true, "/c/root");
    expect(a.slice(0, 3)).toEqual([
      "env",
      expect.stringMatching(/^PATH=\/c\/root\/usr\/bin:/),
      "/c/root/usr/sbin/dockerd",
    ]);
    expect(a).toContain("--ip6tables");
    expect(a).not.toContain("--experimental");
    const b = dockerdArgv(n2010?.docker as NodePlan["docker"], true);
    expect(b[0]).toBe("/usr/sbin/dockerd");
    expect(b).toContain("--experimental"); // 20.10 keeps ip6tables behind it
    expect(() => dockerdArgv(n28?.docker as NodePlan["docker"], true)).toThrow(/unpacked Docker 28/);
  });

  it("makes fresh test lab ids that are valid and recognisable", () => {
    const ids = Array.from({ length: 50 }, () => uniqueLabId("dfwlt"));
    expect(ids.every((id) => TEST_LAB_IDS.test(id) && planLab({ labId: id, nodes: 1, ipv6: false }).labId === id)).toBe(
      true,
    );
    expect(new Set(ids).size).toBeGreaterThan(45);
  });

  it("refuses a state folder overlaid inside the nodes or with odd characters", () => {
    expect(() => locateLab({ stateDir: "/etc/lab" })).toThrow(/under \/etc/);
    expect(() => locateLab({ stateDir: "/var/lib/lab" })).toThrow(/under \/var/);
    expect(() => locateLab({ stateDir: "/tmp/a,b" })).toThrow(/must match/);
    expect(locateLab({ labId: "abc", stateDir: "/tmp/lab" }, {})).toEqual({ labId: "abc", stateDir: "/tmp/lab" });
  });
});

describe("unit files and Exec lines", () => {
  const unit = parseUnit(
    `[Unit]
Description=x
Before=docker.service \\
  other.service
After=network-pre.target
[Service]
Type=oneshot
Environment="A=1 2" B=3
ExecStart=/bin/true
ExecStart=
ExecStart=/usr/sbin/iptables-restore -w 5 --noflush \${A} $B
`,
    ["[Service]\nExecStartPre=-/bin/echo pre\n"],
  );

  it("parses sections, continuation lines, list resets and drop-ins", () => {
    expect(listValues(unit, "Unit", "Before")).toEqual(["docker.service", "other.service"]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's own ${VAR} syntax, not a template
    expect(values(unit, "Service", "ExecStart")).toEqual(["/usr/sbin/iptables-restore -w 5 --noflush ${A} $B"]);
    expect(values(unit, "Service", "ExecStartPre")).toEqual(["-/bin/echo pre"]);
    expect(serviceType(unit)).toBe("oneshot");
    expect(environment(unit)).toEqual({ A: "1 2", B: "3" });
    expect(parseEnvironmentFile("# c\nX=1\nY='two words'\n\n")).toEqual({ X: "1", Y: "two words" });
  });

  it("turns Exec lines into argv as systemd does: prefixes, quotes, escapes, variables, specifiers", () => {
    const env = { A: "1 2", B: "x y" };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's own ${VAR} syntax, not a template
    expect(parseExecLine("/usr/sbin/iptables-restore -w 5 ${A} $B", "u.service", env).argv).toEqual([
      "/usr/sbin/iptables-restore",
      "-w",
      "5",
      "1 2",
      "x",
      "y",
    ]);
    const ignored = parseExecLine('-/bin/sh -c "echo \\"hi\\" > /run/%n"', "u.service", {});
    expect(ignored).toMatchObject({ ignoreFailure: true, argv: ["/bin/sh", "-c", 'echo "hi" > /run/u.service'] });
    expect(parseExecLine("@/bin/sleep sleeper 1", "a@b.service", {}).argv).toEqual(["/bin/sleep", "1"]);
    expect(parseExecLine("/bin/echo %i %p %%", "a@b.service", {}).argv).toEqual(["/bin/echo", "b", "a", "%"]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's own ${VAR} syntax, not a template
    expect(parseExecLine(":/bin/echo ${A}", "u.service", { A: "no" }).argv).toEqual(["/bin/echo", "${A}"]);
  });

  it("keeps only verify lines about the unit itself", () => {
    const out = [
      "/etc/systemd/system/other.service:3: Unknown key 'Befor' in section [Unit], ignoring.",
      "/etc/systemd/system/mine.service:4: Unknown key 'Afterr' in section [Unit], ignoring.",
      "mine.service: Command /usr/sbin/nope is not executable: No such file or directory",
    ].join("\n");
    expect(verifyLinesAbout(out, ["mine.service"])).toEqual([
      "/etc/systemd/system/mine.service:4: Unknown key 'Afterr' in section [Unit], ignoring.",
      "mine.service: Command /usr/sbin/nope is not executable: No such file or directory",
    ]);
  });

  it("orders units by Before=/After=, Docker as late as allowed, cycles reported", () => {
    const u = (name: string, before: string[] = [], after: string[] = []) => ({ name, before, after });
    expect(
      startOrder(
        [u("docker.service"), u("z.service", [], ["docker.service"]), u("b.service"), u("a.service", ["b.service"])],
        "docker.service",
      ).order,
    ).toEqual(["a.service", "b.service", "docker.service", "z.service"]);
    expect(startOrder([u("docker.service", ["p.service"]), u("p.service")], "docker.service").order).toEqual([
      "docker.service",
      "p.service",
    ]);
    const cyclic = startOrder(
      [u("x.service", ["y.service"]), u("y.service", ["x.service"]), u("docker.service")],
      "docker.service",
    );
    expect(cyclic).toEqual({ order: ["docker.service", "x.service", "y.service"], cycle: ["x.service", "y.service"] });
  });
});

describe("firewall reset, mounts, libraries, processes, keys", () => {
  it("empties exactly the legacy tables that exist, with ACCEPT policies", () => {
    const save =
      "# Generated\n*nat\n:PREROUTING ACCEPT [0:0]\n-A X\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\nCOMMIT\n";
    expect(emptyTablesScript(save)).toBe(
      "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n" +
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
    );
    expect(emptyTablesScript("")).toBe("");
  });

  it("finds namespace-file mounts in mountinfo", () => {
    const info = [
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
      "50 27 0:4 net:[4026532316] /run/netns/dfwlt-node1 rw - nsfs nsfs rw",
      "51 27 0:4 mnt:[4026532400] /work/x\\040y/ns/node1.mnt rw shared:5 - nsfs nsfs rw",
    ].join("\n");
    expect(nsfsMountPoints(info)).toEqual(["/run/netns/dfwlt-node1", "/work/x y/ns/node1.mnt"]);
  });

  it("reads ldd output", () => {
    const ldd =
      "\tlinux-vdso.so.1 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
    expect(lddLibraries(ldd)).toEqual(["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]);
  });

  it("parses /proc stat lines with odd command names and walks descendants", () => {
    const stat = "42 (a) b) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
    expect(parseStat(stat)).toEqual({ pid: 42, ppid: 7, comm: "a) b", startTime: 12345 });
    const p = (pid: number, ppid: number, mntNs?: number) => ({ pid, ppid, comm: `c${pid}`, startTime: 0, mntNs });
    const procs = [p(1, 0), p(2, 1, 9), p(3, 2), p(4, 3), p(5, 1)];
    expect([...withDescendants(procs, new Set([2]))].sort()).toEqual([2, 3, 4]);
    expect(nodeMemory(procs, 9, (pid) => pid * 10)).toEqual({ total: 90, byCommand: { c2: 20, c3: 30, c4: 40 } });
  });

  it("fingerprints host keys like ssh-keygen and writes a key-only sshd_config", () => {
    const line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHYxGNXHvEEyyPIh7IEbZcnVrzuQwB4m9dlNEo1VE1ie";
    expect(hostKeyFingerprint(line)).toBe("SHA256:Q0MaxdcZcUIikcjk7KC6lIRhyDkFevLz29UEMHxNUhg");
    const config = sshdConfig();
    expect(config).toContain("PasswordAuthentication no\n");
    expect(config).toContain("PermitRootLogin prohibit-password\n");
  });
});

describe("delayed pipe", () => {
  it("holds each chunk for the delay and keeps byte order", async () => {
    const src = new PassThrough();
    const dst = new PassThrough();
    delayedPipe(src, dst, 30);
    const got: { at: number; text: string }[] = [];
    dst.on("data", (b: Buffer) => got.push({ at: performance.now(), text: b.toString() }));
    const ended = new Promise((r) => dst.on("end", r));
    const start = performance.now();
    for (const t of ["a", "b", "c"]) src.write(t);
    src.end();
    await ended;
    expect(got.map((g) => g.text).join("")).toBe("abc");
    expect((got[0]?.at ?? 0) - start).toBeGreaterThanOrEqual(25);
  });
});

describe("probe table", () => {
  const row = (client: string, node: string, result: "open" | "blocked"): ProbeRow => ({
    client,
    node,
    port: 8080,
    protocol: "tcp",
    family: "ipv4",
    address: "198.51.100.101",
    result,
    detail: "",
    ms: 1,
  });
  it("renders one line per client and answers single lookups", () => {
    const rows = [row("allowed", "node1", "open"), row("denied", "node1", "blocked")];
    expect(renderProbeTable(rows).split("\n")).toEqual([
      "client        node1 8080/tcp",
      "allowed ipv4  open          ",
      "denied ipv4   blocked       ",
    ]);
    expect(probeResult(rows, { client: "denied", node: "node1", port: 8080, protocol: "tcp" })).toBe("blocked");
  });
});
