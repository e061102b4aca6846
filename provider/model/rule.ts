// DockerUserRule arguments: users speak in Docker terms (published host port, container port, source
// allowlist); netfilter/expand.ts turns a validated rule into kernel rules.
import { z } from "zod";
import { type IpFamily, parseCidr, parseRange } from "./address";
import { MAX_KERNEL_RULES_PER_RULE, PRIORITY_MAX, PRIORITY_MIN, RATE_UNIT_SECONDS } from "./limits";
import {
  addressOrCidr,
  burst,
  comment,
  interfaceName,
  ipRange,
  logPrefix,
  portSpec,
  rate,
  setName,
} from "./primitives";
import { isUnknown, type Lift, lifts } from "./unknown";

const setFlags = z.string().regex(/^(src|dst)(,(src|dst)){0,5}$/, {
  message: "must be src/dst flags like src or src,dst",
});

/** Where a packet comes from or goes to: an address/CIDR, an iprange, or an ipset; each may be negated. */
const addressMatchOf = (u: Lift) =>
  z.union([
    u(addressOrCidr).transform((address) => ({ kind: "address" as const, address, not: false })),
    z
      .object({
        address: u(addressOrCidr).optional(),
        range: u(ipRange).optional(),
        set: u(setName).optional(),
        setFlags: u(setFlags).optional(),
        not: z.boolean().optional(),
      })
      .strict()
      .superRefine((m, ctx) => {
        const given = [m.address, m.range, m.set].filter((v) => v !== undefined).length;
        if (given !== 1) ctx.addIssue({ code: "custom", message: "give exactly one of address, range or set" });
        if (m.setFlags !== undefined && m.set === undefined)
          ctx.addIssue({ code: "custom", path: ["setFlags"], message: "setFlags only applies to a set" });
      })
      // Runs only once the refinement passed: exactly one of address, range and set is given.
      .transform(({ address, range, set, setFlags: flags, not = false }) =>
        range !== undefined
          ? { kind: "range" as const, range, not }
          : set !== undefined
            ? { kind: "set" as const, set, flags, not }
            : { kind: "address" as const, address: String(address), not },
      ),
  ]);
export const addressMatch = addressMatchOf(lifts.known);
export type AddressMatch = z.output<typeof addressMatch>;

const interfaceMatchOf = (u: Lift) =>
  z.union([
    u(interfaceName).transform((name) => ({ name, not: false })),
    z
      .object({ name: u(interfaceName), not: z.boolean().optional() })
      .strict()
      .transform((m) => ({ name: m.name, not: m.not ?? false })),
  ]);
export const interfaceMatch = interfaceMatchOf(lifts.known);
export type InterfaceMatch = z.output<typeof interfaceMatch>;

export const ACTIONS = ["ACCEPT", "RETURN", "DROP", "REJECT", "LOG"] as const;
export const PROTOCOLS = ["tcp", "udp", "tcp+udp", "icmp", "all"] as const;
export const REJECT_WITH = [
  "port-unreachable",
  "host-unreachable",
  "net-unreachable",
  "admin-prohibited",
  "tcp-reset",
] as const;
export const CONNECTION_STATES = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"] as const;
export const ICMP_TYPE_NAMES = [
  "echo-request",
  "echo-reply",
  "destination-unreachable",
  "time-exceeded",
  "parameter-problem",
  "fragmentation-needed",
  "packet-too-big",
] as const;
const LOG_LEVELS = ["emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"] as const;

const logOptionsOf = (u: Lift) =>
  z
    .object({
      prefix: u(logPrefix).optional(),
      level: z
        .union([z.number().int().min(0).max(7), z.enum(LOG_LEVELS).transform((n) => LOG_LEVELS.indexOf(n))])
        .optional(),
      rate: rate.optional(),
      burst: burst.optional(),
    })
    .strict()
    .refine((l) => l.burst === undefined || l.rate !== undefined, {
      path: ["burst"],
      message: "burst needs rate (a burst limits nothing without a rate)",
    })
    .superRefine((l, ctx) => {
      // Only a rate that passed its own check is interpreted (and echoed in the message).
      const max = l.rate && rate.safeParse(l.rate).success ? maxBurstFor(l.rate) : Number.POSITIVE_INFINITY;
      if ((l.burst ?? 5) > max) {
        ctx.addIssue({
          code: "custom",
          path: ["burst"],
          message: `with rate ${l.rate} must be at most ${max} (xt_limit overflows on iptables-legacy: the kernel refuses the rule)`,
        });
      }
    });
