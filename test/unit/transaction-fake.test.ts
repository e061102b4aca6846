// planTransaction + runTransaction (node/transaction.ts) against an in-memory FakeHost: one read and one apply per
// transaction, refusals before anything runs, a kernel refusal leaving the node as before (blame included), a lost
// lock or a cut step list applying nothing, and a read-back mismatch restoring what the run touched.
import { describe, expect, it } from "vitest";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/plan-transaction";
import { runTransaction } from "../../provider/node/transaction";
import { FakeHost } from "../support/fake-host/fake-host";

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
});
