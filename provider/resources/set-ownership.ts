// PURE. Whether an IpSet may take a set that already exists on the host. A create is the engine's first sight of
// the resource, so a set of that name belongs to something else (fail2ban, another stack, a hand-made set): it is
// refused, naming the rules that use it, unless the user opted in with `adopt: true`.
import type { HostState } from "../netfilter/host-state";
import { rulesUsingSet } from "../netfilter/set-uses";

const SHOWN = 5;

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
