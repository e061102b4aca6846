// PURE. What the demo prints about steps and refresh results: per host, the iptables lines and set members a
// change adds (+) or removes (-), which is what a reviewer needs from `pulumi preview --diff`.
import { ipSetArgs } from "../provider/model/ipset";
import type { Props } from "./engine/program";
import { type RefreshResult, type Step, shortType } from "./engine/stack";

type Families = { ipv4?: string[]; ipv6?: string[] };
const FAMILIES = ["ipv4", "ipv6"] as const;

/** "user@host:port" of a resource, from its outputs, or from its (unwrapped) connection input. */
export function hostOf(props: Props | undefined): string {
  if (!props) return "?";
  if (typeof props.host === "string" && props.host.includes("@")) return props.host;
  const c = props.connection as { host?: string; port?: number; user?: string } | undefined;
  if (!c?.host) return "?";
  return `${c.user ?? "root"}@${c.host.includes(":") ? `[${c.host}]` : c.host}:${c.port ?? 22}`;
}

const SET_FIELDS = ["name", "type", "family", "entries", "timeout", "maxelem", "hashsize"];

/** A set's members as `ipset save` prints them, from its arguments. */
export function desiredMembers(inputs: Props): string[] {
  const args = Object.fromEntries(Object.entries(inputs).filter(([k, v]) => SET_FIELDS.includes(k) && v !== undefined));
  const parsed = ipSetArgs.safeParse(args);
  if (!parsed.success) return [];
  return parsed.data.entries
    .map((e) => (e.comment === undefined ? e.entry : `${e.entry} comment "${e.comment}"`))
    .sort();
}

function liveMembers(outputs: Props | undefined): string[] {
  return [...((outputs?.live as { entries?: string[] } | null | undefined)?.entries ?? [])];
}

function lineDiff(before: readonly string[], after: readonly string[], label = ""): string[] {
  const out: string[] = [];
  for (const l of before) if (!after.includes(l)) out.push(`- ${label}${l}`);
  for (const l of after) if (!before.includes(l)) out.push(`+ ${label}${l}`);
  return out;
}

/** The families a rule lands in on its host: what the host reported, or IPv4 (+ IPv6 where present) if new. */
function hostFamilies(outputs: Props | undefined): Array<"ipv4" | "ipv6"> | undefined {
  const f = outputs?.families as Array<"ipv4" | "ipv6"> | undefined;
  return f && f.length > 0 ? f : undefined;
}

function ruleLines(step: Step): string[] {
  const want = (step.inputs?.rendered ?? {}) as Families;
  const have = (step.old?.outputs.lines ?? {}) as Families;
  const families = hostFamilies(step.outputs) ?? hostFamilies(step.old?.outputs);
  const tag = (f: string) => (f === "ipv6" ? "[v6] " : "");
  switch (step.op) {
    case "delete":
      return FAMILIES.flatMap((f) => (have[f] ?? []).map((l) => `- ${tag(f)}${l}`));
    case "create":
      if (families) return families.flatMap((f) => (want[f] ?? []).map((l) => `+ ${tag(f)}${l}`));
      return [
        ...(want.ipv4 ?? []).map((l) => `+ ${l}`),
        ...((want.ipv6 ?? []).length > 0
          ? [`  (and ${(want.ipv6 ?? []).length} IPv6 line(s) where the host's Docker has an IPv6 DOCKER-USER)`]
          : []),
      ];
    default: {
      const fams = families ?? ["ipv4"];
      const diff = fams.flatMap((f) => lineDiff(have[f] ?? [], want[f] ?? [], tag(f)));
      if (diff.length > 0) return diff;
      return step.old?.outputs.inPlace === false ? ["~ the block is out of order: moved back into place"] : [];
    }
  }
}

function setLines(step: Step): string[] {
  const name = String(step.inputs?.name ?? step.old?.inputs.name ?? "?");
  switch (step.op) {
    case "delete":
      return [`- ipset destroy ${name}`];
    case "create":
      return [
        `+ ipset create ${name} ${step.inputs?.type} family ${step.inputs?.family === "ipv6" ? "inet6" : "inet"}`,
        ...desiredMembers(step.inputs ?? {}).map((m) => `+ ipset add ${name} ${m}`),
      ];
    default:
      return lineDiff(liveMembers(step.old?.outputs), desiredMembers(step.inputs ?? {}), `ipset ${name}: `);
  }
}

function persistenceLines(step: Step): string[] {
  if (step.op === "create") return ["+ rules and sets persisted: restored at boot, before docker.service"];
  if (step.op === "delete") return ["- boot persistence removed"];
  return ["~ persisted files brought back in step with the managed rules"];
}

