// The IpSet dynamic provider: one set on one host, named by the user (the set name is its identity). Members
// change so that a packet sees the old set or the new one (netfilter/plan-ipset.ts); type and family changes
// replace the set; deleting a set that rules still use fails with the rules named.
import { z } from "zod";
import { canonicalJson } from "../model/canonical-json";
import { type IpSetSpec, ipSetArgs, ipSetPreview } from "../model/ipset";
import { containsUnknown } from "../model/unknown";
import { type HostState, isNftFacts, type NodeFacts } from "../netfilter/host-state";
import { headerOf, type SetHeader } from "../netfilter/ipset-text";
import { nftSetOf } from "../nftables/from-kernel";
import type { NftSet } from "../nftables/nft-model";
import { nftLiveSet, nftWantedSet } from "../nftables/status";
import { argsOf } from "./common";
import { readNow } from "./hosts";
import { BASE_COMPUTED, type BaseProps, makeProvider, refusedByNftables } from "./provider-factory";
import { adoptionRefusal } from "./set-ownership";

export const IPSET_TYPE = "IpSet";
const COMPUTED = ["live", "adopt", "adopted"];

export interface LiveMembers {
  readonly header: SetHeader;
  /** Canonical members, sorted: "10.0.0.0/24" or "10.0.0.0/24 comment \"office\"". */
  readonly entries: readonly string[];
}

export interface IpSetProps extends BaseProps {
  name: string;
  live?: LiveMembers | null;
  /** Take over a set of this name that already exists on the host (otherwise its create is refused). */
  adopt?: boolean;
  /** The create found the set existing and took it over (`adopt: true`). */
  adopted?: boolean;
}

const adoptField = z.boolean({ error: "must be true or false" }).optional();

const member = (entry: string, comment: string | undefined) =>
  comment === undefined ? entry : `${entry} comment "${comment}"`;

function members(spec: IpSetSpec): LiveMembers {
  return { header: headerOf(spec), entries: spec.entries.map((e) => member(e.entry, e.comment)).sort() };
}

function liveMembers(state: HostState, name: string): LiveMembers | null {
  const set = state.sets.get(name);
  if (!set) return null;
  return { header: set.header, entries: [...set.entries].map(([e, c]) => member(e, c)).sort() };
}

/**
 * On an nftables host the set is a named set of our table: its members as the spec says them when the table holds
 * exactly what the spec makes, else as listed (so any difference shows as drift).
 */
function liveNftMembers(props: IpSetProps, state: HostState, name: string): LiveMembers | null {
  const live = nftLiveSet(state, name);
  if (!live) return null;
  const spec = ipSetArgs.safeParse(argsOf(props, [...BASE_COMPUTED, ...COMPUTED]));
  const want = spec.success ? nftWantedSet(spec.data) : undefined;
  if (spec.success && want && canonicalJson(want) === canonicalJson(live)) return members(spec.data);
  return { header: nftHeader(live), entries: live.elements.map((e) => member(e, live.comments?.[e])).sort() };
}

const nftHeader = (s: NftSet): SetHeader => ({
  type: `${s.interval ? "hash:net" : "hash:ip"}${s.ports ? ",port" : ""}`,
  family: s.family,
  maxelem: s.size ?? 65536,
  ...(s.timeout !== undefined && { timeout: s.timeout }),
  comment: s.comments !== undefined,
});

function liveOf(props: IpSetProps, state: HostState, facts: NodeFacts, name: string): LiveMembers | null {
  return isNftFacts(facts) ? liveNftMembers(props, state, name) : liveMembers(readableSets(state), name);
}

/** Sets that could not be read are unknown: reporting one gone would make the next up recreate it. */
function readableSets(state: HostState): HostState {
  if (state.ipsetError) throw new Error(`cannot read the sets: ${state.ipsetError}`);
  return state;
}

/** The fields whose change replaces the set, compared with their defaults applied. */
const IDENTITY = ["name", "type", "family"] as const;
const identityOf = (props: Record<string, unknown>) => {
  const r = ipSetPreview.safeParse(argsOf(props, [...BASE_COMPUTED, ...COMPUTED]));
  const known = r.success ? (r.data as Record<string, unknown>) : props;
  return Object.fromEntries(IDENTITY.map((k) => [k, known[k]]));
};

export const ipSetProvider = makeProvider<IpSetSpec, IpSetProps>({
  type: IPSET_TYPE,
  previewSchema: ipSetPreview,
  schema: ipSetArgs,
  computed: COMPUTED,
  label: (props, id) => id ?? props.name,
  withId: (props, id) => ({ ...props, name: id }),

  extraFailures(news) {
    const r = adoptField.safeParse(news.adopt);
    return r.success || containsUnknown(news.adopt) ? [] : [{ property: "adopt", reason: "must be true or false" }];
  },

  forHost: {
    // A new set only (`olds`, the last check's inputs, are empty): an existing one's apply refuses what cannot be.
    reads: (olds) => olds.name === undefined,
    fit(inputs, facts) {
      const spec = ipSetArgs.safeParse(argsOf(inputs, [...BASE_COMPUTED, ...COMPUTED]));
      if (!isNftFacts(facts) || !spec.success) return inputs;
      const set = nftSetOf(spec.data);
      return "reason" in set ? refusedByNftables(inputs.connection, set.field, set.reason) : inputs;
    },
  },

  async compare(olds, news) {
    const [was, now] = [identityOf(olds), identityOf(news)];
    const replaces = IDENTITY.filter((k) => containsUnknown(now[k]) || now[k] !== was[k]);
    // Same name, new type or family: the old set must go before the new one can be created.
    const deleteBeforeReplace = replaces.length > 0 && !replaces.includes("name");
    const args = argsOf(news, [...BASE_COMPUTED, ...COMPUTED]);
    if (containsUnknown(args)) return { changes: true, replaces, deleteBeforeReplace: !replaces.includes("name") };
    const same = canonicalJson(members(ipSetArgs.parse(args))) === canonicalJson(olds.live);
    return { changes: !same, replaces, deleteBeforeReplace };
  },

  intent: (props, spec) => ({ kind: "set", name: props.name, spec }),
  outputs: (props, state, facts) => ({
    live: isNftFacts(facts) ? liveNftMembers(props, state, props.name) : liveMembers(state, props.name),
  }),

  live(id, props, state, facts) {
    const live = liveOf(props, state, facts, id);
    return live ? { live } : undefined;
  },

  create: {
    id: (inputs) => inputs.name,
    async prepare(inputs, conn) {
      // A fresh read (not a shared snapshot): a replacement's delete of the same name has just run.
      const { state, facts } = await readNow(conn);
      if (isNftFacts(facts)) {
        // Our table holds only what our resources made: a set of that name there is another stack's.
        const exists = nftLiveSet(state, inputs.name) !== undefined;
        if (exists && inputs.adopt !== true)
          throw new Error(
            `set ${inputs.name} already exists in our nftables table and this stack does not own it: choose another name, or set \`adopt: true\``,
          );
        return { adopted: exists };
      }
      const refusal = adoptionRefusal(readableSets(state), inputs.name, inputs.adopt === true);
      if (refusal) throw new Error(refusal);
      return { adopted: state.sets.has(inputs.name) };
    },
    // The payload may have reached the host: the engine keeps the set, and the next up updates it.
    partial: (inputs, prepared) => ({ ...inputs, ...prepared, live: null }),
  },
  kept: ["adopted"],
});
