// FakeHost == kernel: the same generated transactions run through runTransaction on a scratch namespace (the real
// apply script, iptables-restore, ipset, a private /etc) and on a FakeHost must give the same per-intent outcome and
// byte-equal canonical dumps (test/support/fake-host/dump.ts) after every transaction, on both iptables backends.
// Some transactions race another tool that changes the node between the read and the apply, on both sides alike,
// so the failure paths (the kernel's refusals, abort and undo, verify and restore) are held to the kernel too.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IpFamily } from "../../provider/model/address";
import type { HostSession } from "../../provider/node/session";
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

/** What another tool does to the node while a transaction is between its read and its apply. */
type Race = { readonly family: IpFamily; readonly rules: string } | { readonly sets: string };
const race: fc.Arbitrary<Race | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 3 },
  fc.constantFrom<Race>(
    { family: "ipv4", rules: "*filter\n-I DOCKER-USER 1 -s 192.0.2.9/32 -j DROP\nCOMMIT\n" },
    { family: "ipv6", rules: "*filter\n-I DOCKER-USER 1 -s 2001:db8::9/128 -j DROP\nCOMMIT\n" },
    { sets: "create fcset4 hash:net family inet\n" },
    { sets: "create fcset6 hash:ip family inet6\n" },
    { sets: "destroy fcset4\n" },
    { sets: "destroy fcset6\n" },
  ),
);

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

  /** The kernel session, with `r` done by "another tool" just before its next apply. */
  function racing(session: HostSession, r: Race): HostSession {
    let pending = true;
    return {
      ...session,
      run: async (command, stdin) => {
        if (pending && command.includes("awk")) {
          pending = false;
          if ("rules" in r) await ns.exec([tools(backend, r.family).restore, "-w", "5", "--noflush"], r.rules);
          else await ns.exec(["ipset", "restore"], r.sets);
        }
        return session.run(command, stdin);
      },
    };
  }

  it(`applies ${SCENARIOS} generated sequences (>= 100 transactions) with equal outcomes and dumps`, async () => {
    const count = { applied: 0, changed: 0, raced: 0, failed: 0 };
    await fc.assert(
      fc.asyncProperty(transactions(2, 3), fc.array(race, { minLength: 3, maxLength: 3 }), async (batches, races) => {
        await resetKernel();
        const kernel = netnsSession(ns);
        const fake = new FakeHost({ backend, families: FAMILIES });
        try {
          expect(fake.dump()).toBe(canonicalDump(await kernelText(ns, kernel.etcDir)));
          for (const [i, intents] of batches.entries()) {
            const r = races[i] ?? null;
            if (r) {
              count.raced++;
              fake.inject({
                kind: "interfere",
                act: (node) =>
                  "rules" in r ? node.restoreRules(backend, r.family, r.rules) : node.restoreSets(r.sets, false),
              });
            }
            const k = await runTransaction(r ? racing(kernel, r) : kernel, intents, "conformance");
            const f = await runTransaction(fake, intents, "conformance");
            // The other tool acts before an apply: a transaction with nothing to apply meets no race.
            fake.clearFaults();
            if (r && k.plan.steps.length === 0) count.raced--;
            count.applied++;
            if (k.plan.steps.length > 0) count.changed++;
            if (k.results.some((x) => !x.ok && x.error.kind !== "Refused")) count.failed++;
            const where = `transaction ${i + 1}, race ${JSON.stringify(r)}`;
            expect(f.results.map(outcomeOf), where).toEqual(k.results.map(outcomeOf));
            expect(fake.dump(), where).toBe(canonicalDump(await kernelText(ns, kernel.etcDir)));
          }
        } finally {
          kernel.dispose();
        }
      }),
      // FC_SEED and FC_PATH replay a reported counterexample.
      {
        numRuns: SCENARIOS,
        endOnFailure: true,
        ...(process.env.FC_SEED && { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH }),
      },
    );
    console.log(`fake-conformance ${backend}: ${JSON.stringify(count)} in ${SCENARIOS} sequences`);
    expect(count.applied).toBeGreaterThanOrEqual(100);
    // Most transactions must change something, and some must fail, or equal dumps would prove little.
    expect(count.changed).toBeGreaterThanOrEqual(count.applied / 2);
    expect(count.failed).toBeGreaterThan(0);
  }, 900_000);
});
