// Through the real pulumi CLI on a 1-node lab whose real dockerd 29 runs its nftables backend (`--docker 29-nft`):
// the same program as on iptables hosts — DockerUserRules, IpSets, a PersistentRuleset — becomes our own
// `table inet docker-firewall`; real packets get the declared matrix (v4 and v6); refresh reports drift made by hand
// with nft; `up --refresh` repairs it; the boot unit rebuilds the table after a power cycle; destroy leaves only
// Docker's tables.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, probeLab, rebootNode } from "../../lab/index";
import { defaultPool } from "../../provider/node/ssh-pool";
import { NFT_BOOT_PATH } from "../../provider/protocol/paths";
import { CliProject, cliMissing, nodeSpec, type Spec } from "../support/pulumi-cli";
import { onNode, type PrivateLab, upPrivateLab } from "../support/rel-lab";

const missing = cliMissing();

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;
let project: CliProject;

/** One DockerHostFirewall (its rules depend on its sets), as a fleet program declares a host. */
function spec(): Spec {
  const ports = { protocol: "tcp+udp", publishedPorts: [8080, 5353] };
  return {
    nodes: { n: nodeSpec(node) },
    hosts: [
      {
        name: "nftc",
        node: "n",
        args: {
          sets: {
            lbs: { type: "hash:net", entries: [lab.lbCidr] },
            lbs6: { type: "hash:net", family: "ipv6", entries: [lab.lbCidr6 as string] },
          },
          rules: {
            allow4: { priority: 100, action: "ACCEPT", ...ports, family: "ipv4", source: { set: "lbs" } },
            allow6: { priority: 100, action: "ACCEPT", ...ports, family: "ipv6", source: { set: "lbs6" } },
            drop: {
              priority: 200,
              action: "DROP",
              ...ports,
              inInterface: "eth0",
              log: { prefix: "dfw-drop ", rate: "5/min" },
            },
          },
          persistence: true,
        },
      },
    ],
  };
}

const matrix = async () =>
  Object.fromEntries((await probeLab(lab)).map((r) => [`${r.client} ${r.family} ${r.port}/${r.protocol}`, r.result]));
const want = (allowed: string, denied: string) =>
  Object.fromEntries(
    ["ipv4", "ipv6"].flatMap((f) =>
      ["8080/tcp", "5353/udp"].flatMap((p) => [
        [`allowed ${f} ${p}`, allowed],
        [`denied ${f} ${p}`, denied],
        [`lanpeer ${f} ${p}`, "open"],
      ]),
    ),
  );

