// Draws the scale curve (bench/results/scale.json) as an SVG with three panels (rules per host, ipset entries,
// hosts; log-scaled x, wall ms on y) and converts it to PNG with rsvg-convert (Debian: apt-get install -y
// librsvg2-bin) when that is installed. Bench-only: no runtime dependency.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly logX: boolean;
  readonly series: readonly Series[];
  /** A horizontal line (e.g. a 1 s target). */
  readonly targetMs?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const W = 360;
const H = 260;
const M = { l: 52, r: 12, t: 28, b: 40 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function panel(p: Panel, ox: number): string {
  const xs = p.series.flatMap((s) => s.points.map((q) => q[0]));
  const ys = [...p.series.flatMap((s) => s.points.map((q) => q[1])), p.targetMs ?? 0];
  const fx = (x: number) => (p.logX ? Math.log10(x) : x);
  const [x0, x1] = [Math.min(...xs.map(fx)), Math.max(...xs.map(fx))];
  const y1 = Math.max(...ys) * 1.1 || 1;
  const px = (x: number) => ox + M.l + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
  const py = (y: number) => M.t + (1 - y / y1) * (H - M.t - M.b);
  const out: string[] = [
    `<text x="${ox + W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`,
    `<line x1="${ox + M.l}" y1="${py(0)}" x2="${ox + W - M.r}" y2="${py(0)}" stroke="#333"/>`,
    `<line x1="${ox + M.l}" y1="${M.t}" x2="${ox + M.l}" y2="${py(0)}" stroke="#333"/>`,
    `<text x="${ox + W / 2}" y="${H - 6}" text-anchor="middle" font-size="11">${esc(p.xLabel)}</text>`,
    `<text x="${ox + 12}" y="${H / 2}" font-size="11" transform="rotate(-90 ${ox + 12} ${H / 2})" text-anchor="middle">ms</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const y = (y1 / 4) * k;
    out.push(
      `<text x="${ox + M.l - 4}" y="${py(y) + 4}" text-anchor="end" font-size="10">${Math.round(y)}</text>`,
      `<line x1="${ox + M.l}" y1="${py(y)}" x2="${ox + W - M.r}" y2="${py(y)}" stroke="#eee"/>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(
      `<text x="${px(x)}" y="${py(0) + 14}" text-anchor="middle" font-size="10">${x.toLocaleString("en")}</text>`,
    );
  }
  if (p.targetMs !== undefined) {
    out.push(
      `<line x1="${ox + M.l}" y1="${py(p.targetMs)}" x2="${ox + W - M.r}" y2="${py(p.targetMs)}" stroke="#999" stroke-dasharray="4 3"/>`,
      `<text x="${ox + W - M.r}" y="${py(p.targetMs) - 3}" text-anchor="end" font-size="10" fill="#666">target ${p.targetMs} ms</text>`,
    );
  }
  p.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${c}"/>`);
    out.push(
      `<rect x="${ox + M.l + 8}" y="${M.t + 4 + i * 14}" width="10" height="3" fill="${c}"/>`,
      `<text x="${ox + M.l + 22}" y="${M.t + 9 + i * 14}" font-size="10">${esc(s.name)}</text>`,
    );
  });
  return out.join("\n");
}

/** Writes `<base>.svg` and, if rsvg-convert is installed, `<base>.png`; returns the files written. */
export function drawChart(base: string, title: string, panels: readonly Panel[]): string[] {
  const width = W * panels.length;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 24}" font-family="sans-serif">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="${H + 18}" font-size="11" fill="#444">${esc(title)}</text>`,
    ...panels.map((p, i) => panel(p, i * W)),
    "</svg>",
  ].join("\n");
  writeFileSync(`${base}.svg`, svg);
  const r = spawnSync("rsvg-convert", ["-f", "png", "-o", `${base}.png`, `${base}.svg`]);
  return r.status === 0 ? [`${base}.svg`, `${base}.png`] : [`${base}.svg`];
}
