// PURE. The traffic matrix the demo shows: what the fleet policy should let through on the lab, and tables of
// probe results (one, or two as "before -> after").
import { dockerLineOf, type LabInventory, type LabNode } from "../lab/inventory";
import type { ProbeRow } from "../lab/probe";

export type Cell = ProbeRow["result"];

/** Docker 28 filters IPv6 in its IPv6 DOCKER-USER, Docker 29 on nftables in our inet table; 20.10 does neither. */
export const filtersIpv6 = (node: LabNode): boolean => ["28", "29"].includes(dockerLineOf(node));

/**
 * What the top-level program's policy (examples/fleet with its lab defaults) lets through: the web port only from
 * the load-balancer range (the `allowed` client), the UDP "admin" port only from the `denied` client, everything
 * from the LAN (the drop is on the WAN only); over IPv6 the same, through the IPv6 set and address, on Docker 28
 * nodes and Docker 29 on nftables (our own table). Docker 20.10 nodes stay open over IPv6: it publishes ports over
 * IPv6 but makes no IPv6 DOCKER-USER.
 */
export function expectedCell(inventory: LabInventory, row: ProbeRow): Cell {
  const node = inventory.nodes.find((n) => n.name === row.node);
  if (row.family === "ipv6" && (!node || !filtersIpv6(node))) return "open";
  const client = inventory.clients.find((c) => c.name === row.client);
  if (!client || client.segment === "lan") return "open";
  if (row.protocol === "tcp") return client.name === "allowed" ? "open" : "blocked";
  return client.name === "denied" ? "open" : "blocked";
}

const key = (r: ProbeRow) => `${r.client}|${r.family}|${r.node}|${r.port}/${r.protocol}`;

/** Rows whose result differs from the expectation. */
export function unexpected(inventory: LabInventory, rows: readonly ProbeRow[]): ProbeRow[] {
  return rows.filter((r) => r.result !== expectedCell(inventory, r));
}

/** Rows whose result differs between two probe runs (same plan). */
export function changedRows(a: readonly ProbeRow[], b: readonly ProbeRow[]): ProbeRow[] {
  const before = new Map(a.map((r) => [key(r), r.result]));
  return b.filter((r) => before.get(key(r)) !== r.result);
}

/** One line per client and family, one column per node and port; a cell reads "open" or "open -> blocked". */
export function renderMatrix(before: readonly ProbeRow[], after?: readonly ProbeRow[]): string {
  const rows = after ?? before;
  const prior = new Map(before.map((r) => [key(r), r.result]));
  const cols = [...new Set(rows.map((r) => `${r.node} ${r.port}/${r.protocol}`))];
  const lines = [...new Set(rows.map((r) => `${r.client} ${r.family}`))];
  const cell = (line: string, col: string) => {
    const r = rows.find((x) => `${x.client} ${x.family}` === line && `${x.node} ${x.port}/${x.protocol}` === col);
    if (!r) return "-";
    const was = prior.get(key(r));
    return after && was !== r.result ? `${was} -> ${r.result}` : r.result;
  };
  const cells = lines.map((l) => cols.map((c) => cell(l, c)));
  const width = Math.max(...cols.map((c) => c.length), ...cells.flat().map((c) => c.length));
  const head = Math.max(...lines.map((l) => l.length), "client".length);
  return [
    ["client".padEnd(head), ...cols.map((c) => c.padEnd(width))].join("  ").trimEnd(),
    ...lines.map((l, i) => [l.padEnd(head), ...(cells[i] ?? []).map((c) => c.padEnd(width))].join("  ").trimEnd()),
  ].join("\n");
}
