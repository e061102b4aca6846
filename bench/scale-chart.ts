// The scale curve's chart: rules per host, one ipset's entries, hosts (bench/chart.ts draws it).
import { drawChart } from "./chart";
import type { Row } from "./scale";
import type { HostsRow } from "./scale-hosts";

export function drawScaleChart(
  base: string,
  title: string,
  rows: readonly Row[],
  hosts: readonly HostsRow[],
  hostRules: number,
): string[] {
  const pts = (kind: Row["kind"], cell: string) =>
    rows
      .filter((r) => r.kind === kind && r.cells[cell])
      .map((r) => [r.n, Math.round(r.cells[cell]?.wallMs ?? 0)] as const);
  return drawChart(base, title, [
    {
      title: "rules per host",
      xLabel: "rules",
      logX: true,
      targetMs: 1000,
      series: [
        { name: "create", points: pts("rules", "create") },
        { name: "delete", points: pts("rules", "delete") },
      ],
    },
    {
      title: "one ipset",
      xLabel: "entries",
      logX: true,
      targetMs: 1000,
      series: [
        { name: "create", points: pts("ipset", "create") },
        { name: "change 1%", points: pts("ipset", "change") },
        { name: "delete", points: pts("ipset", "delete") },
      ],
    },
    {
      title: `hosts × ${hostRules} rules`,
      xLabel: "hosts",
      logX: false,
      series: [
        { name: "create", points: hosts.map((h) => [h.hosts, h.createMs] as const) },
        { name: "delete", points: hosts.map((h) => [h.hosts, h.deleteMs] as const) },
      ],
    },
  ]);
}
