// What a scratch namespace's tools print, as dump.ts reads it: the kernel side of the conformance test. Boot files
// come from the namespace session's private /etc overlay (test/support/netns-session.ts).
import { lstatSync, readFileSync } from "node:fs";
import path from "node:path";
import { OLD_UNIT_LINK, STEP_FILE_PATHS, UNIT_LINKS } from "../../../provider/protocol/paths";
import type { ScratchNamespace } from "../netns";
import type { RawNodeText, SaveKey } from "./dump";

const SAVES: Record<SaveKey, string> = {
  nft4: "iptables-nft-save -t filter",
  nft6: "ip6tables-nft-save -t filter",
  // A legacy table is read only when loaded, as the read script does: saving would load an empty one.
  legacy4: "grep -qx filter /proc/net/ip_tables_names && iptables-legacy-save -t filter",
  legacy6: "grep -qx filter /proc/net/ip6_tables_names && ip6tables-legacy-save -t filter",
};
const LINKS = [...UNIT_LINKS, OLD_UNIT_LINK];

export async function kernelText(ns: ScratchNamespace, etcUpper: string): Promise<RawNodeText> {
  const saves: Partial<Record<SaveKey, string>> = {};
  for (const [key, cmd] of Object.entries(SAVES) as Array<[SaveKey, string]>) {
    const r = await ns.exec(["sh", "-c", cmd]);
    if (r.code === 0 && r.stdout.includes("*filter")) saves[key] = r.stdout;
  }
  const ipsetSave = await ns.mustRun(["ipset", "save"]);
  const inUpper = (p: string) => path.join(etcUpper, path.relative("/etc", p));
  const kind = (p: string) => {
    try {
      const st = lstatSync(inUpper(p));
      return st.isSymbolicLink() ? "link" : st.isFile() ? "file" : "other";
    } catch {
      return "none";
    }
  };
  const files = new Map<string, string>();
  for (const p of Object.values(STEP_FILE_PATHS))
    if (kind(p) === "file") files.set(p, readFileSync(inUpper(p), "utf8"));
  return { saves, ipsetSave, files, links: LINKS.filter((l) => kind(l) === "link") };
}
