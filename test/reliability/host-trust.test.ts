// Host trust on a private lab node (its host key is changed here), through the resource providers:
// - a wrong pinned host key is refused as a possible man-in-the-middle, before any command runs;
// - trust on first use: connected once without a pinned key, the node's key then changes (regenerated inside
//   the node, sshd restarted) and the next connection is refused with the MITM message, both in the same
//   provider process and in the next run (a new provider-host process given the state of the first);
// - agent-only authentication: no key anywhere but in an ssh-agent (root and the sudo user), and an agent
//   without the key is refused as an authentication failure.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabInventory, LabNode } from "../../lab/index";
import { hostKeyFingerprint } from "../../lab/sshd";
import { parseConnection } from "../../provider/model/connection";
import { forgetHostKeys, observedHostKey } from "../../provider/node/host-key";
import { defaultPool } from "../../provider/node/ssh-pool";
import { ruleShim } from "../../provider/resources/shims";
import { EngineHost, EngineStack, inProcess, type Props, settle } from "../support/engine";

const rules = inProcess("DockerUserRule", "tofu");

import { managedState, type PrivateLab, rekeyNode, upPrivateLab } from "../support/rel-lab";

import { recordCase } from "./results";

const execFileAsync = promisify(execFile);

let priv: PrivateLab;
let lab: LabInventory;
let node: LabNode;
let privateKey: string;
let hostText: string;

beforeAll(async () => {
  delete process.env.SSH_AUTH_SOCK;
  priv = await upPrivateLab(1);
  lab = priv.lab;
  node = lab.nodes[0] as LabNode;
  privateKey = readFileSync(node.privateKeyPath, "utf8");
  hostText = `root@127.0.0.1:${node.ssh.port}`;
}, 120_000);

afterAll(async () => {
  defaultPool.closeAll();
  await priv?.down();
});

const base = (extra: Props = {}): Props => ({
  host: node.ssh.host,
  port: node.ssh.port,
  user: "root",
  ...extra,
});

const ruleArgs = (name: string, connection: Props, port = 7000): Props => ({
  connection,
  ruleName: name,
  priority: 50,
  action: "ACCEPT",
  protocol: "tcp",
  publishedPorts: [port],
});

/** Creates the rule (check + create, as the engine does); the outcome and, on success, the outputs. */
async function create(name: string, connection: Props) {
  const inputs = await rules.check({}, ruleArgs(name, connection));
  let outs: Props | undefined;
  const outcome = await settle(
    rules.create(inputs).then((r) => {
      outs = r.outs;
    }),
  );
  return { outcome, outs, id: inputs.ruleId as string };
}

const anotherEd25519Key = () =>
  `ssh-ed25519 ${Buffer.concat([
    Buffer.from([0, 0, 0, 11]),
    Buffer.from("ssh-ed25519"),
    Buffer.from([0, 0, 0, 32]),
    randomBytes(32),
  ]).toString("base64")}`;

describe("a wrong pinned host key", () => {
  it("is refused as a possible man-in-the-middle before any command runs; nothing changes", async () => {
    const keys = [anotherEd25519Key(), anotherEd25519Key(), hostKeyFingerprint(anotherEd25519Key())];
    const before = await managedState(lab, node);
    let passed = 0;
    const t0 = performance.now();
    for (const hostKey of keys) {
      const execs = defaultPool.stats().execs;
      const { outcome, id } = await create("mitm", base({ privateKey, hostKey }));
      expect(outcome.ok).toBe(false);
      const m = outcome.ok ? "" : outcome.error.message;
      expect(m).toContain(`DockerUserRule "mitm (${id})" on ${hostText}: HOST KEY MISMATCH for ${hostText}`);
      expect(m).toContain(`expected ${hostKey.startsWith("SHA256:") ? hostKey : hostKeyFingerprint(hostKey)}`);
      expect(m).toContain(`the server presented ${node.ssh.hostKeyFingerprint}`);
      expect(m).toMatch(/man-in-the-middle.*Refusing to connect/s);
      expect(m).not.toContain("PRIVATE KEY");
      expect(defaultPool.stats().execs).toBe(execs);
      expect(await managedState(lab, node)).toBe(before);
      passed++;
    }
    recordCase(
      "host trust: wrong pinned host key refused",
      keys.length,
      passed,
      keys.length - passed,
      performance.now() - t0,
    );
  });
});

