// Through the real pulumi CLI: `ignoreChanges` (a changed argument the program says to ignore leaves the host alone)
// and `deletedWith` (a rule deleted with the resource standing for its host — as a program ties rules to its VM —
// gets no delete call: the engine drops it from state and the host, which would be gone with the VM, is not touched).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { sharedLab } from "../support/lab";
import { CliProject, cliMissing, nodeSpec, type ResourceSpec, type Spec } from "../support/pulumi-cli";

const missing = cliMissing();

let lab: LabInventory;
let node: LabNode;
let project: CliProject;

async function managed(): Promise<string[]> {
  const r = await sshExec(node, "iptables-save -t filter");
  return r.stdout.split("\n").filter((l) => l.startsWith("-A DOCKER-USER ") && /"dfw:\d{4}:clig-/.test(l));
}

const rule = (name: string, port: number, opts?: ResourceSpec["opts"], hostFromOutput = false): ResourceSpec => ({
  name,
  node: "n",
  hostFromOutput,
  args: { priority: 500, action: "ACCEPT", protocol: "tcp", publishedPorts: [port], source: lab.lbCidr },
  ...(opts && { opts }),
});

const spec = (rules: ResourceSpec[]): Spec => ({ nodes: { n: nodeSpec(node) }, rules });

describe.skipIf(missing)("the real pulumi CLI: ignoreChanges and deletedWith", () => {
  beforeAll(async () => {
    lab = await sharedLab();
    node = lab.nodes[0] as LabNode;
    project = new CliProject("ignore");
    await project.init(
      spec([
        rule("clig-ignored", 9101, { ignoreChanges: ["publishedPorts"] }),
        rule("clig-vm", 9102, { deletedWithHost: true }, true),
      ]),
      { privateKey: readFileSync(node.privateKeyPath, "utf8") },
    );
    await project.ok(["up", "--yes", "--non-interactive"]);
    expect(await managed()).toHaveLength(2);
  });

  afterAll(async () => {
    if (!project) return;
    await project.pulumi(["destroy", "--yes", "--non-interactive"]);
    // deletedWith left its rule behind on purpose (its "host" went first): take it off by hand.
    for (const l of await managed()) await sshExec(node, `iptables ${l.replace(/^-A /, "-D ")}`);
    project.remove();
  });

  it("ignoreChanges: a changed argument the program ignores changes nothing on the host", async () => {
    const before = await managed();
    await project.setSpec(
      spec([
        rule("clig-ignored", 9199, { ignoreChanges: ["publishedPorts"] }),
        rule("clig-vm", 9102, { deletedWithHost: true }, true),
      ]),
    );
    const preview = await project.ok(["preview", "--diff", "--non-interactive", "--expect-no-changes"]);
    expect(preview.text).not.toMatch(/9199/);
    await project.ok(["up", "--yes", "--non-interactive"]);
    expect(await managed()).toEqual(before);
    expect(before.some((l) => l.includes("--ctorigdstport 9101"))).toBe(true);
  });

  it("deletedWith: deleting the host's resource deletes the rule from state without touching the host", async () => {
    const before = await managed();
    await project.setSpec(spec([rule("clig-ignored", 9101, { ignoreChanges: ["publishedPorts"] })]));
    const r = await project.ok(["up", "--yes", "--non-interactive"]);
    expect(r.text).toMatch(/DockerUserRule clig-vm deleted/);
    expect(r.text).toMatch(/Address address-n deleted/);
    // No delete call reached the provider: the rule is still on the (still running) lab host.
    expect(await managed()).toEqual(before);
    expect(project.stateFile()).not.toMatch(/clig-vm/);
  });
});
