// Through the real pulumi CLI on a lab node: a new stack's `preview --diff` shows the literal iptables lines,
// `up` applies exactly those lines (byte for byte, in chain order), a second preview has nothing to do, drift
// made by hand shows in `refresh` and `up --refresh` repairs it, and destroy leaves the chain as it found it.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { sharedLab } from "../support/lab";
import { CliProject, cliMissing, nodeSpec, type Spec } from "../support/pulumi-cli";

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

/** Every `-A DOCKER-USER …` string a preview printed (the diff shows them JSON-quoted). */
function previewLines(text: string): string[] {
  return [...text.matchAll(/"(-A DOCKER-USER (?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
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
    const down = await project.pulumi(["destroy", "--yes", "--non-interactive"]);
    console.log(`pulumi destroy: exit ${down.code} in ${down.ms} ms`);
    project.remove();
  });

  let previewed: string[] = [];

  it("preview --diff of a new stack shows the literal iptables lines", async () => {
    const r = await project.ok(["preview", "--diff", "--non-interactive"]);
    console.log(`pulumi preview --diff (new stack): ${r.ms} ms`);
    previewed = previewLines(r.text);
    expect(previewed).toHaveLength(2);
    expect(previewed[0]).toMatch(/^-A DOCKER-USER .*-p tcp .*-j ACCEPT$/);
    expect(previewed[1]).toMatch(/^-A DOCKER-USER .*-p tcp .*-j DROP$/);
    expect(await managedLines()).toEqual([]);
  });

  it("up applies exactly the previewed lines (byte-equal, in order)", async () => {
    const r = await project.ok(["up", "--yes", "--non-interactive"]);
    console.log(`pulumi up (2 rules): ${r.ms} ms`);
    expect(await managedLines()).toEqual(previewed);
  });

  it("a second preview shows no changes", async () => {
    const r = await project.ok(["preview", "--diff", "--non-interactive", "--expect-no-changes"]);
    console.log(`pulumi preview (no changes): ${r.ms} ms`);
    expect(r.text).toMatch(/2 unchanged/);
  });

  it("refresh shows a rule deleted by hand; refresh --preview-only --expect-no-changes fails; up --refresh repairs", async () => {
    const before = await managedLines();
    const victim = before[1] as string;
    const del = await sshExec(node, `iptables ${victim.replace(/^-A /, "-D ")}`);
    expect(del.code).toBe(0);
    expect(await managedLines()).toEqual([before[0]]);

    const check = await project.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--non-interactive"]);
    expect(check.code).not.toBe(0);
    expect(check.text).toMatch(/clia-web-drop/);

    const refresh = await project.ok(["refresh", "--yes", "--diff", "--non-interactive"]);
    console.log(`pulumi refresh (drift): ${refresh.ms} ms`);
    expect(refresh.text).toMatch(/~\s+.*clia-web-drop|clia-web-drop.*update/);

    const up = await project.ok(["up", "--refresh", "--yes", "--non-interactive"]);
    expect(up.text).toMatch(/clia-web-drop/);
    expect(await managedLines()).toEqual(before);
    const clean = await project.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--non-interactive"]);
    expect(clean.code, clean.text).toBe(0);
  });
});