export const logOptions = logOptionsOf(lifts.known);
export type LogOptions = z.output<typeof logOptions>;

/**
 * xt_limit (iptables-legacy) refuses a rule when seconds-per-packet x burst overflows its u32 credit counter:
 * about 111,848 at HZ=300, the tightest common kernel clock. Measured: 1/hour is refused from burst 38 on HZ=1000.
 */
export function maxBurstFor(rate: string): number {
  const [count, unit] = rate.split("/");
  const secondsPerPacket = (RATE_UNIT_SECONDS[unit ?? ""] ?? 1) / Number(count);
  return Math.max(1, Math.min(100, Math.floor(111_000 / secondsPerPacket)));
}

/** The rule's fields; `u` lifts the ones a program may pass as another resource's output (unknown at preview). */
const ruleObjectOf = (u: Lift) => {
  const portList = u(z.array(u(portSpec)).min(1, { message: "must list at least one port" }));
  return z
    .object({
      priority: u(z.number().int().min(PRIORITY_MIN).max(PRIORITY_MAX)).default(500),
      action: z.enum(ACTIONS, { message: `must be one of ${ACTIONS.join(", ")}` }),
      rejectWith: z.enum(REJECT_WITH).optional(),
      log: logOptionsOf(u).optional(),
      family: z.enum(["ipv4", "ipv6", "both"]).optional(),
      protocol: z.enum(PROTOCOLS, { message: `must be one of ${PROTOCOLS.join(", ")}` }).default("all"),
      source: addressMatchOf(u).optional(),
      destination: addressMatchOf(u).optional(),
      /** Host ports before Docker's DNAT: matched with conntrack's original destination port. */
      publishedPorts: portList.optional(),
      /** The host address the connection was made to (for hosts with several addresses). */
      originalDestination: u(addressOrCidr).optional(),
      /** Ports inside the container, after DNAT (`--dport`). */
      containerPorts: portList.optional(),
      /** A name (echo-request, …: right for both families) or a number "8" / "3/4" (needs a pinned family). */
      icmpType: z
        .union([
          z.enum(ICMP_TYPE_NAMES),
          z.number().int().min(0).max(254),
          z.string().regex(/^(25[0-4]|2[0-4]\d|1?\d?\d)(\/(25[0-5]|2[0-4]\d|1?\d?\d))?$/, {
            message: "must be an ICMP type name, a number 0-254 (255 means any), or TYPE/CODE",
          }),
        ])
        .optional(),
      inInterface: interfaceMatchOf(u).optional(),
      outInterface: interfaceMatchOf(u).optional(),
      connectionStates: z.array(z.enum(CONNECTION_STATES)).min(1).optional(),
      comment: u(comment).optional(),
    })
    .strict();
};
const ruleObject = ruleObjectOf(lifts.known);

const dockerUserRuleOf = (u: Lift) =>
  ruleObjectOf(u)
    .superRefine(checkRuleConsistency)
    .transform((r) => ({ ...r, family: resolveFamily(r) }));

/** A rule whose every value is known: what apply, diff and the core take. */
export const dockerUserRuleArgs = dockerUserRuleOf(lifts.known);
/** What check validates at preview: any field may still be unknown; the known ones are checked as above. */
export const dockerUserRulePreview: z.ZodType<unknown> = dockerUserRuleOf(lifts.preview);

export type DockerUserRuleInput = z.input<typeof dockerUserRuleArgs>;
type Parsed = z.output<typeof ruleObject>;
/** A validated rule; `family: "auto"` means both families where the host has an IPv6 DOCKER-USER. */
export type DockerUserRule = z.output<typeof dockerUserRuleArgs>;

function familyOfMatch(m: AddressMatch | undefined): IpFamily | undefined {
  if (!m) return undefined;
  if (m.kind === "address" && !isUnknown(m.address)) return parseCidr(m.address)?.family;
  if (m.kind === "range" && !isUnknown(m.range)) return parseRange(m.range)?.family;
  return undefined;
}

