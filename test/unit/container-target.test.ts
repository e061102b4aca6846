// Rules that follow a container (`target`): the schema's checks, the strict parse of the host's container list
// (docker inspect's lines, hostile ones refused), the pure resolution to published ports, the expansion of a
// resolved rule, and the transaction plan (resolved ports planned; nothing matching refused, host untouched).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseContainerList } from "../../provider/containers/container-list";
import { formatPorts, parsePorts, resolveTarget } from "../../provider/containers/resolve";
import { dockerUserRuleArgs, dockerUserRulePreview } from "../../provider/model/rule";
import { UNKNOWN } from "../../provider/model/unknown";
import { expandRule } from "../../provider/netfilter/expand";
import { deriveFacts, type HostFacts, parseHostState } from "../../provider/netfilter/host-state";
import type { Intent } from "../../provider/netfilter/intent";
import { renderRule } from "../../provider/netfilter/render-rule";
import { planTransaction } from "../../provider/plan/transaction";
import { LIST_RUNNING_CONTAINERS, READ_NONCE } from "../../provider/protocol/read-script";

/** What `docker inspect --format` (protocol/read-script.ts) prints on Docker 28 for `-p 8080:80 -p 5353:7/udp`. */
const WEB =
  '{"name":"/web","ports":{"7/udp":[{"HostIp":"0.0.0.0","HostPort":"5353"},{"HostIp":"::","HostPort":"5353"}],"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"9000/tcp":null},"labels":{}}';
const compose = (project: string, service: string, port: number) =>
  `{"name":"/${project}-${service}-1","ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"${port}"}]},"labels":{"com.docker.compose.project":"${project}","com.docker.compose.service":"${service}","tier":"front"}}`;

