// Verification and restore (node/transaction.ts) against a FakeHost: a read-back that disagrees with the plan makes
// the run put back what it touched (chain blocks, sets, boot files), and says whether that worked. And, for
// generated transactions, a refused line or a failed boot-file write anywhere leaves the node byte for byte as it was.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runTransaction } from "../../provider/node/transaction";
import { FakeHost } from "../support/fake-host/fake-host";
import type { Fault } from "../support/fake-host/faults";
import { errorOf, rule } from "../support/fake-host/intents";
import { transactions } from "../support/fake-host/transactions";

const FOREIGN = "*filter\n-I DOCKER-USER 1 -s 192.0.2.9/32 -j DROP\nCOMMIT\n";

describe.each(["nft", "legacy"] as const)("verify and restore on a fake iptables-%s node", (backend) => {
  const foreignRule = (): Fault => ({
    kind: "interfere",
    act: (node) => {
      const r = node.restoreRules(backend, "ipv4", FOREIGN);
      if (!r.ok) throw new Error(r.message);
    },
  });

  it("restores what it touched when a foreign rule appears mid-apply", async () => {
    const host = new FakeHost({ backend });
    host.inject(foreignRule());
    const out = await runTransaction(host, [rule("a", 1, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(errorOf(out.results[0])).toMatchObject({ kind: "VerifyFailed", restored: true });
    expect(errorOf(out.results[0]).message).toMatch(/Another tool may be changing DOCKER-USER/);
    expect(host.chain(backend, "ipv4")).toEqual(["-A DOCKER-USER -s 192.0.2.9/32 -j DROP", "-A DOCKER-USER -j RETURN"]);
    expect(host.executions()).toBe(3);
  });

  it("puts the boot files back with the kernel", async () => {
    const host = new FakeHost({ backend });
    await runTransaction(host, [rule("keep", 1, { protocol: "udp", publishedPorts: [53] })], "test");
    await runTransaction(host, [{ kind: "persistence", config: { exclusive: false } }], "test");
    const files = new Map(host.node.boot.files);
    host.inject(foreignRule());
    const out = await runTransaction(host, [rule("a", 2, { protocol: "tcp", publishedPorts: [80] })], "test");
    expect(errorOf(out.results[0])).toMatchObject({ kind: "VerifyFailed", restored: true });
    expect(out.plan.persisted.written.length).toBeGreaterThan(0);
    expect(host.node.boot.files).toEqual(files);
  });

  it("says so when the restore itself is refused", async () => {
    const host = new FakeHost({ backend });
    host.inject(foreignRule()).injectLater(1, { kind: "refuse-line", line: 2 });
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
