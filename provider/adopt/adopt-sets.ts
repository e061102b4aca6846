// A host's ipsets (as `ipset save` read them) -> the IpSet inputs that declare them, checked by the model's own
// schema; or, per set, the reason a rule that matches it cannot be adopted.
import type { IpFamily } from "../model/address";
import { ipSetArgs } from "../model/ipset";
import { fieldFailures } from "../model/validation";
import { isSetType, type LiveSet } from "../netfilter/ipset-text";

/** An IpSet input as plain data, without its name (the DockerHostFirewall `sets` key is the name). */
export type SetInput = Record<string, unknown>;

export type SetVerdict =
  | { readonly ok: true; readonly input: SetInput; readonly notes: readonly string[] }
  | { readonly ok: false; readonly reason: string };

const DEFAULT_MAXELEM = 65536;

export function setInputOf(set: LiveSet): SetVerdict {
  const h = set.header;
  if (!isSetType(h.type))
    return {
      ok: false,
      reason: `set ${set.name} is ${h.type}; our IpSet supports hash:ip, hash:net, hash:ip,port, hash:net,port`,
    };
  const entries = [...set.entries].map(([entry, comment]) => (comment === undefined ? entry : { entry, comment }));
  const input: SetInput = {
    type: h.type,
    ...(h.family !== "ipv4" && { family: h.family }),
    entries,
    ...(h.maxelem !== DEFAULT_MAXELEM && { maxelem: h.maxelem }),
    ...(h.timeout !== undefined && { timeout: h.timeout }),
  };
  const parsed = ipSetArgs.safeParse({ name: set.name, ...input });
  if (!parsed.success) {
    const f = fieldFailures(parsed.error, { name: set.name, ...input })[0];
    return {
      ok: false,
      reason: `set ${set.name}: our IpSet refuses it: ${f ? `${f.property}: ${f.reason}` : "invalid"}`,
    };
  }
  const notes =
    h.timeout !== undefined
      ? [`its entries expire after ${h.timeout}s: the entries listed are what the host held when adopted`]
      : [];
  return { ok: true, input, notes };
}

/** Judges each set once; `known` false means `ipset save` failed, so no set can be vouched for. */
export function setJudge(
  sets: ReadonlyMap<string, LiveSet>,
  known: boolean,
): (name: string, family: IpFamily) => SetVerdict {
  const cache = new Map<string, SetVerdict>();
  return (name, family) => {
    if (!known) return { ok: false, reason: `the host's ipsets could not be read, so set ${name} cannot be adopted` };
    const live = sets.get(name);
    if (!live) return { ok: false, reason: `set ${name} does not exist on the host` };
    if (live.header.family !== family)
      return { ok: false, reason: `set ${name} is ${live.header.family} but the rule is ${family}` };
    let v = cache.get(name);
    if (!v) {
      v = setInputOf(live);
      cache.set(name, v);
    }
    return v;
  };
}
