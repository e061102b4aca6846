// Lockout safety: DOCKER-USER only sees forwarded traffic, so no rule the provider can create cuts the SSH
// session it manages the host through (that traffic goes to INPUT). Secrets: with the private key given as a
// resource input, it appears in no output other than the `connection` the engine stores encrypted, in no
// error, and in no persisted file.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { persistentProvider } from "../../provider/resources/persistent-provider";
import { ruleProvider } from "../../provider/resources/rule-provider";
import { sharedLab } from "../support/lab";
import { probeNode } from "../support/node-probe";
import { recordCase } from "./results";

let lab: LabInventory;
let node: LabNode;
let key: string;
const connection = () => ({
  host: node.ssh.host,
  port: node.ssh.port,
  user: "root",
  hostKey: node.ssh.hostKey,
  privateKey: key,
});

beforeAll(async () => {
  lab = await sharedLab();
  node = lab.nodes[2] as LabNode;
  key = readFileSync(node.privateKeyPath, "utf8");
});

describe("lockout safety", () => {
  const created: Array<{ id: string; outs: Record<string, unknown> }> = [];
  afterAll(async () => {
    for (const c of created.reverse()) await ruleProvider.delete?.(c.id, c.outs as never);
  });

  it("a DROP-everything rule blocks containers but not the provider's own SSH management", async () => {
    const t0 = performance.now();
    const checked = await ruleProvider.check?.(
      {} as never,
      { connection: connection(), ruleName: "drop-all", priority: 0, action: "DROP" } as never,
    );
    const rule = await ruleProvider.create(checked?.inputs as never);
    created.push({ id: rule.id, outs: rule.outs as Record<string, unknown> });
    expect(await probeNode(lab, node)).toEqual({
      allowedWeb: "blocked",
      deniedWeb: "blocked",
      allowedUdp: "blocked",
      deniedUdp: "blocked",
    });
    // The same pooled connection, and a brand-new one, still manage the host.
    const read = await ruleProvider.read?.(rule.id, rule.outs as never);
    expect(read?.id).toBe(rule.id);
    expect((await sshExec(node, "echo still-here")).stdout.trim()).toBe("still-here");
    await ruleProvider.delete?.(rule.id, rule.outs as never);
    created.pop();
    expect((await probeNode(lab, node)).allowedWeb).toBe("open");
    recordCase("lockout: DROP-all keeps SSH management", 1, 1, 0, performance.now() - t0);
  });
});

describe("secrets as inputs", () => {
  it("the private key appears only in `connection` (encrypted by the engine), never in errors or on the host", async () => {
    const checked = await ruleProvider.check?.(
      {} as never,
      { connection: connection(), ruleName: "s", action: "ACCEPT", protocol: "tcp", publishedPorts: [8080] } as never,
    );
    const rule = await ruleProvider.create(checked?.inputs as never);
    const persisted = await persistentProvider.create({ connection: connection() } as never);
    const { connection: conn, ...rest } = rule.outs as Record<string, unknown>;
    const keyLines = key.split("\n").filter((l) => l.trim().length >= 16);
    expect((conn as { privateKey?: string }).privateKey).toBe(key);
    const elsewhere = JSON.stringify(rest) + JSON.stringify({ ...persisted.outs, connection: undefined });
    // A failing operation's error: a rule on a set that does not exist.
    const bad = await ruleProvider.check?.(
      {} as never,
      { connection: connection(), ruleName: "b", action: "ACCEPT", source: { set: "missing" } } as never,
    );
    const err = await ruleProvider.create(bad?.inputs as never).then(
      () => "",
      (e: Error) => e.message,
    );
    expect(err).toMatch(/set missing does not exist/);
    const files = (await sshExec(node, "cat /etc/docker-firewall/* /etc/systemd/system/docker-firewall.service"))
      .stdout;
    for (const l of keyLines) {
      expect(elsewhere).not.toContain(l.trim());
      expect(err).not.toContain(l.trim());
      expect(files).not.toContain(l.trim());
    }
    await persistentProvider.delete?.(persisted.id, persisted.outs as never);
    await ruleProvider.delete?.(rule.id, rule.outs as never);
    recordCase("secrets: key only in encrypted connection", keyLines.length * 3, keyLines.length * 3, 0);
  });
});
