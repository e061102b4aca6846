// Through the real pulumi CLI: resource options a program sets on our resources — protect (destroy refused, host
// untouched), aliases (a rename changes nothing on the host), retainOnDelete (the rule stays on the host), and a
// replacement (moving a rule to another host) in the engine's create-before-delete order.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { sharedLab } from "../support/lab";
import { CliProject, cliMissing, nodeSpec, type ResourceSpec, type Spec } from "../support/pulumi-cli";

const missing = cliMissing();

let lab: LabInventory;
let a: LabNode;
let b: LabNode;
let project: CliProject;

async function managed(node: LabNode): Promise<string[]> {
  const r = await sshExec(node, "iptables-save -t filter");
  return r.stdout.split("\n").filter((l) => l.startsWith("-A DOCKER-USER ") && /"dfw:\d{4}:clie-/.test(l));
}

const rule = (name: string, priority: number, node = "a", opts?: ResourceSpec["opts"]): ResourceSpec => ({
  name,
  node,
  args: { priority, action: "ACCEPT", protocol: "tcp", publishedPorts: [8080 + priority], source: lab.lbCidr },
  ...(opts && { opts }),
});

function spec(rules: ResourceSpec[]): Spec {
  return { nodes: { a: nodeSpec(a), b: nodeSpec(b) }, rules };
}

/** Where the CLI's progress output (printed as the engine goes) first shows `name` reaching `status`. */
function when(text: string, name: string, status: string): number {
  const at = text.search(new RegExp(`DockerUserRule ${name} ${status}`));
  return at < 0 ? Number.POSITIVE_INFINITY : at;
}

describe.skipIf(missing)("the real pulumi CLI: resource options", () => {
  beforeAll(async () => {
    lab = await sharedLab();
    a = lab.nodes[2] as LabNode;
    b = lab.nodes[1] as LabNode;
    project = new CliProject("options");
    await project.init(
      spec([
        rule("clie-keep", 10, "a", { protect: true }),
        rule("clie-old", 20),
        rule("clie-retain", 30, "a", { retainOnDelete: true }),
        rule("clie-move", 40),
      ]),
      { privateKey: readFileSync(a.privateKeyPath, "utf8") },
    );
    await project.ok(["up", "--yes", "--non-interactive"]);
    expect(await managed(a)).toHaveLength(4);
  });

  afterAll(async () => {
    if (!project) return;
    await project.setSpec(spec([rule("clie-keep", 10)]));
    await project.pulumi(["up", "--yes", "--non-interactive"]);
    await project.pulumi(["destroy", "--yes", "--non-interactive"]);
    // retainOnDelete left its rule behind on purpose: take it off by hand.
    for (const l of await managed(a)) await sshExec(a, `iptables ${l.replace(/^-A /, "-D ")}`);
    project.remove();
  });

  it("protect: destroy is refused and the host keeps every rule", async () => {
    const before = await managed(a);
    const r = await project.pulumi(["destroy", "--yes", "--non-interactive"]);
    expect(r.code).not.toBe(0);
    expect(r.text).toMatch(/clie-keep/);
    expect(r.text).toMatch(/protect/i);
    expect(await managed(a)).toEqual(before);
  });

  it("aliases: renaming a rule in the program changes nothing on the host", async () => {
    const before = await managed(a);
    const renamed = spec([
      rule("clie-keep", 10, "a", { protect: true }),
      rule("clie-new", 20, "a", { aliases: [{ name: "clie-old" }] }),
      rule("clie-retain", 30, "a", { retainOnDelete: true }),
      rule("clie-move", 40),
    ]);
    await project.setSpec(renamed);
    const preview = await project.ok(["preview", "--diff", "--non-interactive"]);
    expect(preview.text).not.toMatch(/[-+]\s+.*clie-(old|new)\b.*(create|delete|replace)/);
    await project.ok(["up", "--yes", "--non-interactive"]);
    expect(await managed(a)).toEqual(before);
  });

  it("replacement (a rule moved to another host) creates the new rule before deleting the old", async () => {
    await project.setSpec(
      spec([
        rule("clie-keep", 10, "a", { protect: true }),
        rule("clie-new", 20, "a", { aliases: [{ name: "clie-old" }] }),
        rule("clie-retain", 30, "a", { retainOnDelete: true }),
        rule("clie-move", 40, "b"),
      ]),
    );
    const r = await project.ok(["up", "--yes", "--non-interactive"]);
    console.log(`pulumi up (replacement across hosts): ${r.ms} ms`);
    const created = when(r.text, "clie-move", "created replacement");
    const deleting = when(r.text, "clie-move", "deleting original");
    expect(created, r.text).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(deleting, r.text).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(created, r.text).toBeLessThan(deleting);
    expect((await managed(b)).some((l) => l.includes(":clie-move-"))).toBe(true);
    expect((await managed(a)).some((l) => l.includes(":clie-move-"))).toBe(false);
  });

  it("retainOnDelete: a rule dropped from the program stays on the host", async () => {
    await project.setSpec(spec([rule("clie-keep", 10, "a", { protect: true }), rule("clie-new", 20)]));
    const r = await project.ok(["up", "--yes", "--non-interactive"]);
    expect(r.text).toMatch(/clie-retain/);
    expect((await managed(a)).some((l) => l.includes(":clie-retain-"))).toBe(true);
    expect(project.stateFile()).not.toMatch(/clie-retain/);
  });
});
