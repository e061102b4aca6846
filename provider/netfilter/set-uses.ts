// PURE. Which ipsets a rule matches on: the one reader of `--match-set NAME` in saved rule lines, and of which
// saved rules use a given set (to refuse destroying or taking over a set something still uses).
import type { IpFamily } from "../model/address";
import type { DockerUserRule } from "../model/rule";
import type { Backend, HostState } from "./host-state";

/** What a rule naming a set its host lacks is told to do (either backend). */
export const MISSING_SET_HINT =
  "create it with an IpSet resource on the same host and name it by that resource's output (e.g. source: { set: lbs.name }), so the rule waits for the set";

/** The set names a saved rule line matches on (`-m set [!] --match-set NAME FLAGS`). */
export function setsMatchedBy(line: string): string[] {
  const words = line.split(" ");
  return words.flatMap((w, i) => (w === "--match-set" && words[i + 1] ? [words[i + 1] as string] : []));
}

/** The set names a desired rule matches on. */
export function setsUsedBy(rule: DockerUserRule): string[] {
  return [rule.source, rule.destination].flatMap((m) => (m?.kind === "set" ? [m.set] : []));
}

/** Every use of set `name` in the backend's filter tables, as (family, rule line). */
export function setReferences(
  state: HostState,
  backend: Backend,
  name: string,
): Array<{ family: IpFamily; line: string }> {
  return (["ipv4", "ipv6"] as const).flatMap((family) =>
    (state.saves[backend][family]?.tables.get("filter")?.rules ?? [])
      .filter((r) => setsMatchedBy(r.line).includes(name))
      .map((r) => ({ family, line: r.line })),
  );
}

/** Every saved rule (any backend, family, table, chain) that matches on set `name`, each line once. */
export function rulesUsingSet(state: HostState, name: string): string[] {
  const lines = Object.values(state.saves).flatMap((byFamily) =>
    Object.values(byFamily).flatMap((save) =>
      [...(save?.tables.values() ?? [])].flatMap((t) => t.rules.filter((r) => setsMatchedBy(r.line).includes(name))),
    ),
  );
  return [...new Set(lines.map((r) => r.line))];
}
