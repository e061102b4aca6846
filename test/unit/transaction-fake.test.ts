// planTransaction + runTransaction (node/transaction.ts) against an in-memory FakeHost: one read and one apply per
// transaction, refusals before anything runs, a kernel refusal or a failed boot-file write leaving the node exactly
// as before (blame included), and a lost lock or a cut step list applying nothing.
import { describe, expect, it } from "vitest";
import { runTransaction } from "../../provider/node/transaction";
import { FakeHost } from "../support/fake-host/fake-host";
import { errorOf, rule, set } from "../support/fake-host/intents";

describe.each(["nft", "legacy"] as const)("transactions on a fake iptables-%s node", (backend) => {
  it("creates a set and a rule that uses it in one read and one apply, then is idempotent", async () => {
    const host = new FakeHost({ backend });
    const intents = [
      set("lbs", ["198.51.100.0/26"]),
      rule("https-1", 100, { protocol: "tcp", publishedPorts: [443], source: { set: "lbs" } }),
    ];
    const first = await runTransaction(host, intents, "test");
    expect(first.results.every((r) => r.ok)).toBe(true);
    expect(host.executions()).toBe(2);
    expect(host.chain(backend, "ipv4")).toEqual([
      '-A DOCKER-USER -p tcp -m comment --comment "dfw:0100:https-1" -m set --match-set lbs src -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j ACCEPT',
      "-A DOCKER-USER -j RETURN",
    ]);
    expect(host.node.ipsets.names()).toEqual(["lbs"]);
    expect(host.node.boot.files.get("/etc/docker-firewall/managed-sets")).toBe("lbs\n");
    const again = await runTransaction(host, intents, "test");
    expect(again.plan.steps).toEqual([]);
    expect(host.executions()).toBe(3);
  });

  it("refuses, before anything runs, a rule on a missing set and a set still in use", async () => {
    const host = new FakeHost({ backend });
    const out = await runTransaction(host, [rule("r", 1, { source: { set: "nope" } })], "test");
    expect(errorOf(out.results[0])).toMatchObject({ kind: "Refused" });
    expect(errorOf(out.results[0]).message).toMatch(/set nope does not exist/);
    expect(host.executions()).toBe(1);
    await runTransaction(host, [set("lbs", ["10.0.0.0/8"]), rule("r", 1, { source: { set: "lbs" } })], "test");
    const del = await runTransaction(host, [{ kind: "set", name: "lbs", spec: null }], "test");
    expect(errorOf(del.results[0]).message).toMatch(/still used by 1 rule/);
    const both = await runTransaction(
      host,
      [
        { kind: "set", name: "lbs", spec: null },
        { kind: "rule", id: "r", priority: 1, rule: null },
      ],
      "test",
    );
    expect(both.results.every((r) => r.ok)).toBe(true);
    expect(host.chain(backend, "ipv4")).toEqual(["-A DOCKER-USER -j RETURN"]);
    expect(host.node.ipsets.names()).toEqual([]);
  });

  it("never destroys a set another tool created under the same name between our read and our apply", async () => {
    const host = new FakeHost({ backend });
    // Between our read and our apply, another tool creates the set we are about to create, with its own member.
    host.inject({
      kind: "interfere",
      act: (node) => node.restoreSets("create theirs hash:net\nadd theirs 203.0.113.9\n", false),
    });
    const out = await runTransaction(host, [set("theirs", ["198.51.100.0/26"])], "test");
    expect(errorOf(out.results[0])).toMatchObject({ kind: "KernelRejected", hostUnchanged: true });
    expect(errorOf(out.results[0]).message).toMatch(/a set with the new name already exists/);
    expect(host.node.ipsets.names()).toEqual(["theirs"]);
    expect(host.dump()).toMatch(/add theirs 203\.0\.113\.9/);
  });

  it("leaves the node exactly as before when the kernel rejects a step, and blames the rule that used the set", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(
      host,
      [set("old", ["10.0.0.0/8"]), rule("keep", 5, { protocol: "udp", publishedPorts: [53] })],
      "test",
    );
    host.ipset("create victim hash:net\n");
    const before = host.dump();
    // Between our read and our apply, another tool destroys the set our new rule will use.
    host.inject({ kind: "interfere", act: (node) => node.restoreSets("destroy victim\n", false) });
    const out = await runTransaction(
      host,
      [
        set("old", ["172.16.0.0/12"]),
        set("fresh", ["192.0.2.0/24"]),
        rule("uses-victim", 9, { source: { set: "victim" } }),
      ],
      "test",
    );
    expect(out.results.every((r) => !r.ok)).toBe(true);
    const err = errorOf(out.results[0]);
    expect(err).toMatchObject({ kind: "KernelRejected", hostUnchanged: true });
    expect(err.message).toMatch(/Set victim doesn't exist/);
    expect(err.line).toMatch(/--match-set victim/);
    expect(out.culprit).toBe(2);
    host.ipset("create victim hash:net\n");
    expect(host.dump()).toBe(before);
  });

  it("undoes the kernel steps when the boot files cannot be written (a full disk)", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "test");
    await runTransaction(host, [{ kind: "persistence", config: { exclusive: false } }], "test");
    const before = host.dump();
    host.inject({ kind: "fail-persist" });
    const out = await runTransaction(
      host,
      [set("s", ["192.0.2.0/24"]), rule("b", 2, { protocol: "tcp", publishedPorts: [81], source: { set: "s" } })],
      "test",
    );
    const err = errorOf(out.results[0]);
    expect(err).toMatchObject({ kind: "KernelRejected", hostUnchanged: true });
    expect(err.message).toMatch(/could not write the persisted files.*disk full/);
    expect(host.dump()).toBe(before);
  });

  it("says the host may have changed when a cleanup fails too", async () => {
    const host = new FakeHost({ backend });
    host.inject({ kind: "refuse-line", line: 2, tool: `${backend}-ipv4` }, { kind: "fail-cleanups" });
    const out = await runTransaction(
      host,
      [set("s", ["192.0.2.0/24"]), rule("b", 2, { protocol: "tcp", publishedPorts: [81], source: { set: "s" } })],
      "test",
    );
    expect(errorOf(out.results[0])).toMatchObject({ kind: "KernelRejected", hostUnchanged: false });
    expect(errorOf(out.results[0]).message).toMatch(/a cleanup failed too/);
    expect(out.culprit).toBe(1);
  });

  it("applies nothing when the lock was lost before the apply ran, or the step list arrived cut", async () => {
    const host = new FakeHost({ backend });
    const before = host.dump();
    host.inject({ kind: "lose-lock" });
    await expect(
      runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "t"),
    ).rejects.toMatchObject({
      kind: "Refused",
      message: expect.stringMatching(/node lock was lost/),
    });
    host.inject({ kind: "lose-lock-connection" });
    await expect(
      runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "t"),
    ).rejects.toMatchObject({
      kind: "ConnectionLost",
    });
    host.inject({ kind: "cut-while-sending" });
    await expect(
      runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "t"),
    ).rejects.toMatchObject({
      kind: "ConnectionLost",
    });
    expect(host.dump()).toBe(before);
  });

  it("applies everything when the connection drops after sending: the next run finds it done", async () => {
    const host = new FakeHost({ backend });
    host.inject({ kind: "cut-after-sending" });
    const intents = [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })];
    await expect(runTransaction(host, intents, "t")).rejects.toMatchObject({ kind: "ConnectionLost" });
    expect(host.chain(backend, "ipv4")).toHaveLength(2);
    const again = await runTransaction(host, intents, "t");
    expect(again.plan.steps).toEqual([]);
  });
});
