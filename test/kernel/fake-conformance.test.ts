// FakeHost == kernel: the same generated transactions run through runTransaction on a scratch namespace (the real
// apply script, iptables-restore, ipset, a private /etc) and on a FakeHost must give the same per-intent outcome and
// byte-equal canonical dumps (test/support/fake-host/dump.ts) after every transaction, on both iptables backends.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IntentResult } from "../../provider/node/transaction";
import { runTransaction } from "../../provider/node/transaction";
import { canonicalDump } from "../support/fake-host/dump";
import { FakeHost } from "../support/fake-host/fake-host";
import { kernelText } from "../support/fake-host/kernel-text";
import { transactions } from "../support/fake-host/transactions";
import { type Backend, ScratchNamespace, tools } from "../support/netns";
import { netnsSession } from "../support/netns-session";

const SCENARIOS = 55;
const FAMILIES = ["ipv4", "ipv6"] as const;

/** What an intent's outcome says, comparable across hosts (kernel messages are the tools' own words). */
function outcomeOf(r: IntentResult): string {
  if (r.ok) return "ok";
  const e = r.error;
  if (e.kind === "Refused" || e.kind === "Unsupported") return `${e.kind}: ${e.reason}`;
  if (e.kind === "KernelRejected") return `KernelRejected in ${e.step} (unchanged: ${e.hostUnchanged})`;
  return `${e.kind} (restored: ${e.restored})`;
}

describe.each(["nft", "legacy"] as const)("FakeHost conforms to the kernel on iptables-%s", (backend: Backend) => {
  let ns: ScratchNamespace;
  beforeAll(async () => {
    ns = await ScratchNamespace.create("dfwfk");
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  async function resetKernel() {
    for (const f of FAMILIES) {
      await ns.exec([tools(backend, f).iptables, "-F"]);
      await ns.exec([tools(backend, f).iptables, "-X"]);
    }
    await ns.mustRun(["ipset", "destroy"]);
    for (const f of FAMILIES) await ns.installDockerUserChain(backend, f);
  }

  it(`applies ${SCENARIOS} generated sequences (>= 100 transactions) with equal outcomes and dumps`, async () => {
    let applied = 0;
    let changed = 0;
    await fc.assert(
      fc.asyncProperty(transactions(2, 3), async (batches) => {
        await resetKernel();
        const kernel = netnsSession(ns);
        const fake = new FakeHost({ backend, families: FAMILIES });
        try {
          expect(fake.dump()).toBe(canonicalDump(await kernelText(ns, kernel.etcDir)));
          for (const intents of batches) {
            const k = await runTransaction(kernel, intents, "conformance");
            const f = await runTransaction(fake, intents, "conformance");
            applied++;
            if (k.plan.steps.length > 0) changed++;
            expect(f.results.map(outcomeOf)).toEqual(k.results.map(outcomeOf));
            expect(fake.dump()).toBe(canonicalDump(await kernelText(ns, kernel.etcDir)));
          }
        } finally {
          kernel.dispose();
        }
      }),
      { numRuns: SCENARIOS, endOnFailure: true },
    );
    console.log(
      `fake-conformance ${backend}: ${applied} transactions (${changed} with steps) in ${SCENARIOS} sequences`,
    );
    expect(applied).toBeGreaterThanOrEqual(100);
    // Most transactions must change something, or equal dumps would prove little.
    expect(changed).toBeGreaterThanOrEqual(applied / 2);
  }, 900_000);
});
