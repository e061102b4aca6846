// The canonical text of a node's netfilter and boot state, from what its tools print: each filter table as
// iptables-save prints it (chains sorted, counters and banners dropped), `ipset save` (sets and entries sorted,
// hash internals and entry timeouts dropped), the persisted files and unit links. FakeHost.dump() and the kernel
// side of the conformance test both go through it, so "equal dumps" means equal states, not equal printers.
import { parseIpsetSave, renderAdd, renderCreate } from "../../../provider/netfilter/ipset-text";
import { parseIptablesSave } from "../../../provider/netfilter/parse-iptables-save";

export const SAVE_KEYS = ["nft4", "nft6", "legacy4", "legacy6"] as const;
export type SaveKey = (typeof SAVE_KEYS)[number];

/** What a node's tools print: `<tool>-save -t filter` per backend and family (when the table is loaded), and more. */
export interface RawNodeText {
  readonly saves: Readonly<Partial<Record<SaveKey, string>>>;
  readonly ipsetSave: string;
  /** Persisted files by path. */
  readonly files: ReadonlyMap<string, string>;
  /** Enabling symlinks of the boot unit that exist. */
  readonly links: readonly string[];
}

const BUILTIN = ["INPUT", "FORWARD", "OUTPUT"];
const chainOrder = (a: string, b: string) => {
  const [ia, ib] = [BUILTIN.indexOf(a), BUILTIN.indexOf(b)];
  if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
};

function filterTable(text: string | undefined): string[] {
  if (!text?.includes("*filter")) return [];
  const table = parseIptablesSave(text).tables.get("filter");
  if (!table) return [];
  const chains = [...table.chains.values()].sort((a, b) => chainOrder(a.name, b.name));
  // A table with nothing but empty, accepting builtin chains is what an unloaded one means to us.
  const empty = table.rules.length === 0 && chains.every((c) => BUILTIN.includes(c.name) && c.policy === "ACCEPT");
  if (empty) return [];
  return [
    ...chains.map((c) => `:${c.name} ${c.policy}`),
    ...chains.flatMap((c) => table.rules.filter((r) => r.chain === c.name).map((r) => r.line)),
  ];
}

export function canonicalDump(raw: RawNodeText): string {
  const out: string[] = [];
  for (const key of SAVE_KEYS) {
    const lines = filterTable(raw.saves[key]);
    if (lines.length > 0) out.push(`# ${key} filter`, ...lines);
  }
  const sets = parseIpsetSave(
    raw.ipsetSave
      .split("\n")
      .filter((l) => l.startsWith("create ") || l.startsWith("add "))
      .join("\n"),
  );
  for (const s of [...sets.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    out.push(`# ipset ${s.name}`, renderCreate(s.name, s.header));
    const entries = [...s.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [entry, comment] of entries)
      out.push(renderAdd(s.name, comment === undefined ? { entry } : { entry, comment }));
  }
  for (const path of [...raw.files.keys()].sort()) {
    const text = raw.files.get(path) as string;
    out.push(`# file ${path} (${Buffer.byteLength(text)} bytes)`, ...text.split("\n").map((l) => `| ${l}`));
  }
  for (const link of [...raw.links].sort()) out.push(`# link ${link}`);
  return `${out.join("\n")}\n`;
}
