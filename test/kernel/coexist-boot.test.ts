// The boot restore script (persistence/files.ts) with a foreign-rules policy, run on the real kernel in a scratch
// namespace: rules a table restorer put back before us (fail2ban's jump, CrowdSec's ipset DROP) stay above ours,
// a re-run changes nothing, and exclusive mode removes only what the policy neither keeps nor ignores. And the
// awk the script matches with agrees with the planner's matcher (netfilter/foreign.ts) line by line.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ForeignRulesPolicy, foreignRulesPolicy } from "../../provider/model/foreign-rules";
import { awkCondition, foreignRole } from "../../provider/netfilter/foreign";
import type { PersistenceConfig } from "../../provider/netfilter/intent";
import { renderPersistedFiles } from "../../provider/persistence/files";
import { PERSIST_DIR } from "../../provider/protocol/paths";
import { ScratchNamespace, savedChain } from "../support/netns";

const F2B = "-A DOCKER-USER -p tcp -m multiport --dports 80,443 -j f2b-web";
const CS_SET = "-A DOCKER-USER -m set --match-set crowdsec-blacklists src -j DROP";
const HAND = "-A DOCKER-USER -s 192.0.2.7/32 -j DROP";
const NOTED = '-A DOCKER-USER -s 192.0.2.8/32 -m comment --comment "k8s: node ban" -j DROP';
const RET = "-A DOCKER-USER -j RETURN";
const ours = (id: string, port: number) =>
  `-A DOCKER-USER -p tcp -m comment --comment "dfw:0100:${id}" -m conntrack --ctorigdstport ${port} --ctdir ORIGINAL -j ACCEPT`;
const policy = foreignRulesPolicy.parse({
  keepAbove: [{ jump: "f2b-*" }, { set: "crowdsec-*" }],
  ignore: [{ comment: "k8s:*" }],
});

describe("the awk of the boot script and the planner's matcher agree", () => {
  const bare = "-A DOCKER-USER -s 192.0.2.9/32 -m comment --comment autoban -j DROP";
  const lines = [F2B, CS_SET, HAND, NOTED, bare, RET, "-A DOCKER-USER -j f2b-ssh", "-A DOCKER-USER -j xf2b-web"];
  const policies: ForeignRulesPolicy[] = [
    policy,
    foreignRulesPolicy.parse({
      keepAbove: [{ comment: "k8s: node ?an" }, { jump: "DROP", set: "crowdsec-blacklists" }],
    }),
    foreignRulesPolicy.parse({ keepAbove: [{ jump: "f2b-w?b" }, { comment: "*ban" }] }),
  ];
  const awks = [["awk"], ...(hasBusybox() ? [["busybox", "awk"]] : [])];
  for (const awk of awks)
    it(`with ${awk.join(" ")}`, () => {
      for (const p of policies) {
        const program = `{ print ((${awkCondition(p.keepAbove)}) ? "above" : "-") }`;
        const got = execFileSync(awk[0] as string, [...awk.slice(1), program], { input: `${lines.join("\n")}\n` })
          .toString()
          .trim()
          .split("\n");
        const want = lines.map((line) => (foreignRole({ chain: "DOCKER-USER", line }, p) === "above" ? "above" : "-"));
        expect(got).toEqual(want);
      }
    });
});

function hasBusybox(): boolean {
  try {
    execFileSync("busybox", ["awk", "BEGIN{}"]);
    return true;
  } catch {
    return false;
  }
}

describe.each(["nft", "legacy"] as const)("the boot restore with a policy on iptables-%s", (backend) => {
  let ns: ScratchNamespace;
  let dir: string;
  const chain = () => savedChain(ns, backend, "ipv4", "DOCKER-USER");
  const ipt = (args: string) => ns.mustRun([`iptables-${backend}`, "-w", ...args.split(" ")]);

  /** Writes the boot files for `config` and runs the restore script as the unit would (its dir moved to a temp). */
  async function boot(config: PersistenceConfig): Promise<void> {
    const files = renderPersistedFiles(
      { backend, families: ["ipv4"], rules: { ipv4: [ours("web", 80), ours("echo", 7)] }, sets: [] },
      config,
    );
    writeFileSync(path.join(dir, "rules-ipv4.restore"), files["rules-ipv4"]);
    writeFileSync(path.join(dir, "restore"), files.restore.replace(`dir=${PERSIST_DIR}`, `dir=${dir}`));
    const r = await ns.exec(["sh", path.join(dir, "restore")]);
    if (r.code !== 0) throw new Error(`restore failed: ${r.stderr}`);
  }

  beforeAll(async () => {
    ns = await ScratchNamespace.create();
    dir = mkdtempSync(path.join(tmpdir(), "dfw-coexist-"));
  });
  afterAll(async () => {
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await ns.exec([`iptables-${backend}`, "-F"]);
    await ns.exec([`iptables-${backend}`, "-X"]);
    await ns.exec(["ipset", "destroy"]);
    await ns.installDockerUserChain(backend, "ipv4");
    // What a table restorer put back before our unit: fail2ban's chain and jump, CrowdSec's set and DROP.
    await ipt("-N f2b-web");
    await ipt("-A f2b-web -j RETURN");
    await ns.mustRun(["ipset", "create", "crowdsec-blacklists", "hash:ip", "timeout", "0"]);
    await ipt("-I DOCKER-USER 1 -s 192.0.2.8/32 -m comment --comment k8s:_node_ban -j DROP");
    await ipt("-I DOCKER-USER 1 -s 192.0.2.7/32 -j DROP");
    await ipt("-I DOCKER-USER 1 -m set --match-set crowdsec-blacklists src -j DROP");
    await ipt("-I DOCKER-USER 1 -p tcp -m multiport --dports 80,443 -j f2b-web");
  });

  const ignored = '-A DOCKER-USER -s 192.0.2.8/32 -m comment --comment "k8s:_node_ban" -j DROP';

  it("puts ours right after the kept-above rules present at boot, and a re-run changes nothing", async () => {
    await boot({ exclusive: false, foreign: policy });
    const want = [F2B, CS_SET, ours("web", 80), ours("echo", 7), HAND, ignored, RET];
    expect(await chain()).toEqual(want);
    await boot({ exclusive: false, foreign: policy });
    expect(await chain()).toEqual(want);
  });

  it("exclusive: keeps kept-above and ignored rules (and Docker's RETURN), removes the rest", async () => {
    await boot({ exclusive: true, foreign: foreignRulesPolicy.parse({ ...policy, ignore: [{ comment: "k8s:*" }] }) });
    expect(await chain()).toEqual([F2B, CS_SET, ours("web", 80), ours("echo", 7), ignored, RET]);
  });

  it("without a policy, ours go on top as before", async () => {
    await boot({ exclusive: false });
    expect((await chain()).slice(0, 2)).toEqual([ours("web", 80), ours("echo", 7)]);
  });
});
