// The whole listing of our table (`nft -n -j list table inet docker-firewall`) -> ReadTable: sets canonicalised
// like desired ones (set-elements.ts), rules with their handles, parsed (parse.ts) where they have our shape.
import type { IpFamily } from "../model/address";
import { NFT_CHAIN, NFT_CHAIN_PRIORITY, NFT_FAMILY, NFT_TABLE, type NftRule, type NftSet } from "./nft-model";
import { addressText, parseRuleExpr } from "./parse";
import type { Json } from "./render";
import { canonicalElements } from "./set-elements";

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

/** Element texts of a listed set: "1.2.3.4", prefixes, ranges, or any of those wrapped with a comment/timeout. */
function elementText(e: Json): string | undefined {
  return addressText(isObj(e) && isObj(e.elem) ? e.elem.val : e);
}

function readSet(s: Obj): NftSet | undefined {
  const family: IpFamily | undefined = s.type === "ipv4_addr" ? "ipv4" : s.type === "ipv6_addr" ? "ipv6" : undefined;
  const flags = Array.isArray(s.flags) ? s.flags : [];
  if (!family || typeof s.name !== "string" || flags.some((f) => f !== "interval" && f !== "timeout")) return undefined;
  const interval = flags.includes("interval");
  const texts = (Array.isArray(s.elem) ? s.elem : []).map(elementText);
  if (texts.some((t) => t === undefined)) return undefined;
  const { elements, bad } = canonicalElements(texts as string[], family, interval);
  if (bad.length > 0) return undefined;
  const size = int(s.size);
  const timeout = int(s.timeout);
  return {
    name: s.name,
    family,
    interval,
    ...(size !== undefined && { size }),
    ...(timeout !== undefined && timeout > 0 && { timeout }),
    elements,
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
