// Verification and restore (node/transaction.ts) against a FakeHost: a read-back that disagrees with the plan makes
// the run put back what it touched (chain blocks, sets, boot files), retry, and say whether that worked; one that
// differs only by another tool's rule, ours still in place, is accepted. And, for
// generated transactions, a refused line or a failed boot-file write anywhere leaves the node byte for byte as it was.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Intent } from "../../provider/netfilter/intent";
import { runTransaction } from "../../provider/node/transaction";
import { FakeHost } from "../support/fake-host/fake-host";
import type { Fault } from "../support/fake-host/faults";
import { errorOf, rule } from "../support/fake-host/intents";
import { transactions } from "../support/fake-host/transactions";

/** Boot persistence with a policy that keeps foreign DROP rules above ours. */
const DROPS_ABOVE: Intent = {
  kind: "persistence",
  config: { exclusive: false, foreign: { keepAbove: [{ jump: "DROP" }], ignore: [] } },
};

describe.each(["nft", "legacy"] as const)("verify and restore on a fake iptables-%s node", (backend) => {
  /** Another tool inserting its rule at the top after our read (fail2ban starting a jail): it takes no lock. */
  const topInsert = (n = 9): Fault => ({
    kind: "interfere",
    act: (node) => {
      const r = node.restoreRules(backend, "ipv4", `*filter\n-I DOCKER-USER 1 -s 192.0.2.${n}/32 -j DROP\nCOMMIT\n`);
      if (!r.ok) throw new Error(r.message);
    },
  });
  /** The same tool at every apply of a transaction's attempts (the restores between them run untouched). */
  const insertAtEveryAttempt = (host: FakeHost) => {
    host.inject(topInsert(1)).injectLater(2, topInsert(2)).injectLater(4, topInsert(3));
  };

  it("accepts a foreign rule that appears mid-apply when ours still sit where they belong", async () => {
    const host = new FakeHost({ backend });
    host.inject(topInsert());
    const out = await runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(out.results[0]).toEqual({ ok: true });
    const chain = host.chain(backend, "ipv4");
    expect(chain[0]).toMatch(/dfw:0001:a/);
    expect(chain.slice(1)).toEqual(["-A DOCKER-USER -s 192.0.2.9/32 -j DROP", "-A DOCKER-USER -j RETURN"]);
    expect(host.executions()).toBe(2);
  });

  it("retries when a top insert shifted ours above a kept-above rule, and ends below it", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(host, [DROPS_ABOVE], "test");
    host.inject(topInsert());
    const out = await runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(out.results[0]).toEqual({ ok: true });
    expect(host.chain(backend, "ipv4")[0]).toBe("-A DOCKER-USER -s 192.0.2.9/32 -j DROP");
    expect(host.chain(backend, "ipv4")[1]).toMatch(/dfw:0001:a/);
  });

  it("retries a step the kernel refused whole because another tool's deletes made an `-I n` too big", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(host, [DROPS_ABOVE], "test");
    for (const n of [1, 2])
      host.iptables(backend, "ipv4", `*filter\n-I DOCKER-USER 1 -s 192.0.2.${n}/32 -j DROP\nCOMMIT\n`);
    const sent = host.executions();
    // fail2ban stopping: both its rules leave between our read and our `-I DOCKER-USER 3`.
    host.inject({
      kind: "interfere",
      act: (node) => {
        const r = node.restoreRules(
          backend,
          "ipv4",
          "*filter\n-D DOCKER-USER -s 192.0.2.1/32 -j DROP\n-D DOCKER-USER -s 192.0.2.2/32 -j DROP\nCOMMIT\n",
        );
        if (!r.ok) throw new Error(r.message);
      },
    });
    const out = await runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(out.results[0]).toEqual({ ok: true });
    expect(host.chain(backend, "ipv4")).toEqual([expect.stringMatching(/dfw:0001:a/), "-A DOCKER-USER -j RETURN"]);
    // Two attempts: a read and an apply each.
    expect(host.executions() - sent).toBe(4);
  });

  it("with nothing kept below ours (no Docker RETURN), appends them: top inserts mid-apply spoil nothing", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(host, [DROPS_ABOVE], "test");
    host.iptables(
      backend,
      "ipv4",
      "*filter\n-D DOCKER-USER -j RETURN\n-I DOCKER-USER 1 -s 192.0.2.9/32 -j DROP\nCOMMIT\n",
    );
    const sent = host.executions();
    insertAtEveryAttempt(host);
    const out = await runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(out.results[0]).toEqual({ ok: true });
    expect(host.executions() - sent).toBe(2);
    expect(host.chain(backend, "ipv4")).toEqual([
      "-A DOCKER-USER -s 192.0.2.1/32 -j DROP",
      "-A DOCKER-USER -s 192.0.2.9/32 -j DROP",
      expect.stringMatching(/dfw:0001:a/),
    ]);
  });

  it("restores what it touched when another tool's inserts keep spoiling every attempt", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(host, [DROPS_ABOVE], "test");
    const sent = host.executions();
    insertAtEveryAttempt(host);
    const out = await runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(errorOf(out.results[0])).toMatchObject({ kind: "VerifyFailed", restored: true });
    expect(errorOf(out.results[0]).message).toMatch(/Another tool may be changing DOCKER-USER/);
    expect(host.chain(backend, "ipv4")).toEqual([
      "-A DOCKER-USER -s 192.0.2.3/32 -j DROP",
      "-A DOCKER-USER -s 192.0.2.2/32 -j DROP",
      "-A DOCKER-USER -s 192.0.2.1/32 -j DROP",
      "-A DOCKER-USER -j RETURN",
    ]);
    // Three attempts, each a read, an apply and a restore.
    expect(host.executions() - sent).toBe(9);
  });

  it("puts the boot files back with the kernel", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(host, [rule("keep", 1, { protocol: "udp", publishedPorts: [53] })], "test");
    await runTransaction(host, [DROPS_ABOVE], "test");
    const files = new Map(host.node.boot.files);
    insertAtEveryAttempt(host);
    const out = await runTransaction(host, [rule("a", 2, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(errorOf(out.results[0])).toMatchObject({ kind: "VerifyFailed", restored: true });
    expect(out.plan.persisted.written.length).toBeGreaterThan(0);
    expect(host.node.boot.files).toEqual(files);
  });

  it("says so when the restore itself is refused (and does not retry)", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(host, [DROPS_ABOVE], "test");
    host.inject(topInsert()).injectLater(1, { kind: "refuse-line", line: 2 });
    const out = await runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(errorOf(out.results[0])).toMatchObject({ kind: "VerifyFailed", restored: false });
    expect(errorOf(out.results[0]).message).toMatch(/restoring what this run touched FAILED/);
  });

  it("leaves the node as it was whatever line is refused, in generated transactions (all or none)", async () => {
    const fault = fc.oneof(
      fc.record({
        kind: fc.constant("refuse-line" as const),
        line: fc.integer({ min: 1, max: 12 }),
        tool: fc.constantFrom(undefined, "ipset", `${backend}-ipv4`, `${backend}-ipv6`),
      }),
      fc.constant({ kind: "fail-persist" as const }),
    );
    let failures = 0;
    await fc.assert(
      fc.asyncProperty(transactions(1, 3), fault, async (batches, f) => {
        const host = new FakeHost({ backend, families: ["ipv4", "ipv6"] });
        for (const intents of batches.slice(0, -1)) await runTransaction(host, intents, "setup");
        const last = batches[batches.length - 1] ?? [];
        const before = host.dump();
        host.inject(f.kind === "refuse-line" && f.tool === undefined ? { kind: f.kind, line: f.line } : (f as Fault));
        const out = await runTransaction(host, last, "test");
        const rejected = out.results.find((r) => !r.ok && r.error.kind === "KernelRejected");
        if (rejected) {
          failures++;
          expect(errorOf(rejected)).toMatchObject({ hostUnchanged: true });
          expect(host.dump()).toBe(before);
        } else {
          // The fault found no step to hit: the transaction applied, and running it again changes no kernel state
          // (turning persistence off leaves the list of owned sets to the next apply: planPersistence).
          expect(out.results.every((r) => r.ok || r.error.kind === "Refused")).toBe(true);
          const again = await runTransaction(host, last, "again");
          expect(again.plan.steps.filter((s) => s.run.tool !== "persist")).toEqual([]);
        }
      }),
      { numRuns: 50 },
    );
    expect(failures).toBeGreaterThan(5);
  });
});
