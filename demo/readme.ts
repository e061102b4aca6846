// PURE. The README's demo excerpts: real `pulumi preview --diff` and `pulumi refresh` output of a demo run, cut
// to a few resources (`npm run demo -- --write-readme` writes them), and the check that a later run prints the
// same, modulo the volatile bits NORMALISE lists.

/** Which captured command each README block shows, and the resources it keeps. */
export const EXCERPTS = {
  preview: { command: "pulumi preview --diff --show-full-output", keep: ["node1-drop-wan"] },
  refresh: { command: "pulumi refresh --preview-only --diff", keep: ["node1-drop-wan", "node2-lbs"] },
} as const;
export type Excerpt = keyof typeof EXCERPTS;

/** What a run captured: each command's output, and the stack it ran on. */
export interface Transcripts {
  readonly stack: string;
  readonly preview: string;
  readonly refresh: string;
}

/** Separates the kept parts of an excerpt (resources print in no fixed order, so each part is checked alone). */
const GAP = "...";

/** What differs between two runs of the same demo, and nothing else. */
export function normalise(text: string, stack: string): string {
  return text
    .replaceAll(stack, "<stack>") // URNs, "(stack)", ruleScope "docker-firewall/<stack>"
    .replace(/\b(node\d+-[a-z0-9-]+?)-[0-9a-f]{8}\b/g, "$1-<id>") // tag ids are minted per create
    .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>") // the lab's forwarded ssh ports
    .replace(/SHA256:[A-Za-z0-9+/]{43}/g, "SHA256:<hostkey>") // each lab node's fresh host key
    .replace(/generation(\s*): "[0-9a-f]+"/g, 'generation$1: "<generation>"')
    .replace(/\(\d+(?:\.\d+)?m?s\)/g, "(<duration>)");
}

/** The lines of the step for resource `name` (its header, `[id=…]`, `[urn=…::name]` and its properties). */
function stepLines(lines: readonly string[], name: string): string[] {
  const urn = lines.findIndex((l) => /^\s*\[urn=.*\]$/.test(l) && l.trimEnd().endsWith(`::${name}]`));
  if (urn < 0) throw new Error(`no step for ${name} in the captured output`);
  let start = urn - 1;
  if (/^\s*\[id=/.test(lines[start] ?? "")) start -= 1;
  const indent = (l: string) => l.length - l.trimStart().length;
  const depth = indent(lines[start] ?? "");
  let end = urn + 1;
  while (end < lines.length && (lines[end] ?? "").trim() !== "" && indent(lines[end] ?? "") > depth) end += 1;
  return lines.slice(start, end);
}

/** The excerpt of one command's output: its first lines (command and stack), the kept resources, the summary. */
export function excerpt(which: Excerpt, output: string): string {
  const lines = output.trimEnd().split("\n");
  const summary = lines.indexOf("Resources:");
  if (summary < 0) throw new Error(`no "Resources:" summary in the captured ${which}`);
  let summaryEnd = summary + 1;
  while (summaryEnd < lines.length && (lines[summaryEnd] ?? "").trim() !== "") summaryEnd += 1;
  const parts = [
    lines.slice(0, 3),
    ...EXCERPTS[which].keep.map((name) => stepLines(lines, name)),
    lines.slice(summary, summaryEnd),
  ];
  return [`$ ${EXCERPTS[which].command}`, ...parts.flatMap((p, i) => (i === 0 ? p : [GAP, ...p]))].join("\n");
}

const markers = (which: Excerpt) => [`<!-- demo:${which} -->`, `<!-- /demo:${which} -->`] as const;

/** The README's block for `which` (the text inside its ``` fence). */
export function readmeBlock(readme: string, which: Excerpt): string {
  const [open, close] = markers(which);
  const a = readme.indexOf(open);
  const b = readme.indexOf(close);
  if (a < 0 || b < a) throw new Error(`README.md has no ${open} … ${close} block`);
  return readme
    .slice(a + open.length, b)
    .trim()
    .replace(/^```\w*\n/, "")
    .replace(/\n```$/, "");
}

/** The README with the block for `which` replaced by `text`. */
export function withReadmeBlock(readme: string, which: Excerpt, text: string): string {
  const [open, close] = markers(which);
  readmeBlock(readme, which);
  const a = readme.indexOf(open) + open.length;
  return `${readme.slice(0, a)}\n\`\`\`\n${text}\n\`\`\`\n${readme.slice(readme.indexOf(close))}`;
}

/**
 * Parts of the README's blocks the captured output does not contain (normalised; each part of a block alone, as
 * whole lines): empty when the README shows what the CLI printed.
 */
export function readmeMismatches(readme: string, run: Transcripts): string[] {
  const out: string[] = [];
  for (const which of Object.keys(EXCERPTS) as Excerpt[]) {
    const [command, ...body] = readmeBlock(readme, which).split("\n");
    // The stack the README's run used: "Previewing update (dfwdemo):".
    const readmeStack = /\((\S+)\):$/.exec(body[0] ?? "")?.[1] ?? run.stack;
    if (command !== `$ ${EXCERPTS[which].command}`)
      out.push(`${which}: first line is not "$ ${EXCERPTS[which].command}"`);
    const printed = `\n${normalise(run[which].trimEnd(), run.stack)}\n`;
    const parts = body.join("\n").split(`\n${GAP}\n`);
    for (const part of parts) {
      if (!printed.includes(`\n${normalise(part, readmeStack)}\n`))
        out.push(`${which}: not printed by the CLI:\n${part}`);
    }
  }
  return out;
}
