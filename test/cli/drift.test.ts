// Through the real pulumi CLI on a private 1-node lab (exclusive mode owns the node's whole DOCKER-USER): each
// kind of tampering by hand — a rule modified, the block reordered, a set member added or removed, an unmanaged
// rule in exclusive mode, a boot file changed — is reported by `pulumi refresh` (the nightly GitOps check fails),
// and one `pulumi up --refresh` puts the host back exactly as it was. (The CLI diffs lists by position: a member
// added in the middle of the sorted entries shows as changed positions.)
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabInventory, LabNode } from "../../lab/index";
import { defaultPool } from "../../provider/node/ssh-pool";
import { CliProject, cliMissing, nodeSpec, type Spec } from "../support/pulumi-cli";
import { managedState, onNode, type PrivateLab, stateDiff, upPrivateLab } from "../support/rel-lab";

const missing = cliMissing();

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;
let project: CliProject;
let baseline: string;

const SET = "clif-lbs";

function spec(): Spec {
  const rule = (name: string, priority: number, args: Record<string, unknown>) => ({
    name,
    node: "n",
    args: { priority, protocol: "tcp", ...args },
  });
  return {
    nodes: { n: nodeSpec(node) },
    sets: [
      { name: SET, node: "n", args: { name: SET, type: "hash:net", entries: ["198.51.100.0/26", "203.0.113.0/28"] } },
    ],
    rules: [
      rule("clif-web", 100, { action: "ACCEPT", publishedPorts: [8080], source: { set: SET } }),
      rule("clif-api", 200, { action: "ACCEPT", publishedPorts: [8081], source: "198.51.100.7/32" }),
      rule("clif-deny", 900, { action: "DROP", publishedPorts: [8080, 8081] }),
    ],
    persistent: { node: "n", args: { exclusive: true } },
  };
}

/** The rule lines of DOCKER-USER (ours are tagged with a comment naming the resource). */
async function chain(): Promise<string[]> {
  return (await onNode(lab, node, "iptables-save -t filter"))
    .split("\n")
    .filter((l) => l.startsWith("-A DOCKER-USER ") && !l.endsWith("-j RETURN"));
}

const lineOf = (lines: string[], name: string) => lines.find((l) => l.includes(`:${name}-`)) as string;

/** Tampering by hand, and what `pulumi refresh --preview-only --diff` must then name. */
const TAMPERING: { kind: string; tamper: () => Promise<unknown>; reported: RegExp[] }[] = [
  {
    kind: "a rule modified",
    tamper: async () => {
      const lines = await chain();
      const api = lineOf(lines, "clif-api");
      const widened = api.replace("-s 198.51.100.7/32", "-s 0.0.0.0/0").replace(/^-A DOCKER-USER /, "");
      return onNode(lab, node, `iptables -R DOCKER-USER ${lines.indexOf(api) + 1} ${widened}`);
    },
    reported: [/DockerUserRule::clif-api\]/, /~ lines/, /=> "-A DOCKER-USER -p tcp -m comment/],
  },
  {
    kind: "the block reordered",
    tamper: async () => {
      const deny = lineOf(await chain(), "clif-deny").replace(/^-A DOCKER-USER /, "");
      return onNode(lab, node, `iptables -D DOCKER-USER ${deny} && iptables -I DOCKER-USER 1 ${deny}`);
    },
    reported: [/DockerUserRule::clif-deny\]/, /~ inPlace\s*: true => false/],
  },
  {
    kind: "a set member added",
    tamper: () => onNode(lab, node, `ipset add ${SET} 192.0.2.0/24`),
    reported: [/IpSet::clif-lbs\]/, /~ entries: \[[^}]*?(=>|\+ \[\d\]:) "192\.0\.2\.0\/24"/],
  },
  {
    kind: "a set member removed",
    tamper: () => onNode(lab, node, `ipset del ${SET} 203.0.113.0/28`),
    reported: [/IpSet::clif-lbs\]/, /~ entries: \[[^}]*?(- \[\d\]: "203\.0\.113\.0\/28"|"203\.0\.113\.0\/28" =>)/],
  },
  {
    kind: "an unmanaged rule in exclusive mode",
    tamper: () => onNode(lab, node, "iptables -I DOCKER-USER 1 -s 192.0.2.66/32 -j ACCEPT"),
    reported: [
      /PersistentRuleset::persist\]/,
      /~ unmanagedRules[\s\S]*\+ \[0\]: "\[ipv4\] -A DOCKER-USER -s 192\.0\.2\.66\/32 -j ACCEPT"/,
    ],
  },
  {
    kind: "a boot file changed",
    tamper: () => onNode(lab, node, "echo '-I DOCKER-USER 1 -j ACCEPT' >>/etc/docker-firewall/rules-ipv4.restore"),
    reported: [
      /PersistentRuleset::persist\]/,
      /~ staleFiles[\s\S]*\+ \[0\]: "\/etc\/docker-firewall\/rules-ipv4\.restore"/,
    ],
  },
];

describe.skipIf(missing)("the real pulumi CLI: refresh reports each kind of drift, up --refresh repairs it", () => {
  beforeAll(async () => {
    priv = await upPrivateLab(1);
    lab = priv.lab;
    node = lab.nodes[0] as LabNode;
    project = new CliProject("drift");
    await project.init(spec(), { privateKey: readFileSync(node.privateKeyPath, "utf8") });
    await project.ok(["up", "--yes", "--non-interactive"]);
    baseline = await managedState(lab, node);
    expect(await chain()).toHaveLength(4);
    const clean = await project.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--non-interactive"]);
    expect(clean.code, clean.text).toBe(0);
  }, 600_000);

  afterAll(async () => {
    if (project) {
      await project.pulumi(["destroy", "--yes", "--non-interactive"]);
      project.remove();
    }
    defaultPool.closeAll();
    await priv?.down();
  });

  for (const t of TAMPERING) {
    it(`${t.kind}: refresh names it, the nightly check fails, up --refresh restores the host`, async () => {
      await t.tamper();
      expect(await managedState(lab, node)).not.toEqual(baseline);

      const nightly = await project.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--non-interactive"]);
      expect(nightly.code, nightly.text).not.toBe(0);
      const shown = await project.ok(["refresh", "--preview-only", "--diff", "--non-interactive"]);
      for (const r of t.reported) expect(shown.text, shown.text).toMatch(r);

      await project.ok(["up", "--refresh", "--yes", "--non-interactive"]);
      const after = await managedState(lab, node);
      expect(after, stateDiff(baseline, after)).toEqual(baseline);
      const clean = await project.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--non-interactive"]);
      expect(clean.code, clean.text).toBe(0);
    }, 300_000);
  }
});
