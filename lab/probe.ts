// The probe matrix: every client × node × published port/protocol (× address family) → open | blocked.
// Each client's probes run in one agent process inside that client's namespace; clients run in parallel.
import { join } from "node:path";
import type { LabClient, LabInventory, LabNode } from "./inventory";
import { inNetns } from "./network";
import { REPO_ROOT } from "./paths";
import type { ProbeOutcome, ProbeTarget } from "./probe-agent";
import { mustRun } from "./spawn";

export type Family = "ipv4" | "ipv6";

export interface ProbeRow {
  readonly client: string;
  readonly node: string;
  readonly port: number;
  readonly protocol: "tcp" | "udp";
  readonly family: Family;
  readonly address: string;
  readonly result: "open" | "blocked";
  /** Why: "timeout", "ECONNREFUSED", the web page's body, "echo"… */
  readonly detail: string;
  readonly ms: number;
}

export interface ProbeOptions {
  /** Default: ipv4, plus ipv6 when the lab has it. */
  readonly families?: readonly Family[];
  readonly clients?: readonly string[];
  readonly nodes?: readonly string[];
  readonly timeoutMs?: number;
}

/** PURE. The address a client uses for a node: its WAN address for WAN clients, its LAN address for the LAN peer. */
export function targetAddress(client: LabClient, node: LabNode, family: Family): string | undefined {
  const side = client.segment === "wan" ? node.wan : node.lan;
  if (family === "ipv4") return side.ipv4;
  return client.ipv6 ? side.ipv6 : undefined;
}

/** PURE. The matrix rows to probe, in a stable order, without their results. */
export function probePlan(inventory: LabInventory, opts: ProbeOptions = {}) {
  const families = opts.families ?? (inventory.ipv6 ? ["ipv4", "ipv6"] : ["ipv4"]);
  const rows: Omit<ProbeRow, "result" | "detail" | "ms">[] = [];
  for (const client of inventory.clients.filter((c) => !opts.clients || opts.clients.includes(c.name))) {
    for (const node of inventory.nodes.filter((n) => !opts.nodes || opts.nodes.includes(n.name))) {
      for (const family of families) {
        const address = targetAddress(client, node, family);
        if (!address) continue;
        for (const p of node.published) {
          rows.push({ client: client.name, node: node.name, port: p.port, protocol: p.protocol, family, address });
        }
      }
    }
  }
  return rows;
}

export async function probeLab(inventory: LabInventory, opts: ProbeOptions = {}): Promise<ProbeRow[]> {
  const plan = probePlan(inventory, opts);
  const timeoutMs = opts.timeoutMs ?? 1500;
  const agent = join(REPO_ROOT, "lab", "probe-agent.ts");
  const byClient = new Map<string, { client: LabClient; targets: ProbeTarget[] }>();
  plan.forEach((row, id) => {
    const client = inventory.clients.find((c) => c.name === row.client) as LabClient;
    const entry = byClient.get(client.name) ?? { client, targets: [] };
    entry.targets.push({ id, address: row.address, family: row.family, port: row.port, protocol: row.protocol });
    byClient.set(client.name, entry);
  });
  const outcomes = new Map<number, ProbeOutcome>();
  await Promise.all(
    [...byClient.values()].map(async ({ client, targets }) => {
      const argv = inNetns(client.netns, [process.execPath, "--import", "tsx", agent]);
      const out = await mustRun(argv, { stdin: JSON.stringify({ timeoutMs, targets }), cwd: REPO_ROOT });
      for (const o of JSON.parse(out) as ProbeOutcome[]) outcomes.set(o.id, o);
    }),
  );
  return plan.map((row, id) => {
    const o = outcomes.get(id);
    if (!o) throw new Error(`probe ${id} gave no result`);
    return { ...row, result: o.result, detail: o.detail, ms: o.ms };
  });
}

/** PURE. The one row matching a client, node, port/protocol and family (ipv4 unless given). */
export function probeResult(
  rows: readonly ProbeRow[],
  q: { client: string; node: string; port: number; protocol: "tcp" | "udp"; family?: Family },
): ProbeRow["result"] {
  const row = rows.find(
    (r) =>
      r.client === q.client &&
      r.node === q.node &&
      r.port === q.port &&
      r.protocol === q.protocol &&
      r.family === (q.family ?? "ipv4"),
  );
  if (!row) throw new Error(`no probe row for ${JSON.stringify(q)}`);
  return row.result;
}

/** PURE. A readable table: one line per client and family, one column per node and port. */
export function renderProbeTable(rows: readonly ProbeRow[]): string {
  const cols = [...new Set(rows.map((r) => `${r.node} ${r.port}/${r.protocol}`))];
  const lines = [...new Set(rows.map((r) => `${r.client} ${r.family}`))];
  const cell = (line: string, col: string) =>
    rows.find((r) => `${r.client} ${r.family}` === line && `${r.node} ${r.port}/${r.protocol}` === col)?.result ?? "-";
  const width = Math.max(...cols.map((c) => c.length), 7);
  const head = Math.max(...lines.map((l) => l.length), 6);
  const pad = (s: string, n: number) => s.padEnd(n);
  return [
    [pad("client", head), ...cols.map((c) => pad(c, width))].join("  "),
    ...lines.map((l) => [pad(l, head), ...cols.map((c) => pad(cell(l, c), width))].join("  ")),
  ].join("\n");
}