/** Families pinned by literal addresses, by field. */
function pinnedFamilies(r: Parsed): Array<[string, IpFamily]> {
  const pins: Array<[string, IpFamily]> = [];
  const s = familyOfMatch(r.source);
  const d = familyOfMatch(r.destination);
  if (s) pins.push(["source", s]);
  if (d) pins.push(["destination", d]);
  if (r.originalDestination !== undefined && !isUnknown(r.originalDestination)) {
    const o = parseCidr(r.originalDestination)?.family;
    if (o) pins.push(["originalDestination", o]);
  }
  return pins;
}

const usesSet = (r: Parsed) => r.source?.kind === "set" || r.destination?.kind === "set";

function resolveFamily(r: Parsed): "ipv4" | "ipv6" | "both" | "auto" {
  const pinned = pinnedFamilies(r)[0]?.[1];
  if (r.family) return r.family;
  if (pinned) return pinned;
  // An ipset has exactly one family; IpSet defaults to ipv4, so does a rule that matches a set.
  if (usesSet(r)) return "ipv4";
  return "auto";
}

function issue(ctx: z.RefinementCtx, path: string, message: string) {
  ctx.addIssue({ code: "custom", path: [path], message });
}

function checkRuleConsistency(r: Parsed, ctx: z.RefinementCtx) {
  const ported = r.protocol === "tcp" || r.protocol === "udp" || r.protocol === "tcp+udp";
  if (r.rejectWith !== undefined && r.action !== "REJECT") issue(ctx, "rejectWith", "only applies to action REJECT");
  if (r.rejectWith === "tcp-reset" && r.protocol !== "tcp")
    issue(ctx, "rejectWith", "tcp-reset needs protocol tcp (the kernel refuses it for other protocols)");
  if (r.publishedPorts !== undefined && !ported)
    issue(ctx, "publishedPorts", "needs protocol tcp, udp or tcp+udp (ports exist only for those)");
  if (r.containerPorts !== undefined && !ported)
    issue(ctx, "containerPorts", "needs protocol tcp, udp or tcp+udp (ports exist only for those)");
  if (r.icmpType !== undefined && r.protocol !== "icmp") issue(ctx, "icmpType", "needs protocol icmp");
  const icmpNumeric = typeof r.icmpType === "number" || /^\d/.test(String(r.icmpType ?? ""));
  const pinnedFamily = r.family === "ipv4" || r.family === "ipv6" || pinnedFamilies(r).length > 0;
  if (icmpNumeric && !pinnedFamily)
    issue(ctx, "icmpType", "a numeric ICMP type differs between IPv4 and IPv6: set family, or use a name");
  if (r.icmpType === "fragmentation-needed" && (r.family === "ipv6" || r.family === "both"))
    issue(ctx, "icmpType", "fragmentation-needed is IPv4 only (IPv6 calls it packet-too-big)");
  if (r.icmpType === "packet-too-big" && (r.family === "ipv4" || r.family === "both"))
    issue(ctx, "icmpType", "packet-too-big is IPv6 only (IPv4 calls it fragmentation-needed)");

  const pins = pinnedFamilies(r);
  const [first, ...rest] = pins;
  for (const [field, fam] of rest) {
    if (first && fam !== first[1])
      issue(ctx, field, `is ${fam} but ${first[0]} is ${first[1]}: one rule has one family`);
  }
  if (r.family && r.family !== "both") {
    for (const [field, fam] of pins) {
      if (fam !== r.family) issue(ctx, field, `is ${fam} but family is ${r.family}`);
    }
  }
  if (r.family === "both" && pins.length > 0) {
    issue(
      ctx,
      "family",
      `is both but ${pins[0]?.[0]} is a literal ${pins[0]?.[1]} address: drop family or the address`,
    );
  }
  if (r.family === "both" && usesSet(r)) {
    issue(ctx, "family", "is both but an ipset has one family: use ipv4 or ipv6 (one rule per set)");
  }

  const count =
    (r.protocol === "tcp+udp" ? 2 : 1) *
    (Array.isArray(r.publishedPorts) ? r.publishedPorts.length : 1) *
    (Array.isArray(r.containerPorts) ? r.containerPorts.length : 1) *
    (r.family === "ipv4" || r.family === "ipv6" ? 1 : 2) *
    (r.log && r.action !== "LOG" ? 2 : 1);
  if (count > MAX_KERNEL_RULES_PER_RULE) {
    issue(
      ctx,
      "publishedPorts",
      `expands to ${count} kernel rules (max ${MAX_KERNEL_RULES_PER_RULE}): use fewer ports, a range, or an ipset`,
    );
  }
}
