// The checker behind the README's demo excerpts (demo/readme.ts), without a lab: it accepts output that contains
// each excerpt part (under another stack, other tag ids, ports and host keys) and reports a part the CLI did not print.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXCERPTS, excerpt, normalise, readmeBlock, readmeMismatches, type Transcripts } from "../../demo/readme";
import { REPO_ROOT } from "../../lab/paths";

const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");

/** What another run would print: the README's parts, shuffled among other lines, with other volatile values. */
function otherRun(stack: string): Transcripts {
  const printed = (which: keyof typeof EXCERPTS) => {
    const [, ...body] = readmeBlock(readme, which).split("\n");
    const parts = body.join("\n").split("\n...\n").reverse();
    return parts
      .join("\n    + some:other:Resource: (create)\n")
      .replaceAll("dfwdemo", stack)
      .replace(/(node\d+-[a-z0-9-]+?)-[0-9a-f]{8}\b/g, "$1-0123abcd")
      .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:40001")
      .replace(/SHA256:[A-Za-z0-9+/]{43}/g, `SHA256:${"A".repeat(43)}`);
  };
  return { stack, preview: printed("preview"), refresh: printed("refresh") };
}

describe("the README's demo excerpts", () => {
  it("are blocks of CLI output, each starting with its command", () => {
    for (const which of Object.keys(EXCERPTS) as (keyof typeof EXCERPTS)[]) {
      const block = readmeBlock(readme, which);
      expect(block.split("\n")[0]).toBe(`$ ${EXCERPTS[which].command}`);
      for (const name of EXCERPTS[which].keep) expect(block).toContain(`::${name}]`);
    }
  });

  it("match another run's output modulo the normalised bits, and not once a line differs", () => {
    const run = otherRun("dfwtm1234");
    expect(readmeMismatches(readme, run)).toEqual([]);
    const edited = { ...run, refresh: run.refresh.replace('+ [1]: "198.51.100.200"', '+ [1]: "198.51.100.201"') };
    expect(edited.refresh).not.toBe(run.refresh);
    expect(readmeMismatches(readme, edited)).toEqual([expect.stringMatching(/^refresh: not printed by the CLI/)]);
  });

  it("excerpt keeps the first lines, the named steps whole, and the summary", () => {
    const output = [
      "Previewing update (s):",
      "+ pulumi:pulumi:Stack: (create)",
      "    [urn=urn:pulumi:s::p::pulumi:pulumi:Stack::p-s]",
      "        + t:DockerUserRule: (create)",
      "            [urn=urn:pulumi:s::p::t:DockerUserRule::node9-other]",
      "            action: 1",
      "        + t:DockerUserRule: (create)",
      "            [urn=urn:pulumi:s::p::t:DockerUserRule::node1-drop-wan]",
      "            log   : {",
      "                burst: 5",
      "            }",
      "Resources:",
      "    + 2 to create",
      "",
      "Duration: 3s",
    ].join("\n");
    expect(excerpt("preview", output).split("\n")).toEqual([
      `$ ${EXCERPTS.preview.command}`,
      ...output.split("\n").slice(0, 3),
      "...",
      ...output.split("\n").slice(6, 11),
      "...",
      "Resources:",
      "    + 2 to create",
    ]);
    expect(normalise("x (12.5s) y (3m) stk", "stk")).toBe("x (<duration>) y (3m) <stack>");
  });
});
