// The apply script's safety rules on the real kernel (scratch namespace, private /etc): an apply whose run lost the
// node lock changes nothing; boot files are replaced all or none and put back when a later part of the apply
// fails; they are written with umask 022 into a root-owned, not group/world-writable /etc/docker-firewall.
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import type { Intent } from "../../provider/netfilter/intent";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import type { HostSession } from "../../provider/node/session";
import { runTransaction } from "../../provider/node/transaction";
import { ScratchNamespace, savedChain } from "../support/netns";
import { netnsSession } from "../support/netns-session";

const rule = (id: string, port: number): Intent => ({
  kind: "rule",
  id,
  priority: 10,
  rule: dockerUserRuleArgs.parse({ action: "ACCEPT", protocol: "tcp", publishedPorts: [port] }),
});
const persistOn: Intent = { kind: "persistence", config: { exclusive: false } };

let ns: ScratchNamespace;
let session: ReturnType<typeof netnsSession>;
const chain = () => savedChain(ns, "nft", "ipv4", "DOCKER-USER");
const etc = (p: string) => path.join(session.etcDir, p);

/** Every boot file (and link) in the private /etc, byte for byte. */
function bootFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.includes("docker-firewall"))
        out[path.relative(session.etcDir, p)] = e.isSymbolicLink() ? "link" : readFileSync(p, "latin1");
    }
  };
  walk(session.etcDir);
  return out;
}

beforeAll(async () => {
  ns = await ScratchNamespace.create();
});
afterAll(async () => {
  session?.dispose();
  await ns?.destroy();
});
beforeEach(async () => {
  await ns.exec(["iptables-nft", "-F"]);
  await ns.exec(["iptables-nft", "-X"]);
  await ns.installDockerUserChain("nft", "ipv4");
  session?.dispose();
  session = netnsSession(ns);
});

describe("the apply script", () => {
  it("changes nothing when its run lost the node lock before the apply ran (an orphan)", async () => {
    await runTransaction(session, [persistOn, rule("a", 80)], "test");
    const before = { chain: await chain(), files: bootFiles() };
    // The apply reaches the node only after another run took the node lock (and recorded its own token).
    const orphaned: HostSession = {
      ...session,
      run: async (command, stdin) => {
        if (command === NetfilterCommands.applySteps) writeFileSync(session.tokenPath, "0123456789abcdef\n");
        return session.run(command, stdin);
      },
    };
    const out = await runTransaction(orphaned, [rule("b", 81)], "test").then(
      (o) => o.results[0],
      (e: Error) => ({ ok: false, error: e }),
    );
    expect(out).toMatchObject({ ok: false });
    expect(String((out as { error: Error }).error.message)).toMatch(/node lock was lost .*nothing was applied/);
    expect(await chain()).toEqual(before.chain);
    expect(bootFiles()).toEqual(before.files);
  });

  it("puts the boot files back with the kernel when the read-back disagrees (foreign inserts mid-apply)", async () => {
    await runTransaction(session, [persistOn, rule("a", 80)], "test");
    const files = bootFiles();
    // Before every apply, another tool inserts at the top: our `-I 2` lands above block a, at every attempt.
    let raced = 0;
    const racy: HostSession = {
      ...session,
      run: async (command, stdin) => {
        if (command === NetfilterCommands.applySteps)
          await ns.mustRun(["iptables-nft", "-I", "DOCKER-USER", "1", "-s", `192.0.2.${++raced}`, "-j", "DROP"]);
        return session.run(command, stdin);
      },
    };
    const out = await runTransaction(racy, [rule("b", 81)], "test");
    expect(out.results[0]).toMatchObject({ ok: false, error: { kind: "VerifyFailed", restored: true } });
    expect(raced).toBe(6);
    expect(bootFiles()).toEqual(files);
  });

  it("puts the boot files back, byte for byte, when enabling the unit fails after they were replaced", async () => {
    await runTransaction(session, [persistOn, rule("a", 80)], "test");
    const before = { chain: await chain(), files: bootFiles() };
    expect(Object.keys(before.files)).toContain("docker-firewall/rules-ipv4.restore");
    // The enabling links' directories become plain files: the unit is rewritten (links missing) and linking fails.
    for (const w of ["docker.service.requires", "docker.service.wants", "multi-user.target.wants"]) {
      rmSync(etc(`systemd/system/${w}`), { recursive: true, force: true });
      writeFileSync(etc(`systemd/system/${w}`), "not a directory\n");
    }
    const broken = bootFiles();
    const out = await runTransaction(session, [rule("b", 81)], "test");
    expect(out.results[0]).toMatchObject({ ok: false, error: { kind: "KernelRejected", hostUnchanged: true } });
    expect(String((out.results[0] as { error: Error }).error.message)).toMatch(/cannot enable the boot unit/);
    expect(await chain()).toEqual(before.chain);
    expect(bootFiles()).toEqual(broken);
    expect(readdirSync(etc("docker-firewall")).filter((f) => f.includes(".dfw-"))).toEqual([]);
  });

  it("writes boot files 0644 whatever the caller's umask, and refuses an unsafe /etc/docker-firewall", async () => {
    const old = process.umask(0o077);
    try {
      await runTransaction(session, [persistOn, rule("a", 80)], "test");
    } finally {
      process.umask(old);
    }
    for (const f of ["rules-ipv4.restore", "restore", "persistence.json"])
      expect((statSync(etc(`docker-firewall/${f}`)).mode & 0o777).toString(8), f).toBe("644");
    expect((statSync(etc("systemd/system/docker-firewall.service")).mode & 0o777).toString(8)).toBe("644");

    const before = { chain: await chain(), files: bootFiles() };
    for (const [label, spoil, undo] of [
      [
        "group-writable",
        () => chmodSync(etc("docker-firewall"), 0o775),
        () => chmodSync(etc("docker-firewall"), 0o755),
      ],
      [
        "owned by nobody",
        () => chownSync(etc("docker-firewall"), 65534, 65534),
        () => chownSync(etc("docker-firewall"), 0, 0),
      ],
    ] as const) {
      spoil();
      const out = await runTransaction(session, [rule(`c${label.length}`, 82)], "test");
      expect(out.results[0], label).toMatchObject({ ok: false, error: { hostUnchanged: true } });
      expect(String((out.results[0] as { error: Error }).error.message)).toMatch(
        /\/etc\/docker-firewall is (writable by group or others|a symbolic link or not owned by root): refusing/,
      );
      expect(await chain()).toEqual(before.chain);
      expect(bootFiles()).toEqual(before.files);
      undo();
    }
    mkdirSync(etc("docker-firewall"), { recursive: true });
  });
});
