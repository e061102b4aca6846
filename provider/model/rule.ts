// DockerUserRule arguments: users speak in Docker terms (published host port, container port, source
// allowlist); netfilter/expand.ts turns a validated rule into kernel rules.
import { z } from "zod";
import { type IpFamily, parseCidr, parseRange } from "./address";
import { doc } from "./argument-doc";
import { MAX_KERNEL_RULES_PER_RULE, PRIORITY_MAX, PRIORITY_MIN } from "./limits";
import { addressOrCidr, comment, portSpec } from "./primitives";
import {
  ACTIONS,
  type AddressMatch,
  addressMatchOf,
  CONNECTION_STATES,
  icmpType,
  interfaceMatchOf,
  logOptionsOf,
  PROTOCOLS,
  REJECT_WITH,
} from "./rule-parts";
import { type PublishedPort, TARGET_DOC, targetOf } from "./target";
import { isUnknown, type Lift, lifts } from "./unknown";

export {
  ACTIONS,
  type AddressMatch,
  addressMatch,
  CONNECTION_STATES,
  ICMP_TYPE_NAMES,
  type InterfaceMatch,
  interfaceMatch,
  type LogOptions,
  logOptions,
  maxBurstFor,
  PROTOCOLS,
  REJECT_WITH,
} from "./rule-parts";

