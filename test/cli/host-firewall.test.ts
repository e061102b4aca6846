// Through the real pulumi CLI: a DockerHostFirewall with default priorities. Inserting a rule at the top of its
// list is a one-rule change — in `pulumi preview` (what a GitOps review shows) and in what `pulumi up` does on the
// host: every other rule keeps its tag, byte for byte.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { sharedLab } from "../support/lab";
import { CliProject, cliMissing, nodeSpec, type Spec } from "../support/pulumi-cli";

const missing = cliMissing();

let lab: LabInventory;
let node: LabNode;
let project: CliProject;

async function managed(): Promise<string[]> {
  const r = await sshExec(node, "iptables-save -t filter");
  return r.stdout.split("\n").filter((l) => l.startsWith("-A DOCKER-USER ") && /"dfw:\d{4}:clih-/.test(l));
}

const allow = (port: number) => ({ action: "ACCEPT", protocol: "tcp", publishedPorts: [port], source: lab.lbCidr });

function spec(rules: Record<string, Record<string, unknown>>): Spec {
  return { nodes: { n: nodeSpec(node) }, hosts: [{ name: "clih", node: "n", args: { rules } }] };
}

describe.skipIf(missing)("the real pulumi CLI: DockerHostFirewall's default priorities", () => {
  beforeAll(async () => {
    lab = await sharedLab();
    node = lab.nodes[2] as LabNode;
    project = new CliProject("hostfw");
    await project.init(spec({ web: allow(9201), api: allow(9202), deny: { action: "DROP", protocol: "tcp" } }), {
      privateKey: readFileSync(node.privateKeyPath, "utf8"),
    });
    await project.ok(["up", "--yes", "--non-interactive"]);
    expect(await managed()).toHaveLength(3);
  });

  afterAll(async () => {
    if (!project) return;
    await project.pulumi(["destroy", "--yes", "--non-interactive"]);
    project.remove();
  });

  it("inserting a rule at the top previews and applies as one new rule; the others keep their tags", async () => {
    const before = await managed();
    await project.setSpec(
      spec({
        banned: { action: "DROP", source: "192.0.2.66/32" },
        web: allow(9201),
        api: allow(9202),
        deny: { action: "DROP", protocol: "tcp" },
      }),
    );
    const preview = await project.ok(["preview", "--non-interactive"]);
    expect(preview.text).toMatch(/\+\s+pulumi-nodejs:dynamic\/docker-firewall:DockerUserRule clih-banned create/);
    expect(preview.text).not.toMatch(/DockerUserRule clih-(web|api|deny) (update|replace)/);
    await project.ok(["up", "--yes", "--non-interactive"]);
    const after = await managed();
    expect(after).toHaveLength(4);
    // The new rule sits first (its priority is below the others'); the others are unchanged, in order.
    expect(after[0]).toMatch(/-s 192\.0\.2\.66\/32 .*-j DROP$/);
    expect(after.slice(1)).toEqual(before);
  });
});