describe("trust on first use, then the host key changes", () => {
  let firstKey: string;
  let newKey: string;
  const tofu = () => base({ privateKey });
  let made: { id: string; outs: Props } | undefined;
  let runState: EngineStack | undefined;
  const engines: EngineHost[] = [];
  afterAll(() => {
    for (const e of engines) e.stop();
  });

  it("the same process refuses the changed key with the MITM message; nothing changes", async () => {
    forgetHostKeys();
    const first = await create("tofu", tofu());
    expect(first.outcome).toEqual({ ok: true });
    made = { id: first.id, outs: first.outs as Props };
    firstKey = node.ssh.hostKeyFingerprint;
    expect(observedHostKey(parseConnection(tofu() as { host: string }))).toBe(firstKey);
    expect(made.outs.hostKey).toBe(firstKey);

    newKey = await rekeyNode(lab, node);
    defaultPool.closeAll(); // the pooled connection was made before the change: the next operation dials again
    const before = await managedState(lab, node);
    const changed = await settle(
      rules.update(made.id, made.outs, await rules.check(made.outs, ruleArgs("tofu", tofu(), 7001))),
    );
    expect(changed.ok).toBe(false);
    const m = changed.ok ? "" : changed.error.message;
    expect(m).toContain(`DockerUserRule "tofu (${made.id})" on ${hostText}: HOST KEY MISMATCH for ${hostText}`);
    expect(m).toContain(`expected ${firstKey} (the key this host presented first)`);
    expect(m).toContain(`presented ${hostKeyFingerprint(newKey)}`);
    expect(m).toMatch(/man-in-the-middle/);
    expect(await managedState(lab, node)).toBe(before);
    recordCase("host trust: TOFU key change refused (same process)", 1, 1, 0);
  });

  it("the next run (a new provider process, given the first run's state) refuses it too", async () => {
    // Run 1 (before the change): create through the engine protocol, keeping the state it returns.
    const key = newKey;
    const run1 = await EngineHost.start({
      cwd: process.cwd(),
      project: "rel-tofu-1",
      config: { "docker-firewall:privateKey": privateKey },
    });
    engines.push(run1);
    runState = new EngineStack(run1, { DockerUserRule: ruleShim });
    const declared = (port: number) => ({
      type: "DockerUserRule" as const,
      name: "tofu-run",
      inputs: ruleArgs("tofu-run", base(), port),
    });
    expect(await runState.up(declared(7100))).toBe("create");
    const stored = runState.state.get("DockerUserRule::tofu-run");
    expect(stored?.outputs.hostKey).toBe(hostKeyFingerprint(key));
    run1.stop();
    // The key changes; run 2 is a fresh process that only has the state.
    const changedTo = await rekeyNode(lab, node);
    const run2 = await EngineHost.start({
      cwd: process.cwd(),
      project: "rel-tofu-2",
      config: { "docker-firewall:privateKey": privateKey },
    });
    engines.push(run2);
    const stack2 = new EngineStack(run2, { DockerUserRule: ruleShim });
    for (const [k, v] of runState.state) stack2.state.set(k, v);
    const before = await managedState(lab, node);
    const refreshed = await settle(stack2.refresh("DockerUserRule", "tofu-run"));
    const updated = await settle(stack2.up(declared(7101)));
    const after = await managedState(lab, node);
    const messages = [refreshed, updated].map((o) => (o.ok ? "(accepted)" : o.error.message));
    const refused = messages.filter(
      (m) =>
        m.includes(`DockerUserRule "tofu-run`) &&
        m.includes(`HOST KEY MISMATCH for ${hostText}: expected ${hostKeyFingerprint(key)}`) &&
        /man-in-the-middle/.test(m),
    ).length;
    recordCase("host trust: TOFU key change refused (next run, from state)", 2, refused, 2 - refused);
    // Clean up with the new key pinned (how a legitimate change is accepted).
    const pinned = { ...declared(7100), inputs: ruleArgs("tofu-run", base({ hostKey: changedTo }), 7100) };
    await stack2.up(pinned).catch(() => undefined);
    await stack2.destroy("DockerUserRule", "tofu-run").catch(() => undefined);
    expect({ messages, unchanged: after === before }).toMatchObject({ unchanged: true });
    expect(refused, `the next run accepted the changed key: ${messages.join(" | ")}`).toBe(2);
  });
});

