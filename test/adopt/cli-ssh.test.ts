// The adopt binary end to end over real SSH: a throwaway sshd whose sessions are forced into a scratch network
// namespace holding seed 004's hand-written rules (both families), so the provider's read script runs against
// a real kernel there and never in this machine's own namespace (netns-sshd.ts).
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScratchNamespace, tools } from "../support/netns";
import type { TestSshd } from "../support/sshd";
import { sshdInto } from "./netns-sshd";
import { HAND_RECIPES } from "./seed-hand-rules";

const ROOT = path.resolve(__dirname, "../..");
const BIN = path.join(ROOT, "dist/adopt/cli.js");
const RECIPE = HAND_RECIPES[3];
const RETURN = "-A DOCKER-USER -j RETURN";

let ns: ScratchNamespace;
let sshd: TestSshd;

beforeAll(async () => {
  if (!RECIPE?.ipv6) throw new Error("seed 004 recipe (both families) missing");
  ns = await ScratchNamespace.create();
  for (const [family, lines] of [
    ["ipv4", RECIPE.ipv4],
    ["ipv6", RECIPE.ipv6],
  ] as const) {
    await ns.installDockerUserChain("nft", family);
    const script = ["*filter", ":DOCKER-USER - [0:0]", ...lines, RETURN, "COMMIT", ""].join("\n");
    await ns.mustRun([tools("nft", family).restore, "-w", "5", "--noflush"], script);
  }
  ({ sshd } = await sshdInto(ns));
});
afterAll(async () => {
  await sshd?.dispose();
  await ns?.destroy();
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? "" } }, (e, stdout, stderr) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("pulumi-docker-firewall adopt over SSH", () => {
  it("writes the program for the host's rules, pins the host key it saw, and holds no credential", async () => {
    const out = path.join(sshd.dir, "index.ts");
    const r = await cli([
      "adopt",
      "--host",
      "127.0.0.1",
      "--port",
      String(sshd.port),
      "--user",
      "root",
      "--ssh-key",
      sshd.userKey.path,
      "--name",
      "web1",
      "--out",
      out,
    ]);
    expect(r.stderr).toMatch(
      /^adopt 127\.0\.0\.1: 6 rule\(s\) and 0 set\(s\) adopted, 0 line\(s\) not adopted, 2 left/,
    );
    expect(r.stderr).toContain("exclusive mode is on");
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(true);
    const program = readFileSync(out, "utf8");
    expect(program).toContain(`from DOCKER-USER on "root@127.0.0.1:${sshd.port}, iptables-nft"`);
    expect(program).toContain(`hostKey: "${sshd.hostKeyFingerprint}"`);
    for (const f of ["ipv4", "ipv6"] as const) {
      for (const line of f === "ipv4" ? (RECIPE?.saved4 ?? []) : (RECIPE?.saved6 ?? []))
        expect(program).toContain(`// [${f}] ${JSON.stringify(line)}`);
    }
    expect(program).toContain('family: "both"');
    for (const line of sshd.userKey.privateKey.split("\n").filter((l) => l.length >= 16))
      expect(program + r.stderr).not.toContain(line);
    expect(program).not.toContain(sshd.userKey.path);
  });
});
