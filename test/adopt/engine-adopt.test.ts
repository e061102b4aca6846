// The first `up` of an adopted program through the real dynamic-provider host, over real SSH, into a scratch
// namespace holding seed 000's hand-written rules and whitelist ipset: the program `adopt` wrote is run under
// mocks for its resource graph, then each resource goes to the provider in the engine's dependency order (the
// set, the rules together, then the exclusive PersistentRuleset that depends on them). The chain ends with the
// same kernel rules, tagged, the untagged originals gone, and the set untouched.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { unwrapSecrets } from "../../demo/engine/program";
import { ipSetShim, persistentShim, ruleShim } from "../../provider/resources/shims";
import { IPSET, PERSISTENT, RULE, runMocked } from "../program/harness";
import { type Declared, EngineHost, EngineStack } from "../support/engine";
import { ScratchNamespace, savedChain, tools } from "../support/netns";
import type { TestSshd } from "../support/sshd";
import { sshdInto } from "./netns-sshd";
import { HAND_RECIPES } from "./seed-hand-rules";

const ROOT = path.resolve(__dirname, "../..");
const RECIPE = HAND_RECIPES[0];
const RETURN = "-A DOCKER-USER -j RETURN";
const dir = mkdtempSync(path.join(__dirname, ".generated-"));

let ns: ScratchNamespace;
let sshd: TestSshd;
let etcUpper: string;
let host: EngineHost;

beforeAll(async () => {
  if (!RECIPE?.ipset) throw new Error("seed 000 recipe missing");
  ns = await ScratchNamespace.create();
  await ns.mustRun(["ipset", "-exist", "restore"], RECIPE.ipset);
  await ns.installDockerUserChain("nft", "ipv4");
  const script = ["*filter", ":DOCKER-USER - [0:0]", ...RECIPE.ipv4, RETURN, "COMMIT", ""].join("\n");
  await ns.mustRun([tools("nft", "ipv4").restore, "-w", "5", "--noflush"], script);
  ({ sshd, etcUpper } = await sshdInto(ns));
  host = await EngineHost.start({ cwd: ROOT, config: { "docker-firewall:privateKey": sshd.userKey.privateKey } });
});
afterAll(async () => {
  host?.stop();
  await sshd?.dispose();
  await ns?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const adoptTo = (out: string) =>
  new Promise<{ code: number; stderr: string }>((resolve) => {
    const args = ["--host", "127.0.0.1", "--port", String(sshd.port), "--ssh-key", sshd.userKey.path, "--out", out];
    execFile(process.execPath, [path.join(ROOT, "dist/adopt/cli.js"), "adopt", ...args], (e, _o, stderr) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, stderr }),
    );
  });

const KIND: Record<string, Declared["type"]> = {
  [RULE]: "DockerUserRule",
  [IPSET]: "IpSet",
  [PERSISTENT]: "PersistentRuleset",
};

describe("the first up of an adopted program", () => {
  it("replaces the hand-written rules by the same rules, tagged, and keeps the whitelist set", async () => {
    const file = path.join(dir, "adopted", "index.ts");
    mkdirSync(path.dirname(file));
    const adopted = await adoptTo(file);
    expect(adopted.code).toBe(0);
    expect(adopted.stderr).toMatch(/4 rule\(s\) and 1 set\(s\) adopted, 0 line\(s\) not adopted/);

    vi.resetModules();
    const g = await runMocked(() => import(file));
    const declared = (type: string): Declared[] =>
      g.byType(type).map((r) => {
        const { __provider: _p, ...inputs } = unwrapSecrets(r.inputs) as Record<string, unknown>;
        return { type: KIND[type] as Declared["type"], name: r.name, inputs };
      });
    const stack = new EngineStack(host, {
      DockerUserRule: ruleShim,
      IpSet: ipSetShim,
      PersistentRuleset: persistentShim,
    });
    // The engine's order: what nothing depends on first; the rules at once; the persistence after every rule.
    for (const d of declared(IPSET)) expect(await stack.up(d)).toBe("create");
    expect(await Promise.all(declared(RULE).map((d) => stack.up(d)))).toEqual(["create", "create", "create", "create"]);
    const chainBetween = await savedChain(ns, "nft", "ipv4", "DOCKER-USER");
    expect(chainBetween.slice(-6)).toEqual([...(RECIPE?.saved4 ?? []), RETURN]);
    for (const d of declared(PERSISTENT)) expect(await stack.up(d)).toBe("create");

    const after = await savedChain(ns, "nft", "ipv4", "DOCKER-USER");
    const strip = (l: string) => l.replace(/ -m comment --comment \S+/, "");
    expect(after.map(strip)).toEqual([...(RECIPE?.saved4 ?? []), RETURN]);
    expect(after.slice(0, -1).every((l) => / -m comment --comment "?dfw:\d{4}:/.test(l))).toBe(true);
    expect(await ns.mustRun(["ipset", "list", "whitelist"])).toMatch(
      /198\.51\.100\.7\n198\.51\.100\.8|198\.51\.100\.8\n198\.51\.100\.7/,
    );
    // What the PersistentRuleset wrote went to the private /etc overlay, not this machine's /etc.
    expect(existsSync(path.join(etcUpper, "docker-firewall"))).toBe(true);
    expect(existsSync("/etc/docker-firewall")).toBe(false);
  });
});