/** The rule's fields; `u` lifts the ones a program may pass as another resource's output (unknown at preview). */
const ruleObjectOf = (u: Lift) => {
  const portList = u(z.array(u(portSpec)).min(1, { message: "must list at least one port" }));
  const addressMatch = addressMatchOf(u);
  const interfaceMatch = interfaceMatchOf(u);
  return z
    .object({
      priority: u(z.number().int().min(PRIORITY_MIN).max(PRIORITY_MAX))
        .default(500)
        .meta(
          doc({
            description:
              "Position in DOCKER-USER: blocks are ordered by priority, then id, above every rule nobody manages. It is the 4 digits of the ownership tag.",
            renders: [{ priority: 100 }],
          }),
        ),
      action: z.enum(ACTIONS, { message: `must be one of ${ACTIONS.join(", ")}` }).meta(
        doc({
          description:
            "What a matching packet gets. `RETURN` hands it on to Docker's own rules (which then forward it).",
          renders: [{ action: "ACCEPT" }, { action: "RETURN" }, { action: "DROP" }, { action: "REJECT" }],
        }),
      ),
      rejectWith: z
        .enum(REJECT_WITH)
        .optional()
        .meta(
          doc({
            description: "The ICMP error (or TCP reset) a `REJECT` sends; named for IPv4, translated for IPv6.",
            renders: [{ action: "REJECT", protocol: "tcp", rejectWith: "tcp-reset" }],
          }),
        ),
      log: logOptionsOf(u)
        .optional()
        .meta(
          doc({
            description:
              "Log the packets this rule acts on, in a rate-limited LOG rule right before it (log-before-drop). With `action: LOG` the rule only logs.",
            renders: [{ action: "DROP", log: { prefix: "dfw drop: ", rate: "2/min" } }],
          }),
        ),
      family: z
        .enum(["ipv4", "ipv6", "both"])
        .optional()
        .meta(
          doc({
            description:
              "IP family. Unset: IPv4, plus IPv6 where the host's Docker has an IPv6 DOCKER-USER; pinned by a literal address or a set.",
            renders: [{ family: "ipv6", action: "DROP" }],
            showIpv6: true,
          }),
        ),
      protocol: z
        .enum(PROTOCOLS, { message: `must be one of ${PROTOCOLS.join(", ")}` })
        .default("all")
        .meta(
          doc({
            description: "`tcp+udp` makes one kernel rule per protocol; `icmp` is ICMPv6 in IPv6.",
            renders: [
              { protocol: "udp", action: "DROP" },
              { protocol: "tcp+udp", publishedPorts: [53] },
            ],
          }),
        ),
      source: addressMatch.optional().meta(
        doc({
          description:
            "Where the connection comes from: an address or CIDR, `{ range }`, or `{ set }` (an IpSet; `setFlags` for multi-dimension sets); `not: true` negates. A CIDR must be written as its network (`203.0.113.7/1` is refused, naming `128.0.0.0/1`); IPv4-mapped IPv6 addresses are kept in the form the kernel tools print (`::ffff:198.51.100.7`).",
          renders: [
            { source: "203.0.113.7" },
            { source: { address: "10.0.0.0/8", not: true }, action: "DROP" },
            { source: { range: "192.0.2.10-192.0.2.20" } },
            { source: { set: "lbs" } },
          ],
        }),
      ),
      destination: addressMatch.optional().meta(
        doc({
          description:
            "Where the packet goes after Docker's DNAT (the container's address): the same forms as `source`.",
          renders: [{ destination: "172.17.0.2" }, { destination: { set: "backends" } }],
        }),
      ),
      publishedPorts: portList.optional().meta(
        doc({
          description:
            "Host ports as published with `docker run -p` (before DNAT), matched on the connection's original destination port; only the client's direction.",
          renders: [{ protocol: "tcp", publishedPorts: [443, "8000-8100"] }],
        }),
      ),
      target: targetOf(u).optional().meta(TARGET_DOC),
      originalDestination: u(addressOrCidr)
        .optional()
        .meta(
          doc({
            description: "The host address the client connected to (for hosts with several addresses).",
            renders: [{ originalDestination: "198.51.100.101" }],
          }),
        ),
      containerPorts: portList.optional().meta(
        doc({
          description: "Ports inside the container (after DNAT).",
          renders: [{ protocol: "tcp", containerPorts: [80] }],
        }),
      ),
      icmpType: icmpType.optional().meta(
        doc({
          description: "ICMP type by name (right for both families) or number / `TYPE/CODE` (needs a pinned family).",
          renders: [{ protocol: "icmp", icmpType: "echo-request" }],
          showIpv6: true,
        }),
      ),
      inInterface: interfaceMatch.optional().meta(
        doc({
          description:
            "Interface the packet came in on, e.g. the WAN; `eth+` matches a prefix; `{ name, not: true }` negates. A name may not start with `-`.",
          renders: [
            { inInterface: "eth0", action: "DROP" },
            { inInterface: { name: "docker0", not: true }, action: "DROP" },
          ],
        }),
      ),
      outInterface: interfaceMatch.optional().meta(
        doc({
          description: "Interface the packet leaves by (a Docker bridge for inbound traffic).",
          renders: [{ outInterface: "docker0" }],
        }),
      ),
      connectionStates: z
        .array(z.enum(CONNECTION_STATES))
        .min(1)
        .optional()
        .meta(
          doc({
            description: "conntrack states, e.g. `RELATED`, `ESTABLISHED` for answers to connections already allowed.",
            renders: [{ action: "RETURN", connectionStates: ["ESTABLISHED", "RELATED"] }],
          }),
        ),
      comment: u(comment)
        .optional()
        .meta(
          doc({
            description:
              "Your words, kept after the ownership tag in the rule's comment (at most 190 bytes, no control characters, no C1 or bidirectional formatting characters such as U+202E, which would make the preview read differently from the kernel's text).",
            renders: [{ comment: "web from the balancers" }],
          }),
        ),
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
export type DockerUserRule = z.output<typeof dockerUserRuleArgs> & { readonly resolvedPorts?: Resolved };
/** A rule with a `target`, once planned on a host: the ports it resolved to there (containers/resolve.ts). */
type Resolved = readonly PublishedPort[];

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
  if (r.target !== undefined && r.publishedPorts !== undefined)
    issue(ctx, "publishedPorts", "cannot be set with target: the target's published ports are the ones matched");
  if (r.target !== undefined && r.protocol === "icmp") issue(ctx, "target", "needs protocol tcp, udp, tcp+udp or all");
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