/** The +/- lines of one step. */
export function stepLines(step: Step): string[] {
  const t = shortType(step.type);
  if (t === "DockerUserRule") return ruleLines(step);
  if (t === "IpSet") return setLines(step);
  if (t === "PersistentRuleset") return persistenceLines(step);
  return [];
}

const SYMBOL: Record<Step["op"], string> = { create: "+", update: "~", replace: "+-", same: " ", delete: "-" };

/** A preview or up, grouped by host: one heading per host, one line per changed resource, then its lines. */
export function renderSteps(steps: readonly Step[], hostName: (host: string) => string = (h) => h): string {
  const byHost = new Map<string, Step[]>();
  for (const s of steps) {
    const host = hostName(hostOf(s.outputs ?? s.old?.outputs ?? s.inputs));
    byHost.set(host, [...(byHost.get(host) ?? []), s]);
  }
  const out: string[] = [];
  for (const [host, list] of [...byHost].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const changed = list.filter((s) => s.op !== "same");
    out.push(`${host}: ${changed.length} to change, ${list.length - changed.length} unchanged`);
    for (const s of changed.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const note = s.error ? `  FAILED: ${s.error}` : s.skipped ? "  (skipped: an earlier step failed)" : "";
      const why = s.replaces?.length ? ` (replace: ${s.replaces.join(", ")})` : "";
      out.push(`  ${SYMBOL[s.op].padEnd(2)} ${shortType(s.type)} ${s.name}: ${s.op}${why}${note}`);
      for (const l of stepLines(s)) out.push(`       ${l}`);
    }
  }
  return out.join("\n");
}

/** What refresh found for one resource, as lines (empty when in sync). */
export function driftLines(r: RefreshResult): string[] {
  const t = shortType(r.type);
  if (r.verdict === "error") return [`! could not read: ${r.error}`];
  if (r.verdict === "gone") {
    if (t === "DockerUserRule") return ["- the whole block is gone from DOCKER-USER: the next up recreates it"];
    if (t === "IpSet") return [`- set ${String(r.before.inputs.name)} is gone: the next up recreates it`];
    return ["- gone from the host: the next up recreates it"];
  }
  if (r.verdict === "in-sync") return [];
  if (t === "DockerUserRule") {
    const want = (r.before.inputs.rendered ?? {}) as Families;
    const live = (r.live?.lines ?? {}) as Families;
    const families = hostFamilies(r.live) ?? ["ipv4"];
    const out = families.flatMap((f) =>
      lineDiff(want[f] ?? [], live[f] ?? [], f === "ipv6" ? "[v6] " : "").map((l) =>
        l.startsWith("-") ? `${l}   <- missing on the host` : `${l}   <- on the host, not declared`,
      ),
    );
    if (r.live?.inPlace === false) out.push("~ the block is out of order in DOCKER-USER");
    return out;
  }
  if (t === "IpSet") {
    const name = String(r.before.inputs.name);
    return lineDiff(desiredMembers(r.before.inputs), liveMembers(r.live), `ipset ${name}: `).map((l) =>
      l.startsWith("-") ? `${l}   <- missing from the set` : `${l}   <- added by hand`,
    );
  }
  if (t === "PersistentRuleset") {
    const d = (r.live?.drift ?? {}) as { staleFiles?: string[]; unitEnabled?: boolean; unmanagedRules?: string[] };
    return [
      ...(d.staleFiles ?? []).map((f) => `~ persisted file no longer matches: ${f}`),
      ...(d.unitEnabled === false ? ["~ the boot unit is not enabled"] : []),
      ...(d.unmanagedRules ?? []).map((l) => `+ unmanaged rule (exclusive mode): ${l}`),
    ];
  }
  return ["~ differs from the declared state"];
}

export function renderRefresh(results: readonly RefreshResult[], hostName: (host: string) => string): string {
  const out: string[] = [];
  const byHost = new Map<string, RefreshResult[]>();
  for (const r of results) {
    const host = hostName(hostOf(r.before.outputs));
    byHost.set(host, [...(byHost.get(host) ?? []), r]);
  }
  for (const [host, list] of [...byHost].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const drifted = list.filter((r) => r.verdict !== "in-sync");
    out.push(`${host}: ${drifted.length === 0 ? "in sync" : `${drifted.length} drifted`} (${list.length} resources)`);
    for (const r of drifted.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      out.push(`  ${r.verdict.toUpperCase()} ${shortType(r.type)} ${r.name}`);
      for (const l of driftLines(r)) out.push(`       ${l}`);
    }
  }
  return out.join("\n");
}
