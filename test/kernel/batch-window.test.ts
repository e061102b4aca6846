// The batcher has no fixed window: operations that arrive while a transaction takes the node lock and reads the
// state join that transaction; ones after the read go into the next one. Real kernel (iptables-nft) in a scratch
// namespace, through the same constant scripts sshd would run. The order is forced by gates, not by timing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/intent";
import { HostBatcher, type Settled } from "../../provider/node/batch";
import type { HostSession } from "../../provider/node/session";
import { ScratchNamespace, savedChain } from "../support/netns";
import { netnsSession } from "../support/netns-session";

const rule = (i: number): Intent => ({
  kind: "rule",
  id: `w${i}`,
  priority: 100 + i,
  rule: dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", publishedPorts: [2000 + i] }),
});

/** A session whose first command (the state read) waits until `release` is called; `started` tells when it began. */
function gated(inner: HostSession) {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let started: () => void = () => undefined;
  const readStarted = new Promise<void>((r) => {
    started = r;
  });
  let runs = 0;
  const session: HostSession = {
    host: inner.host,
    locked: (owner, fn) => inner.locked(owner, fn),
    run: async (command, stdin) => {
      if (runs++ === 0) {
        started();
        await gate;
      }
      return inner.run(command, stdin);
    },
  };
  return { session, release, readStarted };
}

describe("batching without a fixed window", () => {
  let ns: ScratchNamespace;
  let inner: ReturnType<typeof netnsSession>;

  beforeAll(async () => {
    ns = await ScratchNamespace.create();
    await ns.installDockerUserChain("nft", "ipv4");
    inner = netnsSession(ns);
  });
  afterAll(async () => {
    inner?.dispose();
    await ns?.destroy();
  });

  it("takes operations that arrive during the lock and state read into the same transaction", async () => {
    const g = gated(inner);
    const batcher = new HostBatcher(g.session, "window-test");
    const first = batcher.submit(rule(0));
    // Arrive while the read is in flight: after any fixed window would have closed.
    await g.readStarted;
    const late = Array.from({ length: 9 }, (_, i) => batcher.submit(rule(i + 1)));
    g.release();
    const settled: Settled[] = await Promise.all([first, ...late]);
    expect(settled.every((s) => s.result.ok)).toBe(true);
    expect(batcher.transactions).toBe(1);
    expect(new Set(settled.map((s) => s.outcome)).size).toBe(1);
    expect((await savedChain(ns, "nft", "ipv4", "DOCKER-USER")).filter((l) => l.includes("dfw:"))).toHaveLength(10);
  });

  it("starts the next transaction for operations that arrive after the read, and a resource twice waits", async () => {
    const batcher = new HostBatcher(inner, "window-test");
    const a = batcher.submit(rule(20));
    const again = batcher.submit({ kind: "rule", id: "w20", priority: 120, rule: null });
    const settled = await Promise.all([a, again]);
    expect(settled.every((s) => s.result.ok)).toBe(true);
    expect(batcher.transactions).toBe(2);
    const b = await batcher.submit(rule(21));
    expect(b.result.ok).toBe(true);
    expect(batcher.transactions).toBe(3);
    const lines = await savedChain(ns, "nft", "ipv4", "DOCKER-USER");
    expect(lines.some((l) => l.includes("dfw:0121:w21"))).toBe(true);
    expect(lines.some((l) => l.includes("w20"))).toBe(false);
  });
});
