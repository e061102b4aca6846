// The framing of every script's output and of the apply's stdin: a line `@@<nonce> <name>` opens a section. The
// nonce is random per run, so no rule text or file on the host can forge a section boundary.

/** The sections of a state read, in the order the read script prints them (`end` last: the read was complete). */
export const READ = {
  tools: "tools",
  nft4: "nft4",
  nft6: "nft6",
  legacy4: "legacy4",
  legacy6: "legacy6",
  ipset: "ipset",
  v6dnat: "v6dnat",
  v6fwd: "v6fwd",
  nfttables: "nfttables",
  /** `nft -j list ruleset`, read only where Docker runs its nftables backend (or our table exists). */
  nftjson: "nftjson",
  /** `nft -n -j list table inet docker-firewall` (our table, numeric), on the same hosts. */
  nfttable: "nfttable",
  dockerconf: "dockerconf",
  persistconfig: "persistconfig",
  managedsets: "managedsets",
  persisted: "persisted",
  otherpersisters: "otherpersisters",
  containers: "containers",
  end: "end",
} as const;
export type ReadSection = (typeof READ)[keyof typeof READ];
export const READ_SECTIONS: readonly ReadSection[] = Object.values(READ);

/** A nonce is lowercase hex (the scripts refuse anything else). */
export const NONCE = /^[a-f0-9]+$/;

export function marker(nonce: string, name: string): string {
  return `@@${nonce} ${name}`;
}

/** Splits `@@<nonce> <name>` framed output into sections. Text before the first marker is ignored. */
export function splitSections(text: string, nonce: string): Map<string, string> {
  const sections = new Map<string, string>();
  const open = marker(nonce, "");
  let current: string | undefined;
  let buf: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith(open)) {
      if (current !== undefined) sections.set(current, buf.join("\n"));
      current = line.slice(open.length).trim();
      buf = [];
    } else if (current !== undefined) buf.push(line);
  }
  if (current !== undefined) sections.set(current, buf.join("\n"));
  return sections;
}

/** Script output as the shell prints it (`printf "\n@@%s %s\n"` before each section): splitSections' inverse. */
export function renderSections(nonce: string, sections: Iterable<readonly [string, string]>): string {
  return [...sections].map(([name, body]) => `\n${marker(nonce, name)}\n${body}`).join("");
}
