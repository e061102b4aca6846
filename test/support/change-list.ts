// A plan's changes as text (tests read plans with it): one line per kernel rule or set member, `+` added,
// `-` removed, `~` moved into place; the literal iptables text, as the kernel gets it.
import type { Change } from "../../provider/netfilter/plan-chain";

export function formatChanges(changes: readonly Change[]): string[] {
  const out: string[] = [];
  for (const c of changes) {
    const label = `[${c.family}]`;
    switch (c.kind) {
      case "create":
        for (const l of c.after) out.push(`+ ${label} ${l}`);
        break;
      case "delete":
        for (const l of c.before) out.push(`- ${label} ${l}`);
        break;
      case "update":
        for (const l of c.before) out.push(`- ${label} ${l}`);
        for (const l of c.after) out.push(`+ ${label} ${l}`);
        break;
      case "reorder":
        for (const l of c.after) out.push(`~ ${label} ${l}`);
        break;
      case "unmanaged":
        for (const l of c.before) out.push(`- ${label} ${l}    # unmanaged rule (exclusive mode)`);
        break;
    }
  }
  return out;
}
