// A real Docker 29 (built by scripts/install-docker29.sh) with --firewall-backend=nftables in a scratch network
// namespace: what it creates, read back from the kernel with `nft -j list ruleset`. Skipped only when the binary
// or containerd 2 (scripts/install-docker28.sh) is not in the cache (DFW_DOCKER29_DIR / DFW_DOCKER28_DIR name the
// scripts' DFW_CACHE_DIR when it was moved). DFW_DOCKER29_CAPTURE=<path prefix> saves the ruleset (the unit fixtures).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImageTar, IMAGE_NAME } from "../../lab/image";
import { readProc, stopProcesses } from "../../lab/reap";
import { spawnDaemon, waitFor } from "../../lab/spawn";
import {
  detectFirewallBackend,
  type FirewallBackendFact,
  formatAcceptMark,
  type NftRuleset,
  parseNftRulesetJson,
} from "../../provider/netfilter/firewall-backend";
import { parseIptablesSave } from "../../provider/netfilter/parse-iptables-save";
import { run, ScratchNamespace } from "../support/netns";

const REPO = resolve(__dirname, "../..");
const DOCKERD = join(process.env.DFW_DOCKER29_DIR ?? join(REPO, ".cache/docker29"), "bin", "dockerd");
const CONTAINERD_BIN = join(process.env.DFW_DOCKER28_DIR ?? join(REPO, ".cache/docker28"), "root", "usr", "bin");
const missing = [DOCKERD, join(CONTAINERD_BIN, "containerd")].filter((p) => !existsSync(p));
if (missing.length > 0) {
  console.warn(
    `docker29 smoke test skipped: ${missing.join(", ")} not built (run scripts/install-docker29.sh and scripts/install-docker28.sh)`,
  );
}

const MARK = "0x2b00/0xff00";
const PUBLISHED = 18080;

