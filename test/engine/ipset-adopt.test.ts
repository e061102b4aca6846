// An IpSet whose name matches a set that already exists on the node (here a fail2ban-style
// set used by an INPUT rule) is refused at create, naming the set and the rule using it, and the set is left
// untouched; with `adopt: true` the create takes it over and says so (`adopted`). Through the real
// dynamic-provider host, on a private lab node (real kernel ipset and iptables).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabInventory, LabNode } from "../../lab/index";
import { ipSetShim } from "../../provider/resources/shims";
import { type Declared, type EngineHost, EngineStack, engineFor, rootConnection } from "../support/engine";
import { onNode, type PrivateLab, upPrivateLab } from "../support/rel-lab";

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;
let host: EngineHost;
let stack: EngineStack;

const INPUT_RULE = "-A INPUT -m set --match-set f2b-sshd src -j DROP";

beforeAll(async () => {
  priv = await upPrivateLab(1);
  lab = priv.lab;
  node = lab.nodes[0] as LabNode;
  host = await engineFor(node);
  stack = new EngineStack(host, { IpSet: ipSetShim });
  await onNode(
    lab,
    node,
    `ipset create f2b-sshd hash:ip && ipset add f2b-sshd 203.0.113.9 && iptables ${INPUT_RULE.replace("-A", "-I")}`,
  );
}, 180_000);

afterAll(async () => {
  host?.stop();
  await priv?.down();
});

const set = (name: string, extra: Record<string, unknown> = {}): Declared => ({
  type: "IpSet",
  name,
  inputs: {
    connection: rootConnection(node),
    name,
    type: "hash:ip",
    entries: ["198.51.100.1"],
    ...extra,
  },
});

const members = async (name: string) =>
  (await onNode(lab, node, `ipset list ${name} | sed -n '/^Members:/,$p' | tail -n +2`)).split("\n").filter(Boolean);

describe("an IpSet named like a set it does not own", () => {
  it("is refused at create, naming the set and the rule using it; the set is untouched", async () => {
    const e = await stack.up(set("f2b-sshd")).catch((x: Error) => x);
    expect(e).toBeInstanceOf(Error);
    const m = (e as Error).message;
    expect(m).toContain('IpSet "f2b-sshd"');
    expect(m).toContain("set f2b-sshd already exists on the host and this stack does not own it");
    expect(m).toContain(`used by 1 rule(s): ${INPUT_RULE}`);
    expect(m).toContain("adopt: true");
    expect(stack.state.has("IpSet::f2b-sshd")).toBe(false);
    expect(await members("f2b-sshd")).toEqual(["203.0.113.9"]);
  });

  it("adopt: true shows in preview and takes the set over; adopted is true", async () => {
    const preview = await stack.preview(set("f2b-sshd", { adopt: true }));
    expect(preview).toMatchObject({ step: "create", inputs: { adopt: true } });
    expect(await stack.up(set("f2b-sshd", { adopt: true }))).toBe("create");
    expect(stack.state.get("IpSet::f2b-sshd")?.outputs.adopted).toBe(true);
    expect(await members("f2b-sshd")).toEqual(["198.51.100.1"]);
    expect(await stack.up(set("f2b-sshd", { adopt: true }))).toBe("same");
  });

  it("a set of a new name is created as before (adopted false); a bad adopt is refused at check", async () => {
    expect(await stack.up(set("fresh"))).toBe("create");
    expect(stack.state.get("IpSet::fresh")?.outputs.adopted).toBe(false);
    await stack.destroy("IpSet", "fresh");
    await expect(stack.preview(set("fresh", { adopt: "yes" }))).rejects.toThrow(/adopt.*must be true or false/);
  });
});
