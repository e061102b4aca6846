// The programs `adopt` writes are real programs: tsc typechecks them against the package's published types, and
// run under mocks every resource passes the provider's real check (the model's zod schemas) and renders the
// host's own lines back. Host text is hostile: quotes, backslashes, `*/`, `${}` and line separators in it must
// neither break the program nor change what it declares.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it, vi } from "vitest";
import { type AdoptPlan, planAdoption } from "../../provider/adopt/adopt-plan";
import { renderProgram } from "../../provider/adopt/program-text";
import { parseIpsetSave } from "../../provider/netfilter/ipset-text";
import { chainRules, parseIptablesSave } from "../../provider/netfilter/parse-iptables-save";
import { PERSISTENT, RULE, runMocked } from "../program/harness";
import { HAND_RECIPES } from "./seed-hand-rules";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../..");
// Inside the repository, so `pulumi-docker-firewall` resolves as in a user's project (node_modules link).
const dir = mkdtempSync(path.join(__dirname, ".generated-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RETURN = "-A DOCKER-USER -j RETURN";
const chain = (lines: readonly string[]) =>
  chainRules(
    parseIptablesSave(["*filter", ":DOCKER-USER - [0:0]", ...lines, RETURN, "COMMIT", ""].join("\n")),
    "DOCKER-USER",
  );

function plan(ipv4: readonly string[], ipv6?: readonly string[], ipset = ""): AdoptPlan {
  return planAdoption({
    chains: { ipv4: chain(ipv4), ...(ipv6 && { ipv6: chain(ipv6) }) },
    sets: parseIpsetSave(ipset),
    setsKnown: true,
  });
}

const CONNECTION = {
  host: "203.0.113.10",
  user: "deploy",
  sudo: true,
  hostKey: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
};

function write(name: string, p: AdoptPlan): string {
  const file = path.join(dir, name, "index.ts");
  mkdirSync(path.dirname(file));
  writeFileSync(
    file,
    renderProgram(p, { name, connection: CONNECTION, source: "deploy@203.0.113.10:22, iptables-nft" }),
  );
  return file;
}

// A comment that tries every way out of a string literal and out of a line comment.
// biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholder is the attack
const EVIL = 'x" + `${process.exit(7)}` */ \\" \' -j ACCEPT';
const EVIL_SEPARATOR = 'a\u2028new fw.IpSet("injected", { connection, type: "hash:ip" });//';
const quoted = (s: string) => `"${s.replace(/["\\']/g, (c) => `\\${c}`)}"`;

const programs: Array<{ name: string; file: string; plan: AdoptPlan }> = HAND_RECIPES.map((r, i) => {
  const p = plan(r.saved4, r.saved6, r.ipset);
  return { name: `seed${i}`, file: write(`seed${i}`, p), plan: p };
});
const hostilePlan = plan([
  `-A DOCKER-USER -p tcp -m comment --comment ${quoted(EVIL)} -m tcp --dport 80 -j ACCEPT`,
  `-A DOCKER-USER -p tcp -m comment --comment ${quoted(EVIL_SEPARATOR)} -m tcp --dport 81 -j ACCEPT`,
  `-A DOCKER-USER -m comment --comment ${quoted(EVIL_SEPARATOR)} -j crowdsec-chain`,
]);
const hostile = { name: "hostile", file: write("hostile", hostilePlan), plan: hostilePlan };

describe("generated programs", () => {
  it("typecheck with tsc against the package's types", async () => {
    const files = [...programs, hostile].map((p) => p.file);
    const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
    const args = ["--noEmit", "--strict", "--target", "ES2022", "--module", "node16", "--moduleResolution", "node16"];
    const r = await run(
      process.execPath,
      [tsc, ...args, "--types", "node", "--skipLibCheck", "--ignoreConfig", ...files],
      {
        cwd: ROOT,
      },
    ).catch((e: { stdout: string }) => ({ stdout: e.stdout, failed: true }));
    expect(r.stdout).toBe("");
  });

  it.each(programs)("$name passes the provider's check and renders the host's lines", async ({ file, plan: p }) => {
    vi.resetModules();
    const g = await runMocked(() => import(file));
    const rules = g.byType(RULE);
    expect(rules).toHaveLength(p.rules.length);
    for (const r of g.resources.filter((x) => x.custom)) expect(r.failures).toEqual([]);
    const lines = g.outputs.rendered as { ipv4: string[]; ipv6: string[] };
    const strip = (l: string) => l.replace(/ -m comment --comment \S+/, "");
    const want = (f: "ipv4" | "ipv6") =>
      p.rules.flatMap((r) =>
        r.from.filter((x) => x.family === f).map((x) => x.line.replace(/ -m tcp(?= -m | -j )/, "")),
      );
    expect(lines.ipv4.map(strip)).toEqual(want("ipv4"));
    expect(lines.ipv6.map(strip)).toEqual(want("ipv6"));
    // Exclusive persistence waits for every rule: the untagged originals never go before their tagged copies.
    const persistence = g.byType(PERSISTENT);
    expect(persistence).toHaveLength(1);
    expect(persistence[0]?.checked.exclusive).toBe(true);
    expect([...(persistence[0]?.dependencies ?? [])].sort()).toEqual(rules.map((r) => r.urn).sort());
  });

  it("keeps hostile host text inert: ASCII only, and declaring exactly what was read", async () => {
    const text = renderProgram(hostilePlan, { name: "hostile", connection: CONNECTION, source: EVIL_SEPARATOR });
    expect(text).toMatch(/^[\x20-\x7e\n]*$/);
    vi.resetModules();
    const g = await runMocked(() => import(hostile.file));
    expect(
      g.resources
        .filter((r) => r.custom)
        .map((r) => r.type)
        .sort(),
    ).toEqual([RULE, RULE, PERSISTENT]);
    for (const r of g.resources.filter((x) => x.custom)) expect(r.failures).toEqual([]);
    const byPriority = g.byType(RULE).sort((a, b) => Number(a.checked.priority) - Number(b.checked.priority));
    expect(byPriority.map((r) => r.checked.comment)).toEqual([EVIL, undefined]);
    expect(hostilePlan.rules[1]?.notes).toEqual([expect.stringMatching(/comment was left out/)]);
    expect(hostilePlan.flagged).toHaveLength(1);
    expect(g.byType(PERSISTENT)[0]?.checked.exclusive).toBe(false);
  });

  it("examples/adopted is exactly what adopt writes for seed 000 (and is formatted as the repository wants)", () => {
    const r = HAND_RECIPES[0];
    const text = renderProgram(plan(r?.saved4 ?? [], undefined, r?.ipset), {
      name: "web1",
      connection: CONNECTION,
      source: "deploy@203.0.113.10:22, iptables-nft",
    });
    expect(text).toBe(readFileSync(path.join(ROOT, "examples/adopted/index.ts"), "utf8"));
  });

  it("never holds a credential: the connection is host, user, sudo and the host key only", () => {
    for (const p of [...programs, hostile]) {
      const text = renderProgram(p.plan, { name: "x", connection: CONNECTION, source: "s" });
      expect(text).not.toMatch(/privateKey:|password:|PRIVATE KEY/);
      expect(text).toMatch(
        /const connection: fw.ConnectionArgs = {\n {2}host: "203.0.113.10",\n {2}user: "deploy",\n {2}sudo: true,\n {2}hostKey: "SHA256:\w+",\n};/,
      );
    }
  });
});
