// PURE. Boot persistence on an nftables host: one libnftables batch that rebuilds our table (managed rules and sets
// only, as on iptables hosts: provider/persistence/files.ts) and the boot unit that loads it before docker.service,
// after nftables.service and the other table restorers (a `flush ruleset` would erase the table), failing closed (RequiredBy=docker.service).
import { bootUnit } from "../persistence/files";
import { NFT_BOOT_PATH, PERSISTED_PATHS } from "../protocol/paths";
import { NFT_FAMILY, NFT_TABLE } from "./nft-model";
import type { NftPlan } from "./plan";
import { addRule, batch, ensureTableAndChain, replaceSet } from "./render";

export const NFT_BOOT_FILE = NFT_BOOT_PATH;
/** The same unit as on iptables hosts (a host runs one backend), loading our table instead. */
export const NFT_UNIT_PATH = PERSISTED_PATHS.unit;

/** The table as the plan leaves it, rebuilt whole: running it again (or over a live table) gives the same table. */
export function nftBootBatch(plan: Pick<NftPlan, "rules" | "sets">): string {
  const table = { family: NFT_FAMILY, name: NFT_TABLE };
  return batch([
    // `add` then `delete`: the delete never fails on a missing table, and the rebuild is one transaction.
    { add: { table } },
    { delete: { table } },
    ...ensureTableAndChain(),
    ...plan.sets.flatMap(replaceSet),
    ...plan.rules.flatMap((r) => (r.kind === "ours" ? [addRule(r.rule)] : [])),
  ]);
}

export function nftBootUnit(): string {
  return bootUnit(
    "Restore the nftables table managed by pulumi-docker-firewall (inet docker-firewall)",
    `/usr/sbin/nft -j -f ${NFT_BOOT_FILE}`,
  );
}
