// The batcher (node/batch.ts) against a FakeHost: concurrent operations on one node share one transaction; a
// failure is pinned on the operation that caused it and the others go again without it; a failure nobody can be
// blamed for runs each operation alone; a lost connection fails every operation of the batch.
import { describe, expect, it } from "vitest";
import { HostBatcher } from "../../provider/node/batch";
import { FakeHost } from "../support/fake-host/fake-host";
import { errorOf, rule, set } from "../support/fake-host/intents";

const port = (i: number) => ({ protocol: "tcp", publishedPorts: [1000 + i] });

describe("HostBatcher on a fake node", () => {
  it("coalesces 40 concurrent operations into one transaction and pins a refusal on its cause", async () => {
    const host = new FakeHost();
    const batcher = new HostBatcher(host, "test");
    const ops = Array.from({ length: 40 }, (_, i) => rule(`r${i}`, i, port(i)));
    const results = await Promise.all(
      [...ops, rule("bad", 99, { source: { set: "missing" } })].map((x) => batcher.submit(x)),
    );
    expect(results.slice(0, 40).every((s) => s.result.ok)).toBe(true);
    expect(errorOf(results[40]?.result)).toMatchObject({ kind: "Refused" });
    expect(batcher.transactions).toBe(1);
    expect(host.executions()).toBe(2);
    expect(host.chain("nft", "ipv4")).toHaveLength(41);
  });

  it("blames a kernel rejection on the rule whose line was refused, and applies the others in a second run", async () => {
    const host = new FakeHost();
    host.ipset("create victim hash:net\n");
    host.inject({ kind: "interfere", act: (node) => node.restoreSets("destroy victim\n", false) });
    const batcher = new HostBatcher(host, "test");
    const ops = [
      set("lbs", ["192.0.2.0/24"]),
      rule("a", 1, port(1)),
      rule("uses-victim", 2, { source: { set: "victim" } }),
      rule("b", 3, { ...port(3), source: { set: "lbs" } }),
    ];
    const results = await Promise.all(ops.map((x) => batcher.submit(x)));
    expect(errorOf(results[2]?.result)).toMatchObject({ kind: "KernelRejected", hostUnchanged: true });
    expect(errorOf(results[2]?.result).message).toMatch(/victim/);
    expect(results.filter((s) => s.result.ok)).toHaveLength(3);
    expect(batcher.transactions).toBe(2);
    expect(host.chain("nft", "ipv4")).toHaveLength(3);
  });

  it("runs each operation alone after a failure nobody can be blamed for", async () => {
    const host = new FakeHost();
    // Line 1 of the rules step is "*filter": it belongs to no rule.
    host.inject({ kind: "refuse-line", line: 1, tool: "nft-ipv4" });
    const batcher = new HostBatcher(host, "test");
    const results = await Promise.all([1, 2, 3].map((i) => batcher.submit(rule(`r${i}`, i, port(i)))));
    expect(results.every((s) => s.result.ok)).toBe(true);
    expect(batcher.transactions).toBe(4);
  });

  it("fails every operation of the batch when the connection drops after sending", async () => {
    const host = new FakeHost();
    host.inject({ kind: "cut-after-sending" });
    const batcher = new HostBatcher(host, "test");
    const settled = await Promise.allSettled([1, 2].map((i) => batcher.submit(rule(`r${i}`, i, port(i)))));
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    expect(settled[0]).toMatchObject({ reason: { kind: "ConnectionLost" } });
    // The apply ran to its end on the node: the next batch finds nothing to do.
    const again = await Promise.all([1, 2].map((i) => batcher.submit(rule(`r${i}`, i, port(i)))));
    expect(again[0]?.outcome.plan.steps).toEqual([]);
  });
});
