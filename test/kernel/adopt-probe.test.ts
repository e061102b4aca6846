// Traffic across an adoption switch-over, on the real kernel: a client namespace pings a server namespace through
// a router namespace whose DOCKER-USER holds seed 004's hand-written policy (WAN eth0: only established and
// ports 80/443/8080 pass, the rest is dropped). A ping runs from before the first transaction until after the
// last (rules in, then exclusive persistence removing the originals, as the engine orders them): none of its
// echo requests may get through. Everything lives in namespaces this test makes.
import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readAndPlan } from "../../provider/adopt/cli";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/intent";
import { HostBatcher } from "../../provider/node/batch";
import { HAND_RECIPES } from "../adopt/seed-hand-rules";
import { type Backend, ScratchNamespace, savedChain, tools } from "../support/netns";
import { netnsSession } from "../support/netns-session";

const RECIPE = HAND_RECIPES[3];
const SERVER = "10.201.2.2";

/** Runs busybox ping until stopped; resolves with what it counted. */
function pingUntilStopped(client: ScratchNamespace): { stop(): Promise<{ sent: number; received: number }> } {
  const child: ChildProcess = spawn(
    "ip",
    ["netns", "exec", client.name, "busybox", "ping", "-q", "-i", "0.01", SERVER],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  return {
    async stop() {
      // busybox prints its statistics on SIGINT; the pid is the one this test started.
      if (child.pid !== undefined) process.kill(child.pid, "SIGINT");
      await exited;
      const m = /(\d+) packets transmitted, (\d+) packets received/.exec(out);
      if (!m) throw new Error(`no ping statistics in ${JSON.stringify(out)}`);
      return { sent: Number(m[1]), received: Number(m[2]) };
    },
  };
}

describe.each(["nft", "legacy"] as const)("probing an adoption on iptables-%s", (backend: Backend) => {
  let router: ScratchNamespace;
  let client: ScratchNamespace;
  let server: ScratchNamespace;
  let session: ReturnType<typeof netnsSession>;

  beforeEach(async () => {
    [router, client, server] = await Promise.all([
      ScratchNamespace.create(),
      ScratchNamespace.create(),
      ScratchNamespace.create(),
    ]);
    session = netnsSession(router);
    // client c0 <-> router eth0 (the WAN of seed 004), router eth1 <-> server s0.
    await router.mustRun(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "c0", "netns", client.name]);
    await router.mustRun(["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "s0", "netns", server.name]);
    for (const [ns, dev, addr, gw] of [
      [router, "eth0", "10.201.1.1/24", undefined],
      [router, "eth1", "10.201.2.1/24", undefined],
      [client, "c0", "10.201.1.2/24", "10.201.1.1"],
      [server, "s0", `${SERVER}/24`, "10.201.2.1"],
    ] as const) {
      await ns.mustRun(["ip", "addr", "add", addr, "dev", dev]);
      await ns.mustRun(["ip", "link", "set", dev, "up"]);
      if (gw) await ns.mustRun(["ip", "route", "add", "default", "via", gw]);
    }
    await router.mustRun(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await router.installDockerUserChain(backend, "ipv4");
  });
  afterEach(async () => {
    session?.dispose();
    await Promise.all([router, client, server].map((ns) => ns?.destroy()));
  });

  const pingOnce = () => client.exec(["busybox", "ping", "-c", "1", "-W", "2", SERVER]);

  it("seed 004's policy holds through the switch to tagged rules", async () => {
    if (!RECIPE) throw new Error("seed 004 recipe missing");
    // Controls: the topology forwards pings; the hand-written policy drops them.
    expect((await pingOnce()).code).toBe(0);
    const script = ["*filter", ":DOCKER-USER - [0:0]", ...RECIPE.ipv4, "-A DOCKER-USER -j RETURN", "COMMIT", ""];
    await router.mustRun([tools(backend, "ipv4").restore, "-w", "5", "--noflush"], script.join("\n"));
    expect((await pingOnce()).code).not.toBe(0);

    const { plan } = await readAndPlan(session);
    expect(plan.exclusive).toBe(true);
    const intents: Intent[] = [
      ...plan.sets.map(
        (s): Intent => ({ kind: "set", name: s.name, spec: ipSetArgs.parse({ name: s.name, ...s.input }) }),
      ),
      ...plan.rules.map(
        (r): Intent => ({
          kind: "rule",
          id: `adopted-${r.key}`,
          priority: r.priority,
          rule: dockerUserRuleArgs.parse({ ...r.input, priority: r.priority }),
        }),
      ),
    ];
    const batcher = new HostBatcher(session, "adopt-probe");
    const probe = pingUntilStopped(client);
    const first = await Promise.all(intents.map((x) => batcher.submit(x)));
    const second = await batcher.submit({ kind: "persistence", config: { exclusive: true } });
    // One more packet sent after the last transaction, so the probe spans all of it.
    expect((await pingOnce()).code).not.toBe(0);
    const counted = await probe.stop();

    expect([...first, second].every((s) => s.result.ok)).toBe(true);
    expect(batcher.transactions).toBe(2);
    expect(counted.sent).toBeGreaterThan(0);
    expect(counted.received).toBe(0);
    const after = await savedChain(router, backend, "ipv4", "DOCKER-USER");
    expect(after.filter((l) => !l.includes("dfw:"))).toEqual(["-A DOCKER-USER -j RETURN"]);
  });
});
