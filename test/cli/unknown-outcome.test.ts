// Through the real pulumi CLI: an unknown create outcome. The apply reaches the node and its rule is in the kernel
// (a gate in the node's ipset, which the apply's read-back runs, says so and waits), then every connection through
// a fault proxy is cut before the answer returns. `pulumi up` fails naming the lost connection; the next `pulumi up`
// converges to exactly one block of the rule, and `pulumi destroy` leaves none: no orphaned ACCEPT.

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabInventory, LabNode } from "../../lab/index";
import { AnswerGate } from "../support/answer-gate";
import { FaultProxy } from "../support/fault-proxy";
import { CliProject, cliMissing, nodeSpec, type Spec } from "../support/pulumi-cli";
import { onNode, type PrivateLab, upPrivateLab } from "../support/rel-lab";

const missing = cliMissing();

const TAG = "dfw:0300:cliu-";

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;
let proxy: FaultProxy;
let gate: AnswerGate;
let project: CliProject;

const spec = (): Spec => ({
  nodes: { n: { ...nodeSpec(node), host: "127.0.0.1", port: proxy.port } },
  rules: [
    {
      name: "cliu-web",
      node: "n",
      args: { priority: 300, action: "ACCEPT", protocol: "tcp", publishedPorts: [8443], family: "ipv4" },
    },
  ],
});

const blocks = async () =>
  (await onNode(lab, node, `{ iptables-nft-save -t filter; iptables-legacy-save -t filter; } 2>/dev/null; true`))
    .split("\n")
    .filter((l) => l.startsWith("-A DOCKER-USER") && l.includes(TAG));

describe.skipIf(missing)("the real pulumi CLI: a create whose answer is lost", () => {
  beforeAll(async () => {
    priv = await upPrivateLab(1);
    lab = priv.lab;
    node = lab.nodes[0] as LabNode;
    gate = new AnswerGate(lab, node);
    await gate.install(TAG);
    proxy = await FaultProxy.start(node.ssh.port);
    project = new CliProject("unknown");
    await project.init(spec(), { privateKey: readFileSync(node.privateKeyPath, "utf8") });
  }, 300_000);

  afterAll(async () => {
    project?.remove();
    await proxy?.close();
    await gate?.remove();
    await priv?.down();
  });

  it("the failed up names the lost connection; the next up leaves exactly one block; destroy leaves none", async () => {
    await gate.close();
    const running = project.pulumi(["up", "--yes", "--non-interactive"]);
    const reached = await gate.reached(1200);
    proxy.cut();
    await gate.open();
    const first = await running;
    expect(reached, first.text).toBe(true);
    expect(first.code, first.text).not.toBe(0);
    expect(first.text).toMatch(/connection to \S+ was lost/);
    expect(await blocks()).toHaveLength(1);

    const retry = await project.ok(["up", "--yes", "--non-interactive"]);
    const live = await blocks();
    expect(live, retry.text).toHaveLength(1);
    const preview = await project.ok(["preview", "--non-interactive", "--expect-no-changes"]);
    expect(preview.code).toBe(0);

    await project.ok(["destroy", "--yes", "--non-interactive"]);
    expect(await blocks()).toEqual([]);
  }, 600_000);
});
