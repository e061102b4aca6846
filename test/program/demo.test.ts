// `npm run demo` end to end (minus the install step): its own 4-node lab (Docker 29 on nftables among them), the top-level program applied through the
// real pulumi CLI (the engine-less driver only when the CLI is not installed), tampering, refresh, repair, destroy;
// then the final traffic matrix is checked here against the policy, cell by cell, the README's preview and refresh
// excerpts against what the CLI printed, and the lab must be gone.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import type { DemoResult } from "../../demo/demo";
import { cliMissing } from "../../demo/pulumi-cli";
import { readmeMismatches } from "../../demo/readme";
import { isEmptyFootprint, labFootprint, labPaths, locateLab } from "../../lab/index";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";

const newLab = (prefix: string) => {
  const labId = uniqueLabId(prefix);
  return { labId, stateDir: join(REPO_ROOT, ".lab", labId) };
};
const LAB = newLab("dfwtm");
const FALLBACK_LAB = newLab("dfwtf");

afterAll(() => {
  for (const l of [LAB, FALLBACK_LAB]) rmSync(l.stateDir, { recursive: true, force: true });
});

function runDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "demo/main.ts", ...args], { cwd: REPO_ROOT });
    let output = "";
    child.stdout.on("data", (b: Buffer) => {
      output += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      output += b.toString();
    });
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("npm run demo", () => {
  it("applies, detects tampering, repairs, and leaves the policy's traffic matrix, then nothing behind", {
    timeout: 420_000,
  }, async () => {
    mkdirSync(LAB.stateDir, { recursive: true });
    claimLab(locateLab(LAB)); // the next test run tears the lab down should this one die first
    const dir = mkdtempSync(join(tmpdir(), "dfw-demo-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const json = join(dir, "result.json");
    const cli = cliMissing() === undefined;
    if (!cli) console.warn(`demo test on the engine-less driver (README excerpts not checked): ${cliMissing()}`);
    const { code, output } = await runDemo(["--lab-id", LAB.labId, "--engine", cli ? "cli" : "driver", "--json", json]);
    expect(output, output).toMatch(/demo OK: \d+ checks passed/);
    expect(code).toBe(0);
    for (let stage = 1; stage <= 9; stage++) expect(output).toContain(`[${stage}/9] `);

    const result = JSON.parse(readFileSync(json, "utf8")) as DemoResult;
    expect(result.ok).toBe(true);
    expect(result.engine).toMatch(cli ? /^pulumi CLI$/ : /engine-less driver/);
    expect(output.split("\n")[0]).toMatch(cli ? /^engine: the real pulumi CLI/ : /^engine: the engine-less driver/);
    if (result.drifted)
      expect([...result.drifted].sort()).toEqual([
        "node1-drop-wan",
        "node1-persistence",
        "node2-lbs",
        "node2-persistence",
      ]);

    // Before: everything open. After the repair: the policy on the default mixed fleet (node1 Docker 28 on nft,
    // node2 Docker 28 on iptables-legacy, node3 Docker 20.10, node4 Docker 29 on its nftables backend), over IPv4
    // and, on the Docker 28 and 29 nodes, over IPv6; Docker 20.10 has no IPv6 DOCKER-USER, so node3 stays open
    // over IPv6. One program, the same matrix on iptables and nftables hosts.
    expect(result.matrices.before.every((r) => r.result === "open")).toBe(true);
    const cells = (rows: DemoResult["matrices"]["repaired"]) =>
      Object.fromEntries(rows.map((r) => [`${r.client} ${r.family} ${r.node} ${r.port}/${r.protocol}`, r.result]));
    const want: Record<string, string> = {};
    for (const node of ["node1", "node2", "node3", "node4"]) {
      for (const family of ["ipv4", "ipv6"]) {
        const filtered = family === "ipv4" || node !== "node3";
        Object.assign(want, {
          [`allowed ${family} ${node} 8080/tcp`]: "open",
          [`allowed ${family} ${node} 5353/udp`]: filtered ? "blocked" : "open",
          [`denied ${family} ${node} 8080/tcp`]: filtered ? "blocked" : "open",
          [`denied ${family} ${node} 5353/udp`]: "open",
          [`lanpeer ${family} ${node} 8080/tcp`]: "open",
          [`lanpeer ${family} ${node} 5353/udp`]: "open",
        });
      }
    }
    expect(cells(result.matrices.applied)).toEqual(want);
    expect(cells(result.matrices.repaired)).toEqual(want);
    // The IPv6 rows changed from open to blocked as the policy says, on the Docker 28 and 29 nodes only.
    expect(
      result.matrices.applied
        .filter((r) => r.family === "ipv6" && r.result === "blocked")
        .map((r) => `${r.client} ${r.node} ${r.port}/${r.protocol}`)
        .sort(),
    ).toEqual([
      "allowed node1 5353/udp",
      "allowed node2 5353/udp",
      "allowed node4 5353/udp",
      "denied node1 8080/tcp",
      "denied node2 8080/tcp",
      "denied node4 8080/tcp",
    ]);
    // The tampering was real: the denied client got in where the rule was deleted and where it joined the set.
    expect(cells(result.matrices.tampered)).toMatchObject({
      "denied ipv4 node1 8080/tcp": "open",
      "denied ipv4 node2 8080/tcp": "open",
    });

    if (cli) {
      // The README shows what the CLI printed in this run (modulo demo/readme.ts's normalise).
      expect(result.transcripts).toBeDefined();
      const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
      expect(readmeMismatches(readme, result.transcripts as NonNullable<DemoResult["transcripts"]>)).toEqual([]);
    } else {
      // The private key never reached the driver's saved state.
      const state = readFileSync(join(LAB.stateDir, "demo", "state.json"), "utf8");
      expect(state).not.toContain("PRIVATE KEY");
    }
    expect(isEmptyFootprint(await labFootprint(labPaths(locateLab(LAB))))).toBe(true);
  });

  // When the CLI runs the test above, the fallback gets a run of its own (2 nodes, IPv4: the same stages).
  it.skipIf(cliMissing() !== undefined)(
    "falls back to the engine-less driver when asked, and says so",
    {
      timeout: 300_000,
    },
    async () => {
      mkdirSync(FALLBACK_LAB.stateDir, { recursive: true });
      claimLab(locateLab(FALLBACK_LAB));
      const args = ["--lab-id", FALLBACK_LAB.labId, "--engine", "driver", "--nodes", "2", "--no-ipv6"];
      const { code, output } = await runDemo(args);
      expect(output.split("\n")[0]).toBe("engine: the engine-less driver, the fallback (--engine driver)");
      expect(output, output).toMatch(/demo OK: \d+ checks passed/);
      expect(output).toMatch(
        /ok {3}refresh found the deleted rule \(node1-drop-wan\) and the added member \(node2-lbs\)/,
      );
      expect(code).toBe(0);
      expect(isEmptyFootprint(await labFootprint(labPaths(locateLab(FALLBACK_LAB))))).toBe(true);
    },
  );
});