describe.skipIf(missing.length > 0)("Docker 29 with --firewall-backend=nftables (real dockerd)", () => {
  let ns: ScratchNamespace;
  let dir: string;
  let pid: number | undefined;
  let ruleset: NftRuleset;
  let rulesetJson: string;
  let client: ScratchNamespace | undefined;
  const sock = () => `unix://${dir}/docker.sock`;
  const docker = (args: string[], stdin?: string) => run(["docker", "-H", sock(), ...args], stdin);

  beforeAll(async () => {
    ns = await ScratchNamespace.create("dfw29");
    // Short path: containerd's socket lives under the exec root and unix socket paths are limited to 108 bytes.
    dir = mkdtempSync("/tmp/dfw29-");
    for (const d of ["data", "exec", "image"]) mkdirSync(join(dir, d));
    // This moby gives containers a time namespace, which Debian 12's runc 1.1.5 does not know ("namespace {time}
    // does not exist"); moby's own escape hatch turns it off.
    writeFileSync(join(dir, "daemon.json"), `${JSON.stringify({ features: { "time-namespaces": false } })}\n`);
    // Docker's nftables backend does not enable forwarding itself (docs/docker29-nftables.md); the netns is ours.
    await ns.mustRun(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
    const dockerd = [
      DOCKERD,
      `--config-file=${dir}/daemon.json`,
      `--data-root=${dir}/data`,
      `--exec-root=${dir}/exec`,
      `--pidfile=${dir}/dockerd.pid`,
      `--host=${sock()}`,
      "--storage-driver=vfs",
      "--exec-opt=native.cgroupdriver=cgroupfs",
      "--firewall-backend=nftables",
      `--bridge-accept-fwmark=${MARK}`,
      // IPv6 on docker0, so the ip6 table gets docker0's chains (and the mark rule) too.
      "--ipv6",
      "--fixed-cidr-v6=fd00:d29::/64",
      "--userland-proxy=false",
      "--log-level=warn",
    ];
    // A private mount namespace with its own /run: containerd's shim sockets and dockerd's netns bind mounts stay
    // out of the machine's. unshare, nsenter and sh each exec the next, so the pid is dockerd's.
    const argv = [
      "unshare",
      "--mount",
      "--propagation=private",
      "nsenter",
      `--net=/run/netns/${ns.name}`,
      "sh",
      "-c",
      'mount -t tmpfs -o mode=0755 dfw29-run /run && exec "$@"',
      "sh",
      ...dockerd,
    ];
    const env = {
      PATH: `${CONTAINERD_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: "/root",
    };
    pid = spawnDaemon(argv, join(dir, "dockerd.log"), env);
    await waitFor("dockerd 29 to answer", 120_000, async () => {
      const r = await docker(["version", "--format", "{{.Server.Version}}"]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    });
    const tar = join(dir, "image", "rootfs.tar");
    await buildImageTar(join(dir, "image"), tar);
    const imported = await run(["sh", "-c", 'docker -H "$1" import - "$2" < "$3"', "sh", sock(), IMAGE_NAME, tar]);
    expect(imported.code, imported.stderr).toBe(0);
    const started = await docker([
      "run",
      "-d",
      "--name",
      "web",
      "-p",
      `${PUBLISHED}:80`,
      IMAGE_NAME,
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/www",
    ]);
    expect(started.code, started.stderr).toBe(0);
    rulesetJson = await ns.mustRun(["nft", "-j", "list", "ruleset"]);
    ruleset = parseNftRulesetJson(rulesetJson);
    if (process.env.DFW_DOCKER29_CAPTURE) {
      writeFileSync(`${process.env.DFW_DOCKER29_CAPTURE}.json`, rulesetJson);
      writeFileSync(`${process.env.DFW_DOCKER29_CAPTURE}.nft`, await ns.mustRun(["nft", "list", "ruleset"]));
    }
  });

  afterAll(async () => {
    await client?.destroy();
    if (pid !== undefined) {
      await docker(["rm", "-f", "web", "routed"]);
      const p = readProc(pid);
      if (p) await stopProcesses([p], 30_000);
    }
    await ns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is Docker 29 and says it uses nftables", async () => {
    // Straight from the API: the docker CLI on PATH may be Debian 12's 20.10, whose `info` lacks the field.
    const r = await run(["curl", "-sf", "--unix-socket", `${dir}/docker.sock`, "http://docker/info"]);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as { ServerVersion: string; FirewallBackend?: { Driver: string } };
    expect(info.ServerVersion).toMatch(/^29\./);
    expect(info.FirewallBackend?.Driver).toBe("nftables");
  });

  it("creates ip and ip6 docker-bridges tables with a filter-FORWARD chain at priority filter (0)", () => {
    for (const family of ["ip", "ip6"]) {
      expect(ruleset.tables).toContainEqual({ family, name: "docker-bridges" });
      expect(ruleset.baseChains).toContainEqual({
        family,
        table: "docker-bridges",
        name: "filter-FORWARD",
        type: "filter",
        hook: "forward",
        prio: 0,
        policy: "accept",
      });
    }
    // Nothing else hooks forward: a chain of ours at filter - 1 runs first.
    expect(ruleset.baseChains.filter((c) => c.hook === "forward").map((c) => c.table)).toEqual([
      "docker-bridges",
      "docker-bridges",
    ]);
  });

  it("accepts the configured mark in docker0's forward-in chain, and the published port is ruled", () => {
    const fact = detectFirewallBackend({ nft: ruleset, saves: { nft: {}, legacy: {} } }) as FirewallBackendFact;
    expect(fact.backend).toBe("nftables");
    expect(fact.families).toEqual(["ipv4", "ipv6"]);
    expect(fact.acceptMark && formatAcceptMark(fact.acceptMark)).toBe(MARK);
    expect(fact.warnings).toEqual([]);
    const marked = ruleset.rules.filter((r) => r.comment === "ALLOW FW MARK").map((r) => `${r.family} ${r.chain}`);
    expect(marked).toEqual(["ip filter-forward-in__docker0", "ip6 filter-forward-in__docker0"]);
    expect(rulesetJson).toContain(`"right": ${PUBLISHED}`);
  });

  it("leaves iptables alone: no DOCKER-USER (nor any chain of Docker's) in either backend or family", async () => {
    for (const save of ["iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "ip6tables-legacy-save"]) {
      const text = await ns.mustRun([save]);
      if (text.includes("*filter"))
        expect([...(parseIptablesSave(text).tables.get("filter")?.chains.keys() ?? [])]).not.toContain("DOCKER-USER");
      expect(text).not.toMatch(/DOCKER/);
    }
  });

  // The design's premise (docs/docker29-nftables.md), on real packets: in a chain of ours at filter - 1 an accept
  // does not override Docker's drop, setting dockerd's accept mark does, and a drop is final. A routed-mode network
  // (no DNAT, no raw "DROP DIRECT ACCESS") lets a client reach the container's unpublished port up to Docker's
  // "UNPUBLISHED PORT DROP".
  it("a table of ours at filter - 1: accept is not final, the accept mark is, drop is final", async () => {
    client = await ScratchNamespace.create("dfw29c");
    await ns.mustRun(["ip", "link", "add", "v29h", "type", "veth", "peer", "name", "v29c", "netns", client.name]);
    await ns.mustRun(["ip", "addr", "add", "198.51.100.1/24", "dev", "v29h"]);
    await ns.mustRun(["ip", "link", "set", "v29h", "up"]);
    await client.mustRun(["ip", "addr", "add", "198.51.100.2/24", "dev", "v29c"]);
    await client.mustRun(["ip", "link", "set", "v29c", "up"]);
    await client.mustRun(["ip", "route", "add", "192.0.2.0/24", "via", "198.51.100.1"]);
    const net = ["network", "create", "-o", "com.docker.network.bridge.gateway_mode_ipv4=routed"];
    const created = await docker([...net, "--subnet", "192.0.2.0/24", "br29"]);
    expect(created.code, created.stderr).toBe(0);
    const httpd = "httpd -p 81 -h /www && exec httpd -f -p 80 -h /www";
    const routed = ["run", "-d", "--name", "routed", "--network", "br29", "--ip", "192.0.2.2", "-p", "80:80"];
    const started = await docker([...routed, IMAGE_NAME, "sh", "-c", httpd]);
    expect(started.code, started.stderr).toBe(0);
    const get = async (port: number, host = "192.0.2.2") =>
      (await client?.exec(["curl", "-sf", "-o", "/dev/null", "--max-time", "3", `http://${host}:${port}/`]))?.code ===
      0;
    const ours = (rule: string) =>
      ns.mustRun(
        ["nft", "-f", "-"],
        [
          "table inet docker-firewall {}",
          "delete table inet docker-firewall",
          "table inet docker-firewall {",
          "  chain forward {",
          "    type filter hook forward priority filter - 1; policy accept;",
          `    ${rule}`,
          "  }",
          "}",
          "",
        ].join("\n"),
      );
    await waitFor("the published port of the routed container", 30_000, async () =>
      (await get(80)) ? true : undefined,
    );
    expect(await get(81)).toBe(false); // Docker: UNPUBLISHED PORT DROP
    await ours("ip daddr 192.0.2.2 tcp dport 81 accept");
    expect(await get(81)).toBe(false); // our accept is not final
    await ours("ip daddr 192.0.2.2 tcp dport 81 meta mark set meta mark & 0xffff00ff | 0x2b00 accept");
    expect(await get(81)).toBe(true); // Docker's "ALLOW FW MARK" accepts it
    await ours("ip daddr 192.0.2.2 tcp dport 80 drop");
    expect(await get(80)).toBe(false); // a drop is final, published or not
    // docker0's web container behind DNAT (nat mode): the forward hook sees the container's port, so a published
    // port is matched by its original destination.
    expect(await get(PUBLISHED, "198.51.100.1")).toBe(true);
    await ours(`tcp dport ${PUBLISHED} drop`);
    expect(await get(PUBLISHED, "198.51.100.1")).toBe(true); // after DNAT the port is 80
    // proto-dst needs its protocol first (nft 1.0.6: "Can't parse symbolic invalid expressions" without it).
    await ours(`meta l4proto tcp ct original proto-dst ${PUBLISHED} drop`);
    expect(await get(PUBLISHED, "198.51.100.1")).toBe(false);
    const listed = await ns.mustRun(["nft", "list", "chain", "inet", "docker-firewall", "forward"]);
    expect(listed).toContain("type filter hook forward priority filter - 1; policy accept;");
  });
});
