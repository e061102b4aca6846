// PURE. A rule's target + the host's running containers -> the published ports (with protocols) the rule matches,
// or why it cannot be placed on this host (nothing matches, an ambiguous compose service, nothing published).
import { MAX_KERNEL_RULES_PER_RULE } from "../model/limits";
import type { DockerUserRule } from "../model/rule";
import { describeTarget, type PublishedPort, type RuleTarget } from "../model/target";
import type { ContainerList, RunningContainer } from "./container-list";

export const COMPOSE_PROJECT_LABEL = "com.docker.compose.project";
export const COMPOSE_SERVICE_LABEL = "com.docker.compose.service";

export type Resolution =
  | { readonly ok: true; readonly ports: readonly PublishedPort[] }
  | { readonly ok: false; readonly error: string };

function matches(c: RunningContainer, t: RuleTarget): boolean {
  if (t.container !== undefined && c.name !== t.container) return false;
  if (t.composeService !== undefined && c.labels.get(COMPOSE_SERVICE_LABEL) !== t.composeService) return false;
  if (t.composeProject !== undefined && c.labels.get(COMPOSE_PROJECT_LABEL) !== t.composeProject) return false;
  if (t.label !== undefined) {
    const eq = t.label.indexOf("=");
    const key = eq < 0 ? t.label : t.label.slice(0, eq);
    if (!c.labels.has(key)) return false;
    if (eq >= 0 && c.labels.get(key) !== t.label.slice(eq + 1)) return false;
  }
  return true;
}

/** Sorted by protocol then port, consecutive ports joined into one range (one kernel rule each). */
export function mergePorts(ports: readonly PublishedPort[]): PublishedPort[] {
  const sorted = [...ports].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.from - b.from);
  const out: PublishedPort[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last && last.protocol === p.protocol && p.from <= last.to + 1)
      out[out.length - 1] = { ...last, to: Math.max(last.to, p.to) };
    else out.push(p);
  }
  return out;
}

const wanted = (protocol: DockerUserRule["protocol"]): ReadonlyArray<PublishedPort["protocol"]> =>
  protocol === "tcp" ? ["tcp"] : protocol === "udp" ? ["udp"] : ["tcp", "udp"];

/** The ports `target` publishes on this host, for a rule of `protocol`. */
export function resolveTarget(
  list: ContainerList | undefined,
  target: RuleTarget,
  protocol: DockerUserRule["protocol"],
): Resolution {
  const what = describeTarget(target);
  if (!list) return { ok: false, error: `the host's containers were not read, so ${what} cannot be resolved` };
  if (!list.ok) return { ok: false, error: `cannot list the host's containers to resolve ${what}: ${list.error}` };
  const found = list.containers.filter((c) => matches(c, target));
  if (found.length === 0) return { ok: false, error: `no running container matches ${what}` };
  if (target.composeService !== undefined && target.composeProject === undefined) {
    const projects = [...new Set(found.map((c) => c.labels.get(COMPOSE_PROJECT_LABEL) ?? ""))].sort();
    if (projects.length > 1)
      return {
        ok: false,
        error: `${what} runs in several compose projects (${projects.join(", ")}): set target.composeProject`,
      };
  }
  const protocols = wanted(protocol);
  const ports = mergePorts(found.flatMap((c) => c.ports).filter((p) => protocols.includes(p.protocol)));
  if (ports.length === 0)
    return { ok: false, error: `${what} publishes no ${protocols.join(" or ")} port (docker run -p)` };
  return { ok: true, ports };
}

/** The rule with its target resolved (as expandRule takes it), or why it cannot be planned on this host. */
export function resolveRule(
  rule: DockerUserRule,
  list: ContainerList | undefined,
): { rule: DockerUserRule } | { error: string } {
  if (!rule.target) return { rule };
  const r = resolveTarget(list, rule.target, rule.protocol);
  if (!r.ok) return { error: r.error };
  const count =
    r.ports.length *
    (rule.containerPorts?.length ?? 1) *
    (rule.family === "ipv4" || rule.family === "ipv6" ? 1 : 2) *
    (rule.log && rule.action !== "LOG" ? 2 : 1);
  if (count > MAX_KERNEL_RULES_PER_RULE)
    return {
      error: `${describeTarget(rule.target)} publishes ${r.ports.length} port ranges: ${count} kernel rules (max ${MAX_KERNEL_RULES_PER_RULE})`,
    };
  return { rule: { ...rule, resolvedPorts: r.ports } };
}

/**
 * A transaction's rule intents (any planner's shape) with their targets resolved against one read of the host, and
 * the ones that cannot be placed there, by owner, with why. A refused intent is left out of planning: its block stays.
 */
export function resolveTargets<X extends { readonly owner: number; readonly rule: DockerUserRule | null }>(
  intents: readonly X[],
  list: ContainerList | undefined,
): { intents: X[]; refused: Map<number, string> } {
  const refused = new Map<number, string>();
  const resolved = intents.map((x) => {
    const r = x.rule ? resolveRule(x.rule, list) : undefined;
    if (r && "error" in r) refused.set(x.owner, r.error);
    return r && "rule" in r ? { ...x, rule: r.rule } : x;
  });
  return { intents: resolved, refused };
}

/** How outputs show resolved ports: `8080/tcp`, `8000-8010/udp`. */
export const formatPorts = (ports: readonly PublishedPort[]): string[] =>
  ports.map((p) => `${p.from === p.to ? p.from : `${p.from}-${p.to}`}/${p.protocol}`);

/** formatPorts' inverse (recorded outputs); anything else is dropped. */
export function parsePorts(texts: readonly unknown[]): PublishedPort[] {
  return texts.flatMap((t) => {
    const m = typeof t === "string" ? /^(\d{1,5})(?:-(\d{1,5}))?\/(tcp|udp)$/.exec(t) : null;
    if (!m) return [];
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    return from >= 1 && to <= 65535 && from <= to ? [{ protocol: m[3] as "tcp" | "udp", from, to }] : [];
  });
}
