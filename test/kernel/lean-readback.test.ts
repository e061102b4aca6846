// The apply's read-back reads only what verify needs (protocol/read-script.ts READ_BACK): the host's iptables backend,
// not the other backend's tables, the IPv6 nat count or the nftables listings. The transaction's `after` still holds them,
// from the read before (netfilter/steps.ts withUnread), and verify still checks the backend it drives.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/intent";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import type { HostSession } from "../../provider/node/session";
import { runTransaction } from "../../provider/node/transaction";
import { READ, splitSections } from "../../provider/protocol/sections";
import { ScratchNamespace, savedChain } from "../support/netns";
import { netnsSession } from "../support/netns-session";

const rule = (id: string, port: number): Intent => ({
  kind: "rule",
  id,
  priority: 100,
  rule: dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", publishedPorts: [port] }),
});

describe("the apply's read-back on an iptables-nft host with a legacy filter table loaded", () => {
  let ns: ScratchNamespace;
  let session: ReturnType<typeof netnsSession>;
  beforeAll(async () => {
    ns = await ScratchNamespace.create();
    await ns.installDockerUserChain("nft", "ipv4");
    // An empty legacy filter table (no DOCKER-USER): the full read dumps it, the read-back need not.
    await ns.mustRun(["iptables-legacy", "-t", "filter", "-L", "-n"]);
    session = netnsSession(ns);
  });
  afterAll(async () => {
    session?.dispose();
    await ns?.destroy();
  });

  it("dumps only the nft backend, and `after` keeps the rest from the read before", async () => {
    const applies: Array<{ stdin: string; stdout: string }> = [];
    const recording: HostSession = {
      host: session.host,
      locked: (owner, fn) => session.locked(owner, fn),
      run: async (command, stdin) => {
        const r = await session.run(command, stdin);
        if (command === NetfilterCommands.applySteps) applies.push({ stdin, stdout: r.stdout });
        return r;
      },
    };
    const outcome = await runTransaction(recording, [rule("a", 443), rule("b", 8443)], "test");
    expect(outcome.results.every((r) => r.ok)).toBe(true);
    expect(await savedChain(ns, "nft", "ipv4", "DOCKER-USER")).toHaveLength(3);
    expect(applies).toHaveLength(1);
    const { stdin, stdout } = applies[0] as { stdin: string; stdout: string };
    const sections = splitSections(stdout, stdin.split("\n", 1)[0] as string);
    // Read back: the nft filter table (verify's input); not read back: legacy, the IPv6 nat count, `nft list tables`.
    expect(sections.get(READ.nft4)).toContain("-A DOCKER-USER");
    for (const skipped of [READ.legacy4, READ.legacy6, READ.v6dnat, READ.nfttables]) {
      expect(sections.get(skipped)?.trim(), skipped).toBe("");
    }
    // The read before had them, and `after` carries them over.
    expect(outcome.before.saves.legacy.ipv4).toBeDefined();
    expect(outcome.after.saves.legacy.ipv4).toBe(outcome.before.saves.legacy.ipv4);
    expect(outcome.after.ipv6Dnat).toBe(outcome.before.ipv6Dnat);
    expect(outcome.before.nftTables).toContain("table ip filter");
    expect(outcome.after.nftTables).toBe(outcome.before.nftTables);
    expect(outcome.after.saves.nft.ipv4).not.toBe(outcome.before.saves.nft.ipv4);
  });
});