/** Our table as nft lists it, without handles (stable across a rebuild). */
const ourTable = async () =>
  (await onNode(lab, node, "nft list table inet docker-firewall")).replace(/ # handle \d+/g, "");
const tables = async () => (await onNode(lab, node, "nft list tables")).trim().split("\n").sort();

describe.skipIf(missing)("the real pulumi CLI on a Docker 29 nftables host", () => {
  let baseline: string;

  beforeAll(async () => {
    priv = await upPrivateLab(1, { docker: ["29-nft"] });
    lab = priv.lab;
    node = lab.nodes[0] as LabNode;
    project = new CliProject("nft");
    await project.init(spec(), { privateKey: readFileSync(node.privateKeyPath, "utf8") });
  }, 600_000);

  afterAll(async () => {
    if (project) {
      await project.pulumi(["destroy", "--yes", "--non-interactive"]);
      project.remove();
    }
    defaultPool.closeAll();
    await priv?.down();
  });

  let previewed: string[] = [];

  it("preview --diff of the new stack shows the nft rules up will apply, with dockerd's accept mark", async () => {
    const r = await project.ok(["preview", "--diff", "--show-full-output", "--non-interactive"]);
    // Each rendered line, JSON-quoted in the diff (a line shows in a rule's and its host's `rendered`).
    const quoted = [...r.text.matchAll(/"((?:[^"\\]|\\.)*comment \\"dfw:(?:[^"\\]|\\.)*)"/g)];
    previewed = [...new Set(quoted.map((m) => JSON.parse(`"${m[1]}"`) as string))].sort();
    expect(previewed.length).toBeGreaterThanOrEqual(4);
    expect(
      previewed.some((l) =>
        /^meta nfproto ipv4 .*ip saddr @lbs .*meta mark set .* accept comment "dfw:0100:nftc-allow4-/.test(l),
      ),
    ).toBe(true);
    expect(r.text).not.toMatch(/-A DOCKER-USER/);
  }, 600_000);

  it("up applies the rules and sets as our nft table: the declared matrix on real packets, v4 and v6", async () => {
    expect(Object.values(await matrix()).every((r) => r === "open")).toBe(true);
    const up = await project.ok(["up", "--yes", "--non-interactive"]);
    expect(up.text).toMatch(/\+ 8 created/);
    // What the preview showed is what the table holds, line for line (the rules' `lines`, read back from nft).
    const state = JSON.parse((await project.ok(["stack", "export"])).stdout) as {
      deployment: { resources: { type: string; outputs?: { lines?: Record<string, string[]> } }[] };
    };
    const applied = state.deployment.resources
      .filter((res) => res.type.endsWith("DockerUserRule"))
      .flatMap((res) => Object.values(res.outputs?.lines ?? {}).flat());
    expect([...new Set(applied)].sort()).toEqual(previewed);
    baseline = await ourTable();
    expect(baseline).toMatch(/chain forward \{\s*type filter hook forward priority filter - 1; policy accept;/);
    expect(baseline).toMatch(/set lbs \{\s*type ipv4_addr\s*flags interval\s*elements = \{ [\d./]+ \}/);
    expect(baseline).toMatch(/ip saddr @lbs .*meta mark set .*accept comment "dfw:0100:nftc-allow4-/);
    expect(await matrix()).toEqual(want("open", "blocked"));
    expect(await onNode(lab, node, `head -c 20 ${NFT_BOOT_PATH}`)).toBe('{"nftables":[{"add":');
    // Nothing left to do: the outputs read back from the table equal what the program declares.
    const clean = await project.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--non-interactive"]);
    expect(clean.code, clean.text).toBe(0);
    const again = await project.pulumi(["preview", "--expect-no-changes", "--non-interactive"]);
    expect(again.code, again.text).toBe(0);
  }, 600_000);

  it("the PersistentRuleset's boot unit rebuilds the table after a power cycle, before Docker starts", async () => {
    const boot = await rebootNode(lab, node.name);
    const unit = boot.units.find((u) => u.unit === "docker-firewall.service");
    expect(unit && { state: unit.state, verify: unit.verify }).toEqual({
      state: "done",
      verify: { ok: true, output: "" },
    });
    expect(boot.order.indexOf("docker-firewall.service")).toBeLessThan(boot.order.indexOf("docker.service"));
    expect(await ourTable()).toEqual(baseline);
    expect(await matrix()).toEqual(want("open", "blocked"));
  }, 600_000);

  it("refresh names drift made by hand with nft; up --refresh repairs the table and the traffic", async () => {
    await onNode(
      lab,
      node,
      [
        "nft add element inet docker-firewall lbs { 192.0.2.0/24 }",
        // The drop block's first rule deleted: the block is modified.
        'h=$(nft -a list chain inet docker-firewall forward | grep "dfw:0200:nftc-drop-" | head -1 | sed "s/.*# handle //")',
        "nft delete rule inet docker-firewall forward handle $h",
        // A rule nobody manages, first in our chain: every block is out of place below it.
        'nft insert rule inet docker-firewall forward counter comment \\"by hand\\"',
      ].join(" && "),
    );
    // The nightly check fails, naming what changed.
    const shown = await project.pulumi([
      "refresh",
      "--preview-only",
      "--diff",
      "--expect-no-changes",
      "--non-interactive",
    ]);
    expect(shown.code, shown.text).not.toBe(0);
    expect(shown.text).toMatch(/IpSet::nftc-lbs\][\s\S]*192\.0\.2\.0\/24/);
    expect(shown.text).toMatch(/DockerUserRule::nftc-drop\][\s\S]*~ lines/);
    expect(shown.text).toMatch(/DockerUserRule::nftc-allow4\][\s\S]*~ inPlace\s*: true => false/);
    await project.ok(["up", "--refresh", "--yes", "--non-interactive"]);
    // Ours back as they were, the hand-made rule kept (not exclusive mode), below every managed block.
    const repaired = (await ourTable()).split("\n");
    const byHand = repaired.findIndex((l) => l.includes('comment "by hand"'));
    const lastOurs = repaired.map((l) => l.includes('comment "dfw:')).lastIndexOf(true);
    expect(byHand).toBe(lastOurs + 1);
    expect(repaired.filter((_, i) => i !== byHand).join("\n")).toEqual(baseline);
    expect(await matrix()).toEqual(want("open", "blocked"));
    await onNode(
      lab,
      node,
      'h=$(nft -a list chain inet docker-firewall forward | grep "by hand" | sed "s/.*# handle //") && nft delete rule inet docker-firewall forward handle $h',
    );
  }, 600_000);

  it("destroy leaves only Docker's tables and no boot files", async () => {
    await project.ok(["destroy", "--yes", "--non-interactive"]);
    expect(await tables()).toEqual(["table ip docker-bridges", "table ip6 docker-bridges"]);
    expect(await onNode(lab, node, `ls /etc/docker-firewall/ 2>/dev/null || true`)).not.toMatch(/nftables\.json/);
    expect(Object.values(await matrix()).every((r) => r === "open")).toBe(true);
  }, 600_000);
});
