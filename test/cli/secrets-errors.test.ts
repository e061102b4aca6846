// Through the real pulumi CLI: no private key or passphrase in plaintext in `pulumi stack export` or the state
// file (key as the provider's stack config secret, and inline in `connection`); errors as a user sees them (a bad
// argument names resource and field at preview, before any connection; an unreachable host is named); and a
// `connection.host` that is another resource's output.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { sharedLab } from "../support/lab";
import { CliProject, cliMissing, type NodeSpec, nodeSpec, type Spec } from "../support/pulumi-cli";

const missing = cliMissing();

let lab: LabInventory;
let node: LabNode;
let project: CliProject;
let privateKey: string;
const stacks: string[] = [];

/** The key's base64 body lines: any one of them in a file is a leak. */
function keyLines(): string[] {
  return privateKey.split("\n").filter((l) => l.length >= 20 && !l.startsWith("-----"));
}

function ruleSpec(n: NodeSpec, name: string, args: Record<string, unknown>, hostFromOutput = false): Spec {
  return { nodes: { n: n }, rules: [{ name, node: "n", args, hostFromOutput }] };
}

const allowLb = () => ({
  priority: 300,
  action: "ACCEPT",
  protocol: "tcp",
  publishedPorts: [8080],
  source: lab.lbCidr,
});

async function managed(prefix: string): Promise<string[]> {
  const r = await sshExec(node, "iptables-save -t filter");
  return r.stdout.split("\n").filter((l) => l.startsWith("-A DOCKER-USER ") && l.includes(`:${prefix}`));
}

describe.skipIf(missing)("the real pulumi CLI: secrets and errors", () => {
  beforeAll(async () => {
    lab = await sharedLab();
    node = lab.nodes[1] as LabNode;
    privateKey = readFileSync(node.privateKeyPath, "utf8");
    project = new CliProject("secrets");
  });

  afterAll(async () => {
    if (!project) return;
    for (const s of stacks) {
      await project.select(s);
      await project.pulumi(["destroy", "--yes", "--non-interactive"]);
    }
    project.remove();
  });

  for (const inline of [false, true]) {
    const how = inline ? "inline in connection" : "as the provider's stack config secret";
    it(`key ${how}: neither export nor the state file holds the key or the passphrase`, async () => {
      const stack = inline ? "inline" : "stackkey";
      stacks.push(stack);
      const name = `clic-${stack}`;
      // The host from another resource's output: unknown at the first preview, real at up.
      await project.init(ruleSpec(nodeSpec(node), name, allowLb(), true), { privateKey, inline }, stack);
      const up = await project.ok(["up", "--yes", "--non-interactive"]);
      console.log(`pulumi up (key ${how}, host from an output): ${up.ms} ms`);
      expect(await managed(name)).toHaveLength(1);
      const exported = (await project.ok(["stack", "export"])).stdout;
      const state = project.stateFile(stack);
      for (const text of [exported, state]) {
        for (const line of keyLines()) expect(text.includes(line)).toBe(false);
        expect(text.includes(project.passphrase)).toBe(false);
      }
      // The connection is a secret in state (ciphertext), whichever way the key came.
      expect(exported).toMatch(
        /"connection":\s*\{\s*"4dabf18193072939515e22adb298388d":\s*"1b47061264138c4ac30d75fd1eb44270",\s*"ciphertext"/,
      );
    });
  }

  it("a bad argument fails preview naming resource and field, before any connection", async () => {
    // Nothing listens on port 1: had the provider dialled, the error would be a connection error.
    const nowhere = { ...nodeSpec(node), host: "127.0.0.1", port: 1, dialErrorLimit: 1 };
    await project.init(ruleSpec(nowhere, "clid-bad", { ...allowLb(), action: "ACCEPTT" }), { privateKey }, "bad");
    const r = await project.pulumi(["preview", "--non-interactive"]);
    expect(r.code).not.toBe(0);
    expect(r.text).toMatch(/clid-bad/);
    expect(r.text).toMatch(/action/);
    expect(r.text).not.toMatch(/ECONNREFUSED|connect|127\.0\.0\.1:1/i);
  });

  it("an unreachable host fails up naming the host", async () => {
    const nowhere = { ...nodeSpec(node), host: "127.0.0.1", port: 1, dialErrorLimit: 1 };
    stacks.push("unreachable");
    await project.init(ruleSpec(nowhere, "clid-nowhere", allowLb()), { privateKey }, "unreachable");
    const r = await project.pulumi(["up", "--yes", "--non-interactive"]);
    expect(r.code).not.toBe(0);
    expect(r.text).toMatch(/clid-nowhere/);
    expect(r.text).toMatch(/127\.0\.0\.1:1\b/);
    for (const line of keyLines()) expect(r.text.includes(line)).toBe(false);
  });
});
