// The `pulumi-docker-firewall` binary (package.json bin, built): its arguments, and its failures, which name the
// host, write no program, and print neither the key nor raw bytes to the terminal.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planAdoption } from "../../provider/adopt/adopt-plan";
import { parseAdoptArgs, summary, USAGE } from "../../provider/adopt/cli";
import { chainRules, parseIptablesSave } from "../../provider/netfilter/parse-iptables-save";
import { fakePrivateKey } from "../support/fake-key";

const ROOT = path.resolve(__dirname, "../..");
const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  bin: Record<string, string>;
};
const BIN = path.join(ROOT, pkg.bin["pulumi-docker-firewall"] as string);
const dir = mkdtempSync(path.join(tmpdir(), "dfw-adopt-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? "" } }, (e, stdout, stderr) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("the adopt command", () => {
  it("prints its usage with --help", async () => {
    const r = await cli(["adopt", "--help"]);
    expect(r).toMatchObject({ code: 0, stdout: `${USAGE}\n` });
  });

  it("refuses missing or bad arguments with exit 2, naming the argument", async () => {
    expect(await cli(["adopt"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^--host is required/) });
    expect(await cli(["adopt", "--host", "h", "--port", "99999"])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^--port must be 1-65535/),
    });
  });

  it("fails on an unreadable key naming the host, without the key, raw bytes or a program", async () => {
    const key = fakePrivateKey();
    const keyFile = path.join(dir, "key");
    writeFileSync(keyFile, key, { mode: 0o600 });
    const out = path.join(dir, "index.ts");
    const r = await cli(["adopt", "--host", "127.0.0.1", "--port", "1", "--ssh-key", keyFile, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^adopt 127\.0\.0\.1: .*root@127\.0\.0\.1:1/);
    expect(r.stderr).toMatch(/^[\x20-\x7e\n]*$/);
    for (const line of key.split("\n").filter((l) => l.length >= 16)) expect(r.stderr).not.toContain(line);
    expect(existsSync(out)).toBe(false);
  });

  it("fails without any credential (no key, no agent) before connecting", async () => {
    const r = await cli(["adopt", "--host", "127.0.0.1", "--port", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no credentials: set privateKey, password or agentSocketPath/);
  });
});

describe("parseAdoptArgs", () => {
  it("reads flags, inline values and defaults", () => {
    expect(parseAdoptArgs(["adopt", "--host=203.0.113.10", "--user", "deploy", "--sudo", "--port", "2222"])).toEqual({
      options: { host: "203.0.113.10", user: "deploy", port: 2222, sudo: true, name: "adopted" },
    });
  });

  it("names what is wrong, with host text escaped", () => {
    expect(parseAdoptArgs(["--host", "h", "--name", "a b"])).toEqual({ error: expect.stringMatching(/^--name must/) });
    expect(parseAdoptArgs(["--host", "h", "--bogus\u001b[2J"])).toEqual({
      error: 'unknown argument "--bogus\\u001b[2J"',
    });
    expect(parseAdoptArgs(["--host"])).toEqual({ error: "--host needs a value" });
  });
});

describe("the stderr summary", () => {
  const planOf = (lines: string[]) =>
    planAdoption({
      chains: {
        ipv4: chainRules(parseIptablesSave(["*filter", ...lines, "COMMIT", ""].join("\n")), "DOCKER-USER"),
      },
      sets: new Map(),
      setsKnown: true,
    });

  it("lists each line not adopted and why, escaped for the terminal", () => {
    const text = summary(planOf(['-A DOCKER-USER -m comment --comment "\u001b[31mred" -j f2b-x']), "h");
    expect(text).toContain('not adopted [ipv4] "-A DOCKER-USER -m comment --comment \\"\\u001b[31mred\\" -j f2b-x"');
    expect(text).toContain('why: "jumps to f2b-x');
    expect(text).toMatch(/^[\x20-\x7e\n]*$/);
  });

  it("warns when everything is already managed: that program must not replace the stack that owns them", () => {
    const text = summary(planOf(['-A DOCKER-USER -m comment --comment "dfw:0010:web-1a2b3c4d" -j DROP']), "h");
    expect(text).toContain("WARNING: every rule here is already managed by a stack");
  });
});
