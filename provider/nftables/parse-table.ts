// The whole listing of our table (`nft -n -j list table inet docker-firewall`) -> ReadTable: sets canonicalised
// like desired ones (set-elements.ts), rules with their handles, parsed (parse.ts) where they have our shape.
import type { IpFamily } from "../model/address";
import { NFT_CHAIN, NFT_CHAIN_PRIORITY, NFT_FAMILY, NFT_TABLE, type NftRule, type NftSet } from "./nft-model";
import { addressText, parseRuleExpr } from "./parse";
import type { Json } from "./render";
import { canonicalElements, type SetEntry } from "./set-elements";

export interface ReadRule {
  readonly handle: number;
  readonly comment?: string;
  readonly expr: readonly Json[];
  /** Present when the statements are exactly a shape we render. */
  readonly rule?: NftRule;
}

export interface ReadTable {
  readonly exists: boolean;
  /** Our base chain exists ... */
  readonly chainPresent: boolean;
  /** ... as we create it (filter, forward, priority -1, policy accept). */
  readonly chainOk: boolean;
  readonly sets: readonly NftSet[];
  /** Sets of a type we never create, by name (a set of ours replaces them only by name). */
  readonly otherSets: readonly string[];
  /** Chains in our table other than ours, by name. */
  readonly otherChains: readonly string[];
  readonly rules: readonly ReadRule[];
}

export class NftListError extends Error {
  readonly kind = "NftListError";
}

type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const int = (v: unknown) => (typeof v === "number" && Number.isInteger(v) ? v : undefined);

export const EMPTY_TABLE: ReadTable = {
  exists: false,
  chainPresent: false,
  chainOk: false,
  sets: [],
  otherSets: [],
  otherChains: [],
  rules: [],
};

const PROTO: Readonly<Record<string, string>> = { 6: "tcp", 17: "udp", 132: "sctp", 136: "udplite" };

/** A listed element's value as text: an address, prefix or range, or `a . proto . port` for a port set. */
function valueText(v: Json | undefined, ports: boolean): string | undefined {
  if (!ports) return addressText(v);
  const [a, p, n, ...more] = isObj(v) && Array.isArray(v.concat) ? v.concat : [];
  const addr = addressText(a);
  const proto = typeof p === "string" ? p : PROTO[String(int(p))];
  return addr && proto && int(n) !== undefined && more.length === 0 ? `${addr} . ${proto} . ${n}` : undefined;
}

/** A listed element (bare, or wrapped with a comment/timeout), or undefined when it is not one we write. */
function entryOf(e: Json, ports: boolean): SetEntry | undefined {
  const wrapped = isObj(e) && isObj(e.elem) ? e.elem : undefined;
  const text = valueText(wrapped ? wrapped.val : e, ports);
  const comment = wrapped?.comment;
  if (text === undefined || (comment !== undefined && typeof comment !== "string")) return undefined;
  return { text, ...(comment !== undefined && { comment }) };
}

function readSet(s: Obj): NftSet | undefined {
  const type = s.type;
  const ports = Array.isArray(type) && type.length === 3 && type[1] === "inet_proto" && type[2] === "inet_service";
  const addr = ports ? (type as Json[])[0] : type;
  const family: IpFamily | undefined = addr === "ipv4_addr" ? "ipv4" : addr === "ipv6_addr" ? "ipv6" : undefined;
  const flags = Array.isArray(s.flags) ? s.flags : [];
  if (!family || typeof s.name !== "string" || flags.some((f) => f !== "interval" && f !== "timeout")) return undefined;
  const interval = flags.includes("interval");
  const entries = (Array.isArray(s.elem) ? s.elem : []).map((e) => entryOf(e, ports));
  if (entries.some((e) => e === undefined)) return undefined;
  const c = canonicalElements(entries as SetEntry[], family, interval, ports);
  if (c.bad.length > 0 || c.conflict) return undefined;
  const size = int(s.size);
  const timeout = int(s.timeout);
  return {
    name: s.name,
    family,
    interval,
    ...(ports && { ports: true as const }),
    ...(size !== undefined && { size }),
    ...(timeout !== undefined && timeout > 0 && { timeout }),
    elements: c.elements,
    ...(Object.keys(c.comments).length > 0 && { comments: c.comments }),
  };
}

/** Parses the listing; a missing table is `nft`'s error, which the caller turns into EMPTY_TABLE. */
export function parseTableJson(text: string): ReadTable {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new NftListError(
      `nft -j list table ${NFT_FAMILY} ${NFT_TABLE}: not JSON (${(e as Error).message.slice(0, 120)})`,
    );
  }
  const items = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables : undefined;
  if (!items) throw new NftListError(`nft -j list table ${NFT_FAMILY} ${NFT_TABLE}: no "nftables" array`);
  const ours = (o: Obj) => o.family === NFT_FAMILY && (o.table ?? o.name) === NFT_TABLE;
  let exists = false;
  let chainOk = false;
  let chainPresent = false;
  const sets: NftSet[] = [];
  const otherSets: string[] = [];
  const otherChains: string[] = [];
  const rules: ReadRule[] = [];
  for (const item of items) {
    if (!isObj(item)) continue;
    const { table, set, chain, rule } = item;
    if (isObj(table) && ours(table)) exists = true;
    else if (isObj(set) && ours(set)) {
      const s = readSet(set);
      if (s) sets.push(s);
      else if (typeof set.name === "string") otherSets.push(set.name);
    } else if (isObj(chain) && ours(chain)) {
      if (chain.name !== NFT_CHAIN) otherChains.push(String(chain.name));
      else {
        chainPresent = true;
        chainOk =
          chain.type === "filter" &&
          chain.hook === "forward" &&
          chain.prio === NFT_CHAIN_PRIORITY &&
          (chain.policy ?? "accept") === "accept";
      }
    } else if (isObj(rule) && ours(rule) && rule.chain === NFT_CHAIN) {
      const handle = int(rule.handle);
      if (handle === undefined || !Array.isArray(rule.expr)) continue;
      const comment = typeof rule.comment === "string" ? rule.comment : undefined;
      const parsed = parseRuleExpr(rule.expr, comment);
      rules.push({
        handle,
        ...(comment !== undefined && { comment }),
        expr: rule.expr,
        ...(parsed && { rule: parsed }),
      });
    }
  }
  return { exists, chainPresent, chainOk, sets, otherSets, otherChains, rules };
}
