// The transaction and batching layers on the real kernel, through the same constant scripts sshd would run.
// (The same layers over real SSH on lab nodes are covered in test/lab.)
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/intent";
import { HostBatcher } from "../../provider/node/batch";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import type { HostSession } from "../../provider/node/session";
import { newNonce, runTransaction } from "../../provider/node/transaction";
import { renderSteps } from "../../provider/protocol/steps";
import { ScratchNamespace, savedChain } from "../support/netns";
import { netnsSession } from "../support/netns-session";

const rule = (id: string, priority: number, args: Record<string, unknown>): Intent => ({
  kind: "rule",
  id,
  priority,
  rule: dockerUserRuleArgs.parse({ action: "ACCEPT", ...args }),
});
const set = (name: string, entries: string[]): Intent => ({
  kind: "set",
  name,
  spec: ipSetArgs.parse({ name, type: "hash:net", entries }),
});

describe.each(["nft", "legacy"] as const)("transactions on iptables-%s", (backend) => {
  let ns: ScratchNamespace;
  let session: ReturnType<typeof netnsSession>;
  const chain = () => savedChain(ns, backend, "ipv4", "DOCKER-USER");
  const sets = async () => (await ns.mustRun(["ipset", "list", "-n"])).split("\n").filter(Boolean).sort();

  beforeAll(async () => {
    ns = await ScratchNamespace.create();
  });
  afterAll(async () => {
    session?.dispose();
    await ns?.destroy();
  });
  beforeEach(async () => {
    await ns.exec(["ipset", "destroy"]);
    await ns.exec([`iptables-${backend}`, "-F"]);
    await ns.exec([`iptables-${backend}`, "-X"]);
    await ns.installDockerUserChain(backend, "ipv4");
    session?.dispose();
    session = netnsSession(ns);
  });

  it("creates a set and a rule that uses it in one read and one apply, then is idempotent", async () => {
    const intents = [
      set("lbs", ["198.51.100.0/26"]),
      rule("https-1", 100, { protocol: "tcp", publishedPorts: [443], source: { set: "lbs" } }),
    ];
    const first = await runTransaction(session, intents, "test");
    expect(first.results.every((r) => r.ok)).toBe(true);
    expect(session.executions()).toBe(2);
    expect(await chain()).toEqual([
      '-A DOCKER-USER -p tcp -m comment --comment "dfw:0100:https-1" -m set --match-set lbs src -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j ACCEPT',
      "-A DOCKER-USER -j RETURN",
    ]);
    expect(await sets()).toEqual(["lbs"]);
    // The node remembers which sets are ours (in its /etc; here a private overlay).
    expect(readFileSync(path.join(session.etcDir, "docker-firewall/managed-sets"), "utf8")).toBe("lbs\n");
    const again = await runTransaction(session, intents, "test");
    expect(again.plan.steps).toEqual([]);
    expect(session.executions()).toBe(3);
  });

  it("refuses, before anything runs, a rule on a missing set and a set still in use", async () => {
    const out = await runTransaction(session, [rule("r", 1, { source: { set: "nope" } })], "test");
    expect(out.results[0]).toMatchObject({ ok: false, error: { kind: "Refused" } });
    expect(String((out.results[0] as { error: Error }).error.message)).toMatch(/set nope does not exist/);
    await runTransaction(session, [set("lbs", ["10.0.0.0/8"]), rule("r", 1, { source: { set: "lbs" } })], "test");
    const del = await runTransaction(session, [{ kind: "set", name: "lbs", spec: null }], "test");
    expect(String((del.results[0] as { error: Error }).error.message)).toMatch(/still used by 1 rule/);
    // Deleting the rule and the set together works: the rule goes first.
    const both = await runTransaction(
      session,
      [
        { kind: "set", name: "lbs", spec: null },
        { kind: "rule", id: "r", priority: 1, rule: null },
      ],
      "test",
    );
    expect(both.results.every((r) => r.ok)).toBe(true);
    expect(await chain()).toEqual(["-A DOCKER-USER -j RETURN"]);
    expect(await sets()).toEqual([]);
  });

  it("leaves the host exactly as before when the kernel rejects a step (set removed under our feet)", async () => {
    await runTransaction(
      session,
      [set("old", ["10.0.0.0/8"]), rule("keep", 5, { protocol: "udp", publishedPorts: [53] })],
      "test",
    );
    const beforeChain = await chain();
    const beforeSets = await ns.mustRun(["ipset", "save", "old"]);
    // Between our read and our apply, another tool destroys the set our new rule will use.
    const racy: HostSession = {
      ...session,
      run: async (command, stdin) => {
        if (command.includes("awk")) await ns.mustRun(["ipset", "destroy", "victim"]);
        return session.run(command, stdin);
      },
    };
    await ns.mustRun(["ipset", "create", "victim", "hash:net"]);
    const out = await runTransaction(
      racy,
      [
        set("old", ["172.16.0.0/12"]),
        set("fresh", ["192.0.2.0/24"]),
        rule("uses-victim", 9, { source: { set: "victim" } }),
      ],
      "test",
    );
    expect(out.results.every((r) => !r.ok)).toBe(true);
    const err = (out.results[0] as { error: Error & { kind: string; hostUnchanged: boolean } }).error;
    expect(err.kind).toBe("KernelRejected");
    expect(err.hostUnchanged).toBe(true);
    expect(err.message).toMatch(/victim/);
    expect(out.culprit).toBe(2);
    expect(await chain()).toEqual(beforeChain);
    expect(await ns.mustRun(["ipset", "save", "old"])).toEqual(beforeSets);
    expect(await sets()).toEqual(["old"]);
  });

  it("changes a few members of a set in place; if the set vanishes before the apply, nothing changed", async () => {
    const nets = (from: number, n: number) => Array.from({ length: n }, (_, i) => `10.${from + i}.0.0/16`);
    await runTransaction(session, [set("big", nets(0, 20))], "test");
    const changed = set("big", [...nets(1, 19), "192.0.2.0/24"]);
    const seen: string[] = [];
    const spying: HostSession = {
      ...session,
      run: async (command, stdin) => {
        if (command.includes("awk")) seen.push(stdin ?? "");
        return session.run(command, stdin);
      },
    };
    const ok = await runTransaction(spying, [changed], "test");
    expect(ok.results.every((r) => r.ok)).toBe(true);
    // Two lines on the live set (no temporary set of 20), and the set holds the new members.
    expect(seen.join("")).toMatch(/\nadd big 192\.0\.2\.0\/24\ndel big 10\.0\.0\.0\/16\n/);
    expect(seen.join("")).not.toMatch(/dfwtmp-/);
    expect((await ns.mustRun(["ipset", "save", "big"])).match(/^add /gm)).toHaveLength(20);

    // Between our read and our apply, another tool destroys the set: the change fails on its first line, and the
    // inverse has nothing to undo (no cleanup failure is reported).
    const racy: HostSession = {
      ...session,
      run: async (command, stdin) => {
        if (command.includes("awk")) await ns.mustRun(["ipset", "destroy", "big"]);
        return session.run(command, stdin);
      },
    };
    const out = await runTransaction(racy, [set("big", nets(2, 20))], "test");
    const err = (out.results[0] as { error: Error & { kind: string; hostUnchanged: boolean } }).error;
    expect([err.kind, err.hostUnchanged]).toEqual(["KernelRejected", true]);
    expect(await sets()).toEqual([]);
  });

  it("accepts a foreign rule inserted mid-apply that leaves ours in place; restores and retries when it does not", async () => {
    const insert = (n: number) =>
      ns.mustRun([`iptables-${backend}`, "-I", "DOCKER-USER", "1", "-s", `192.0.2.${n}`, "-j", "DROP"]);
    let raced = 0;
    let every = false;
    const racy: HostSession = {
      ...session,
      run: async (command, stdin) => {
        if (command === NetfilterCommands.applySteps && (every || raced === 0)) await insert(++raced);
        return session.run(command, stdin);
      },
    };
    const first = await runTransaction(racy, [rule("k", 1, { protocol: "udp", publishedPorts: [53] })], "test");
    expect(first.results[0]).toEqual({ ok: true });
    expect((await chain()).slice(1)).toEqual(["-A DOCKER-USER -s 192.0.2.1/32 -j DROP", "-A DOCKER-USER -j RETURN"]);
    // Block k stays at the top; the insert before each apply shifts our `-I 2` above it, at every attempt.
    every = true;
    const out = await runTransaction(racy, [rule("a", 2, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(out.results[0]).toMatchObject({ ok: false, error: { kind: "VerifyFailed", restored: true } });
    expect(raced).toBe(7);
    const after = await chain();
    expect(after[0]).toMatch(/dfw:0001:k/);
    expect(after.filter((l) => l.includes("dfw:"))).toHaveLength(1);
    expect(after).toHaveLength(9);
  });

  it("runs nothing when the step list arrives cut short (connection dropped while sending)", async () => {
    const nonce = newNonce();
    const full = renderSteps(nonce, { name: "cut", token: "00" }, [
      { label: "set", run: { tool: "ipset", text: "create cut hash:net\n" } },
      { label: "rule", run: { tool: `${backend}-ipv4`, text: "*filter\n-I DOCKER-USER 1 -j ACCEPT\nCOMMIT\n" } },
    ]);
    const cut = full.slice(0, full.indexOf(`@@${nonce} end`));
    const r = await ns.exec(["sh", "-c", NetfilterCommands.applySteps], cut);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/incomplete/);
    expect(await sets()).toEqual([]);
    expect(await chain()).toEqual(["-A DOCKER-USER -j RETURN"]);
  });

  it("coalesces 40 concurrent operations into one transaction and pins a failure on its cause", async () => {
    const batcher = new HostBatcher(session, "test");
    const ops = Array.from({ length: 40 }, (_, i) => rule(`r${i}`, i, { protocol: "tcp", publishedPorts: [1000 + i] }));
    const results = await Promise.all(
      [...ops, rule("bad", 99, { source: { set: "missing" } })].map((x) => batcher.submit(x)),
    );
    expect(results.slice(0, 40).every((s) => s.result.ok)).toBe(true);
    expect(results[40]?.result).toMatchObject({ ok: false, error: { kind: "Refused" } });
    expect(batcher.transactions).toBe(1);
    expect(session.executions()).toBe(2);
    expect(await chain()).toHaveLength(41);
  });
});
