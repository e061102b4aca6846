// A node whose Docker starts making an IPv6 DOCKER-USER after the rules were created (an
// upgrade, or ip6tables turned on). Rules with family auto must get their v6 lines at the next up, without a
// refresh first; rules pinned to ipv4 stay as they are. Through the real dynamic-provider host, on a private node.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabInventory, LabNode } from "../../lab/index";
import { ruleShim } from "../../provider/resources/shims";
import { type Declared, type EngineHost, EngineStack, engineFor, rootConnection } from "../support/engine";
import { onNode, type PrivateLab, upPrivateLab } from "../support/rel-lab";

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;
let host: EngineHost;
let stack: EngineStack;

beforeAll(async () => {
  // Docker 20.10: the one line whose default makes no IPv6 DOCKER-USER, so the chain can appear later.
  priv = await upPrivateLab(1, { docker: ["20.10"] });
  lab = priv.lab;
  node = lab.nodes[0] as LabNode;
  host = await engineFor(node);
  stack = new EngineStack(host, { DockerUserRule: ruleShim });
}, 180_000);

afterAll(async () => {
  host?.stop();
  await priv?.down();
});

const rule = (name: string, extra: Record<string, unknown> = {}): Declared => ({
  type: "DockerUserRule",
  name,
  inputs: {
    connection: rootConnection(node),
    ruleName: name,
    priority: 100,
    action: "DROP",
    protocol: "tcp",
    publishedPorts: [9100],
    ...extra,
  },
});

const v6Lines = async () =>
  (await onNode(lab, node, "ip6tables-save -t filter 2>/dev/null; true"))
    .split("\n")
    .filter((l) => l.startsWith("-A DOCKER-USER") && l.includes("dfw:"));

describe("an IPv6 DOCKER-USER appearing after the rules were made", () => {
  it("the next up (no refresh) adds the v6 lines of family-auto rules, and only theirs", async () => {
    // Docker 20.10 without ip6tables makes no v6 DOCKER-USER: the rules are v4 only.
    await onNode(lab, node, "ip6tables -t filter -X DOCKER-USER 2>/dev/null; true");
    expect(await stack.up(rule("auto6"))).toBe("create");
    expect(await stack.up(rule("only4", { family: "ipv4" }))).toBe("create");
    expect(stack.state.get("DockerUserRule::auto6")?.outputs.families).toEqual(["ipv4"]);
    // What a Docker with ip6tables enabled makes at its next start.
    await onNode(
      lab,
      node,
      "ip6tables -t filter -N DOCKER-USER && ip6tables -t filter -A DOCKER-USER -j RETURN && ip6tables -t filter -I FORWARD -j DOCKER-USER",
    );
    const preview = await stack.preview(rule("auto6"));
    expect(preview.step).toBe("update");
    expect(await stack.up(rule("auto6"))).toBe("update");
    expect(await stack.up(rule("only4", { family: "ipv4" }))).toBe("same");
    const lines = await v6Lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`dfw:0100:${stack.state.get("DockerUserRule::auto6")?.id}`);
    expect(stack.state.get("DockerUserRule::auto6")?.outputs.families).toEqual(["ipv4", "ipv6"]);
    expect(await stack.up(rule("auto6"))).toBe("same");
    for (const n of ["auto6", "only4"]) await stack.destroy("DockerUserRule", n);
    expect(await v6Lines()).toEqual([]);
  });
});
