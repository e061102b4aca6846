// Through the real pulumi CLI on a lab node: a new stack's `preview --diff` shows the literal iptables lines,
// `up` applies exactly those lines (byte for byte, in chain order), a second preview has nothing to do, drift
// made by hand shows in `refresh` and `up --refresh` repairs it, and destroy leaves the chain as it found it.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { sharedLab } from "../support/lab";
import { CliProject, cliMissing, nodeSpec, resourcePlugins, type Spec } from "../support/pulumi-cli";

const missing = cliMissing();
if (missing) console.warn(`test/cli skipped: ${missing}`);

let lab: LabInventory;
let node: LabNode;
let project: CliProject;

/** The DOCKER-USER lines our resources own, as iptables-save prints them, in chain order. */
async function managedLines(): Promise<string[]> {
  const r = await sshExec(node, "iptables-save -t filter");
  return r.stdout.split("\n").filter((l) => l.startsWith("-A DOCKER-USER ") && /"dfw:\d{4}:clia-/.test(l));
}

/**
 * The `-A DOCKER-USER …` strings a preview printed (JSON-quoted in the diff), each once: a line shows both in the
 * resource's `rendered` and in the stack outputs.
 */
function previewLines(text: string): string[] {
  const all = [...text.matchAll(/"(-A DOCKER-USER (?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
  return [...new Set(all)];
}

function spec(): Spec {
  const web = node.published.find((p) => p.protocol === "tcp")?.port ?? 8080;
  return {
    nodes: { n1: nodeSpec(node) },
    rules: [
      {
        name: "clia-web-from-lbs",
        node: "n1",
        args: {
          family: "ipv4",
          priority: 100,
          action: "ACCEPT",
          protocol: "tcp",
          publishedPorts: [web],
          source: lab.lbCidr,
        },
      },
      {
        name: "clia-web-drop",
        node: "n1",
        args: { family: "ipv4", priority: 200, action: "DROP", protocol: "tcp", publishedPorts: [web] },
      },
    ],
  };
}

describe.skipIf(missing)("the real pulumi CLI: preview, up, refresh on a lab node", () => {
  beforeAll(async () => {
    lab = await sharedLab();
    node = lab.nodes[0] as LabNode;
    expect(await managedLines()).toEqual([]);
    project = new CliProject("previewup");
    await project.init(spec(), { privateKey: readFileSync(node.privateKeyPath, "utf8") });
  });

  afterAll(async () => {
    if (!project) return;
    if (process.env.DFW_KEEP_CLI_PROJECT === "1") return;
    const down = await project.pulumi(["destroy", "--yes", "--non-interactive"]);
    console.log(`pulumi destroy: exit ${down.code} in ${down.ms} ms`);
    project.remove();
  });

  let previewed: string[] = [];

  it("preview --diff of a new stack shows the literal iptables lines", async () => {
    // Without --show-full-output the CLI cuts long values ("…--ctdir ORIGINAL...") in the diff.
    const r = await project.ok(["preview", "--diff", "--show-full-output", "--non-interactive"]);
    console.log(`pulumi preview --diff (new stack): ${r.ms} ms`);
    previewed = previewLines(r.text);
    // A user's install of this package brings no resource plugin for the CLI to fetch (@pulumi/command is no
    // runtime dependency): the Node language host reports every installed package marked as a Pulumi plugin.
    expect(existsSync(join(project.dir, "node_modules", "@pulumi", "command"))).toBe(false);
    // The rule the language host applies: a package whose package.json says `"pulumi": { "resource": true }`.
    expect(resourcePlugins(join(project.dir, "node_modules"))).toEqual([]);
    if (project.hasLanguageHost()) {
      const about = await project.ok(["about"]);
      expect(about.text).toMatch(/language\s+nodejs/);
      expect(about.text).not.toMatch(/resource\s+command/);
    }
    // The CLI lists resources in no fixed order: compare as sets, and the chain order on the host below.
    expect([...previewed].sort()).toEqual([
      expect.stringMatching(/^-A DOCKER-USER -p tcp .*"dfw:0200:clia-web-drop-[0-9a-f]{8}".* -j DROP$/),
      expect.stringMatching(/^-A DOCKER-USER -s \S+ -p tcp .*"dfw:0100:clia-web-from-lbs-[0-9a-f]{8}".* -j ACCEPT$/),
    ]);
    expect(await managedLines()).toEqual([]);
  });

  it("up applies exactly the previewed lines (byte-equal, in order)", async () => {
    const r = await project.ok(["up", "--yes", "--non-interactive"]);
    console.log(`pulumi up (2 rules): ${r.ms} ms`);
    const applied = await managedLines();
    expect(applied[0]).toMatch(/-j ACCEPT$/);
    expect([...applied].sort()).toEqual([...previewed].sort());
  });

  it("a second preview shows no changes", async () => {
    const r = await project.ok(["preview", "--diff", "--non-interactive", "--expect-no-changes"]);
    console.log(`pulumi preview (no changes): ${r.ms} ms`);
    expect(r.text).toMatch(/\b3 unchanged/);
    expect(r.text).not.toMatch(/to create|to update|to replace|to delete/);
  });

  it("refresh --preview-only --expect-no-changes fails on a rule deleted by hand, naming it; up --refresh repairs", async () => {
    const before = await managedLines();
    const victim = before[1] as string;
    const del = await sshExec(node, `iptables ${victim.replace(/^-A /, "-D ")}`);
    expect(del.code).toBe(0);
    expect(await managedLines()).toEqual([before[0]]);

    const check = await project.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--non-interactive"]);
    console.log(`pulumi refresh --preview-only (drift): ${check.ms} ms`);
    expect(check.code).not.toBe(0);
    // Gone from the host: refresh drops it from state (shown as a delete), so the next up creates it again.
    expect(check.text).toMatch(/DockerUserRule clia-web-drop delete/);
    expect(check.text).toMatch(/no changes were expected/);

    const up = await project.ok(["up", "--refresh", "--yes", "--non-interactive"]);
    console.log(`pulumi up --refresh (repair): ${up.ms} ms`);
    // Recreated: the same line under a new tag id.
    const id = (l: string) => l.replace(/(clia-[a-z-]+)-[0-9a-f]{8}"/, '$1-<id>"');
    expect((await managedLines()).map(id)).toEqual(before.map(id));
    const clean = await project.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--non-interactive"]);
    expect(clean.code, clean.text).toBe(0);
  });
});