const listOf = (...lines: string[]) => parseContainerList(lines.join("\n"));
const parseRule = (args: Record<string, unknown>) => dockerUserRuleArgs.safeParse({ action: "ACCEPT", ...args });
const issues = (args: Record<string, unknown>) => {
  const r = parseRule(args);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("target: checked at check, before any connection", () => {
  it("accepts a container, a compose service (with or without project) and a label", () => {
    expect(issues({ target: { container: "web" } })).toEqual([]);
    expect(issues({ target: { composeService: "api", composeProject: "shop" } })).toEqual([]);
    expect(issues({ target: { label: "tier=front" }, protocol: "tcp" })).toEqual([]);
  });
  it("takes a name that is another resource's output (unknown at preview), and still checks the known fields", () => {
    const preview = (target: object) =>
      dockerUserRulePreview.safeParse({ action: "DROP", target }).error?.issues.map((i) => i.path.join(".")) ?? [];
    expect(preview({ container: UNKNOWN })).toEqual([]);
    expect(preview({ composeService: UNKNOWN, composeProject: "Shop" })).toEqual(["target.composeProject"]);
  });
  it("refuses publishedPorts beside a target, naming the field", () => {
    expect(issues({ target: { container: "web" }, publishedPorts: [80], protocol: "tcp" })).toEqual([
      "publishedPorts: cannot be set with target: the target's published ports are the ones matched",
    ]);
  });
  it("refuses names outside Docker's charsets, an empty target, a project without service, icmp", () => {
    expect(issues({ target: { container: "web;reboot" } })[0]).toMatch(/^target\.container: must be a container name/);
    expect(issues({ target: { container: "-web" } })[0]).toMatch(/^target\.container:/);
    expect(issues({ target: { container: "w" } })[0]).toMatch(/^target\.container:/); // docker refuses it too
    expect(issues({ target: { composeService: "api", composeProject: "Shop" } })[0]).toMatch(
      /^target\.composeProject: must be a compose project name/,
    );
    expect(issues({ target: {} })).toEqual(["target: must name a container, a composeService or a label"]);
    expect(issues({ target: { composeProject: "shop", container: "web" } })).toEqual([
      "target.composeProject: needs composeService",
    ]);
    expect(issues({ target: { label: "a b=c" } })[0]).toMatch(/^target\.label: must be key=value or key/);
    expect(issues({ target: { label: "k=v\nx" } })[0]).toMatch(/^target\.label: value must be .* no control/);
    expect(issues({ target: { container: "web", image: "nginx" } })[0]).toMatch(/^target: Unrecognized key/);
    expect(issues({ target: { container: "web" }, protocol: "icmp" })).toEqual([
      "target: needs protocol tcp, udp, tcp+udp or all",
    ]);
  });
});

describe("the host's container list: docker inspect's lines, parsed strictly", () => {
  it("reads names, labels and bound host ports (unbound and sctp ports skipped)", () => {
    const list = listOf(WEB, compose("shop", "api", 9001));
    expect(list.ok && list.containers.map((c) => [c.name, formatPorts(c.ports)])).toEqual([
      ["web", ["5353/udp", "5353/udp", "8080/tcp", "8080/tcp"]],
      ["shop-api-1", ["9001/tcp"]],
    ]);
  });
  it("an empty list is no containers; an `error` line is the read's reason", () => {
    expect(listOf()).toEqual({ ok: true, containers: [] });
    expect(listOf("error docker ps failed: Cannot connect to the Docker daemon")).toEqual({
      ok: false,
      error: "docker ps failed: Cannot connect to the Docker daemon",
    });
  });
  it("refuses any line that is not exactly a container, without echoing it (labels may hold secrets)", () => {
    const hostile = [
      '{"name":"/web\\n@@x end","ports":null,"labels":null}',
      '{"name":"/web","ports":{"80/tcp":[{"HostIp":"","HostPort":"80; rm -rf /"}]},"labels":null}',
      '{"name":"/web","ports":{"80/tcp":[{"HostIp":"","HostPort":"70000"}]},"labels":null}',
      '{"name":"/web","ports":null,"labels":{"token":"s3cr3t"},"env":["PASSWORD=s3cr3t"]}',
      "web 8080 s3cr3t",
    ];
    for (const line of hostile) {
      const list = listOf(WEB, line);
      expect(list.ok, line).toBe(false);
      if (!list.ok) {
        expect(list.error).toMatch(/^line 2 of docker inspect's output is not a container/);
        expect(list.error).not.toContain("s3cr3t");
      }
    }
  });
});

describe("resolution: a target + the host's containers -> published ports", () => {
  const list = listOf(WEB, compose("shop", "api", 9001), compose("shop", "api", 9002), compose("blog", "api", 9100));
  it("a container's ports, merged and sorted, filtered by the rule's protocol", () => {
    const ports = (t: object, protocol = "all") =>
      ((r) => (r.ok ? formatPorts(r.ports) : r.error))(resolveTarget(list, t, protocol as "all"));
    expect(ports({ container: "web" })).toEqual(["8080/tcp", "5353/udp"]);
    expect(ports({ container: "web" }, "tcp")).toEqual(["8080/tcp"]);
    expect(ports({ composeService: "api", composeProject: "shop" })).toEqual(["9001-9002/tcp"]);
    expect(ports({ label: "tier=front", composeProject: "blog", composeService: "api" })).toEqual(["9100/tcp"]);
    expect(ports({ label: "tier" })).toEqual(["9001-9002/tcp", "9100/tcp"]);
  });
  it("says why it cannot: nothing matches (named), an ambiguous service, nothing published of that protocol", () => {
    const why = (t: object, protocol = "all") => {
      const r = resolveTarget(list, t, protocol as "all");
      return r.ok ? "resolved" : r.error;
    };
    expect(why({ container: "db" })).toBe("no running container matches container db");
    expect(why({ composeService: "api" })).toBe(
      "compose service api runs in several compose projects (blog, shop): set target.composeProject",
    );
    expect(why({ composeService: "api", composeProject: "shop" }, "udp")).toBe(
      "compose service shop/api publishes no udp port (docker run -p)",
    );
    expect(
      resolveTarget(listOf("error the docker CLI is not installed on the host"), { container: "web" }, "all"),
    ).toEqual({
      ok: false,
      error: "cannot list the host's containers to resolve container web: the docker CLI is not installed on the host",
    });
  });
  it("recorded ports read back as they were written", () => {
    const r = resolveTarget(list, { label: "tier" }, "all");
    expect(r.ok && parsePorts(formatPorts(r.ports))).toEqual(r.ok && r.ports);
    expect(parsePorts(["8080/sctp", "0/tcp", "9-8/udp", 7])).toEqual([]);
  });
});

describe("expansion and planning of a rule that follows a container", () => {
  const N = "0123456789abcdef01234567";
  const save = ["*filter", ":FORWARD ACCEPT [0:0]", ":DOCKER-USER - [0:0]", "-A FORWARD -j DOCKER-USER"];
  const stateWith = (containers: string | undefined) =>
    parseHostState(
      `\n@@${N} tools\nipset\n@@${N} nft4\n${[...save, "-A DOCKER-USER -j RETURN", "COMMIT"].join("\n")}\n${
        containers === undefined ? "" : `@@${N} containers\n${containers}\n`
      }@@${N} end\n`,
      N,
    );
  const rule = dockerUserRuleArgs.parse({ action: "DROP", source: "203.0.113.9", target: { container: "web" } });
  const intent: Intent = { kind: "rule", id: "web-deny", priority: 500, rule };

  it("a resolved rule expands to one line per port, each with its own protocol; an unresolved one is refused", () => {
    const lines = expandRule(
      { ...rule, resolvedPorts: [{ protocol: "tcp", from: 8080, to: 8081 }] },
      { priority: 500, id: "web-deny" },
      ["ipv4"],
    ).ipv4.map(renderRule);
    expect(lines).toEqual([
      '-A DOCKER-USER -s 203.0.113.9/32 -p tcp -m comment --comment "dfw:0500:web-deny" -m conntrack --ctorigdstport 8080:8081 --ctdir ORIGINAL -j DROP',
    ]);
    expect(() => expandRule(rule, { priority: 500, id: "x" }, ["ipv4"])).toThrow(/must be resolved on its host/);
  });

  it("plans the ports the container publishes now; refuses (no step) when it is gone or not listed", () => {
    const plan = (containers: string | undefined) => {
      const state = stateWith(containers);
      const facts = deriveFacts(state) as HostFacts;
      return planTransaction(state, facts, [intent], (s) => `tmp-${s}`);
    };
    const live = plan(WEB);
    expect(live.refused.size).toBe(0);
    expect(live.expectedChains.ipv4?.filter((l) => l.includes("web-deny"))).toEqual([
      '-A DOCKER-USER -s 203.0.113.9/32 -p tcp -m comment --comment "dfw:0500:web-deny" -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP',
      '-A DOCKER-USER -s 203.0.113.9/32 -p udp -m comment --comment "dfw:0500:web-deny" -m conntrack --ctorigdstport 5353 --ctdir ORIGINAL -j DROP',
    ]);
    const gone = plan("");
    expect(gone.steps).toEqual([]);
    expect(gone.refused.get(0)).toBe("no running container matches container web");
    expect(plan(undefined).refused.get(0)).toMatch(/containers were not read/);
  });

  it("the read lists containers only when asked (`<nonce> containers`), and still refuses a bad nonce", () => {
    const sh = (stdin: string) => {
      const r = spawnSync("sh", ["-c", `${READ_NONCE}\necho "$n|$dc"`], { input: stdin, encoding: "utf8" });
      return r.status === 0 ? r.stdout.trim() : `exit ${r.status}`;
    };
    expect(sh("abc123\n")).toBe("abc123|");
    expect(sh("abc123 containers\n")).toBe("abc123|1");
    for (const bad of ["abc123 containers x\n", "x containers\n", "abc;id containers\n", " containers\n"])
      expect(sh(bad), bad).toBe("exit 64");
  });

  it("the listing runs docker ps, then one docker inspect with the exact JSON format; failures become `error` lines", () => {
    const dir = mkdtempSync(join(tmpdir(), "dfw-fake-docker-"));
    try {
      // A docker CLI that records what inspect was asked and answers like Docker 28 (or fails like a stopped dockerd).
      const fake = `#!/bin/sh
case "$1" in
ps) [ -n "$FAIL" ] && { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1; }; printf "%s\\n" aaa bbb;;
inspect) printf "%s\\n" "$@" >"${dir}/args"; echo '${WEB}';;
esac`;
      writeFileSync(join(dir, "docker"), fake);
      chmodSync(join(dir, "docker"), 0o755);
      const run = (env: Record<string, string> = {}, path = `${dir}:/usr/bin:/bin`) =>
        spawnSync("/bin/sh", ["-c", LIST_RUNNING_CONTAINERS], { encoding: "utf8", env: { PATH: path, ...env } }).stdout;
      const list = parseContainerList(run());
      expect(list.ok && list.containers.map((c) => c.name)).toEqual(["web"]);
      expect(readFileSync(join(dir, "args"), "utf8").split("\n")).toEqual([
        "inspect",
        "--format",
        '{"name":{{json .Name}},"ports":{{json .NetworkSettings.Ports}},"labels":{{json .Config.Labels}}}',
        "aaa",
        "bbb",
        "",
      ]);
      expect(parseContainerList(run({ FAIL: "1" }))).toEqual({
        ok: false,
        error: "docker ps failed (exit 1): Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
      });
      rmSync(join(dir, "docker"));
      expect(parseContainerList(run({}, dir))).toEqual({
        ok: false,
        error: "the docker CLI is not installed on the host",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
