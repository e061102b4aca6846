// Through the real pulumi CLI: a replacement (a DROP rule's family changed, which changes its identity) runs in the
// engine's create-before-delete order, and the policy never opens meanwhile: the denied client probes the node's
// published web port again and again from before `pulumi up` starts until after it ends, and is never let through,
// while the allowed client keeps its access.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabInventory, LabNode } from "../../lab/index";
import { sharedLab } from "../support/lab";
import { probeNode } from "../support/node-probe";
import { CliProject, cliMissing, nodeSpec, type Spec } from "../support/pulumi-cli";

const missing = cliMissing();

let lab: LabInventory;
let node: LabNode;
let project: CliProject;

function spec(dropFamily: "ipv4" | "both"): Spec {
  return {
    nodes: { n: nodeSpec(node) },
    rules: [
      {
        name: "clis-allow",
        node: "n",
        args: { priority: 100, action: "ACCEPT", protocol: "tcp", publishedPorts: [8080], source: lab.lbCidr },
      },
      {
        name: "clis-drop",
        node: "n",
        args: { priority: 900, action: "DROP", protocol: "tcp", publishedPorts: [8080], family: dropFamily },
      },
    ],
  };
}

describe.skipIf(missing)("the real pulumi CLI: the policy holds through a replacement", () => {
  beforeAll(async () => {
    lab = await sharedLab();
    node = lab.nodes[1] as LabNode;
    project = new CliProject("swap");
    await project.init(spec("ipv4"), { privateKey: readFileSync(node.privateKeyPath, "utf8") });
    await project.ok(["up", "--yes", "--non-interactive"]);
  });

  afterAll(async () => {
    if (!project) return;
    await project.pulumi(["destroy", "--yes", "--non-interactive"]);
    project.remove();
  });

  it("never lets the denied client through while the DROP rule is replaced", async () => {
    const before = await probeNode(lab, node);
    expect(before.deniedWeb).not.toBe("open");
    expect(before.allowedWeb).toBe("open");

    await project.setSpec(spec("both"));
    let done = false;
    const seen: { deniedWeb: string; allowedWeb: string }[] = [];
    const probing = (async () => {
      while (!done) seen.push(await probeNode(lab, node));
      seen.push(await probeNode(lab, node));
    })();
    const up = await project.ok(["up", "--yes", "--non-interactive"]).finally(() => {
      done = true;
    });
    await probing;

    const created = up.text.search(/DockerUserRule clis-drop created replacement/);
    const deleting = up.text.search(/DockerUserRule clis-drop deleting original/);
    expect(created, up.text).toBeGreaterThanOrEqual(0);
    expect(deleting, up.text).toBeGreaterThan(created);
    console.log(`replacement under probe: ${seen.length} probes in ${up.ms} ms`);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.filter((s) => s.deniedWeb === "open")).toEqual([]);
    expect(seen.filter((s) => s.allowedWeb !== "open")).toEqual([]);
  });
});
