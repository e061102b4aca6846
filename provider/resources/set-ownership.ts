// PURE. Whether an IpSet may take a set that already exists on the node. A create is the engine's first sight of
// the resource, so a set of that name belongs to something else (fail2ban, another stack, a hand-made set): it is
// refused, naming the rules that use it, unless the user opted in with `adopt: true`.
import type { HostState } from "../netfilter/host-state";

const SHOWN = 5;

/** Every saved rule (any backend, family, table, chain) that matches on set `name`. */
export function rulesUsingSet(state: HostState, name: string): string[] {
  const lines: string[] = [];
  for (const byFamily of Object.values(state.saves)) {
    for (const save of Object.values(byFamily)) {
      for (const table of save?.tables.values() ?? []) {
        for (const r of table.rules) {
          const words = r.line.split(" ");
          if (words.some((w, i) => w === "--match-set" && words[i + 1] === name)) lines.push(r.line);
        }
      }
    }
  }
  return [...new Set(lines)];
}

/** Why creating set `name` must be refused, or undefined when it does not exist yet or `adopt` is set. */
export function adoptionRefusal(state: HostState, name: string, adopt: boolean): string | undefined {
  if (adopt || !state.sets.has(name)) return undefined;
  const users = rulesUsingSet(state, name);
  const used =
    users.length === 0
      ? "no rule uses it"
      : `used by ${users.length} rule(s): ${users.slice(0, SHOWN).join(" | ")}${users.length > SHOWN ? " | …" : ""}`;
  return (
    `set ${name} already exists on the host and this stack does not own it (${used}). Refusing to take it over: ` +
    "its members would be replaced and deleting the IpSet would destroy it. Choose another name, or set " +
    "`adopt: true` to manage the existing set from now on."
  );
}