describe("a create on a node whose key another resource recorded", () => {
  const engines: EngineHost[] = [];
  afterAll(() => {
    for (const e of engines) e.stop();
  });
  const start = async (project: string) => {
    const e = await EngineHost.start({
      cwd: process.cwd(),
      project,
      config: { "docker-firewall:privateKey": privateKey },
    });
    engines.push(e);
    return e;
  };
  const declared = (name: string, port: number, extra: Props = {}) => ({
    type: "DockerUserRule" as const,
    name,
    inputs: ruleArgs(name, base(extra), port),
  });

  it("the next run's create is held to the recorded key: a changed key is refused, nothing changes", async () => {
    const run1 = new EngineStack(await start("rel-seed-1"), { DockerUserRule: ruleShim });
    expect(await run1.up(declared("seed-a", 7200))).toBe("create");
    const recorded = run1.state.get("DockerUserRule::seed-a")?.outputs.hostKey;
    expect(recorded).toMatch(/^SHA256:/);
    const changedTo = await rekeyNode(lab, node);
    // Run 2: a fresh process with run 1's state; resource a is unchanged, resource b is new.
    const run2 = new EngineStack(await start("rel-seed-2"), { DockerUserRule: ruleShim });
    for (const [k, v] of run1.state) run2.state.set(k, v);
    const before = await managedState(lab, node);
    await settle(run2.up(declared("seed-a", 7200)));
    const created = await settle(run2.up(declared("seed-b", 7201)));
    const after = await managedState(lab, node);
    const m = created.ok ? "(accepted)" : created.error.message;
    const refused =
      m.includes(`HOST KEY MISMATCH for ${hostText}: expected ${recorded}`) && /man-in-the-middle/.test(m);
    recordCase("host trust: create seeded from another resource's recorded key", 1, refused ? 1 : 0, refused ? 0 : 1);
    // Clean up with the new key pinned (how a legitimate change is accepted).
    const pinned = { hostKey: changedTo };
    for (const [n, p] of [
      ["seed-a", 7200],
      ["seed-b", 7201],
    ] as const) {
      if (!run2.state.has(`DockerUserRule::${n}`)) continue;
      await run2.up(declared(n, p, pinned)).catch(() => undefined);
      await run2.destroy("DockerUserRule", n).catch(() => undefined);
    }
    expect(m).toMatch(/HOST KEY MISMATCH/);
    expect(refused, m).toBe(true);
    expect(after).toBe(before);
  });
});

// ---- agent-only authentication ------------------------------------------------------------------------------------

describe("agent-only authentication", () => {
  let dir: string;
  let agent: ChildProcess | undefined;
  let socket: string;

  const startAgent = async (name: string, keys: string[]) => {
    const sock = join(dir, `${name}.sock`);
    const child = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    for (const k of keys) await execFileAsync("ssh-add", ["-q", k], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    return { child, sock };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dfw-rel-agent-"));
    const a = await startAgent("with-key", [node.privateKeyPath]);
    agent = a.child;
    socket = a.sock;
  });
  afterAll(() => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("root and the sudo user create and delete a rule with only an agent socket", async () => {
    forgetHostKeys();
    let passed = 0;
    const users = [{ user: "root" }, { user: node.sudoUser, sudo: true }];
    for (const who of users) {
      const connection = base({ ...who, agentSocketPath: socket });
      expect(connection).not.toHaveProperty("privateKey");
      const made = await create(`agent-${who.user}`, connection);
      expect(made.outcome).toEqual({ ok: true });
      expect(await managedState(lab, node)).toContain(`dfw:0050:${made.id}`);
      await rules.delete(made.id, made.outs as Props);
      expect(await managedState(lab, node)).not.toContain(made.id);
      passed++;
    }
    recordCase("host trust: agent-only auth (root, sudo)", users.length, passed, users.length - passed);
  });

  it("an agent without the key is an authentication failure naming the host; nothing changes", async () => {
    const empty = await startAgent("empty", []);
    try {
      const before = await managedState(lab, node);
      const made = await create("agent-empty", base({ agentSocketPath: empty.sock }));
      expect(made.outcome.ok).toBe(false);
      const m = made.outcome.ok ? "" : made.outcome.error.message;
      expect(m).toContain(
        `DockerUserRule "agent-empty (${made.id})" on ${hostText}: authentication failed for ${hostText}`,
      );
      expect(await managedState(lab, node)).toBe(before);
      recordCase("host trust: agent without the key refused", 1, 1, 0);
    } finally {
      empty.child.kill("SIGKILL");
    }
  });
});
