// A validated DockerUserRule -> its block of kernel rules per family: ports x protocols (or the ports its target
// resolved to, each with its protocol), and a rate-limited
// LOG rule right before each action rule when `log` is set on a non-LOG action (log-before-drop).
import {
  formatCidrConntrack,
  formatCidrIptables,
  formatRange,
  type IpFamily,
  parseCidr,
  parseRange,
} from "../model/address";
import type { AddressMatch, DockerUserRule } from "../model/rule";
import { containsUnknown } from "../model/unknown";
import { canonicalIcmpType, canonicalRate, canonicalRejectWith, canonicalStates } from "./canonical";
import { DOCKER_USER, type KernelProtocol, type KernelRule, type KernelTarget, type PortRange } from "./kernel-rule";
import { commentWithTag, type Tag } from "./tag";

export type FamilyBlocks = Readonly<Record<IpFamily, readonly KernelRule[]>>;

/** The families a rule lands in; "auto" means IPv6 too where the host has an IPv6 DOCKER-USER. */
export function ruleFamilies(rule: DockerUserRule, hostFamilies: readonly IpFamily[]): IpFamily[] {
  switch (rule.family) {
    case "ipv4":
    case "ipv6":
      return [rule.family];
    case "both":
      return ["ipv4", "ipv6"];
    default:
      return hostFamilies.includes("ipv6") ? ["ipv4", "ipv6"] : ["ipv4"];
  }
}

function kernelProtocols(rule: DockerUserRule, family: IpFamily): Array<KernelProtocol | undefined> {
  switch (rule.protocol) {
    case "tcp+udp":
      return ["tcp", "udp"];
    case "icmp":
      return [family === "ipv4" ? "icmp" : "ipv6-icmp"];
    case "all":
      return [undefined];
    default:
      return [rule.protocol];
  }
}

/** (protocol, published port) pairs: the ports a target resolved to, with their own protocols, or the cross product
 * of the rule's protocols and publishedPorts. */
function protocolPorts(
  rule: DockerUserRule,
  family: IpFamily,
): Array<[KernelProtocol | undefined, PortRange | undefined]> {
  if (rule.target) {
    if (!rule.resolvedPorts) throw new Error("a rule with a target must be resolved on its host before it is expanded");
    return rule.resolvedPorts.map((p) => [p.protocol, { from: p.from, to: p.to }]);
  }
  const published = portsOrAny(rule.publishedPorts as PortRange[] | undefined);
  return kernelProtocols(rule, family).flatMap((protocol) => published.map((pub) => [protocol, pub] as const)) as Array<
    [KernelProtocol | undefined, PortRange | undefined]
  >;
}

interface AddressParts {
  cidr?: { value: string; not: boolean };
  range?: { value: string; not: boolean };
  set?: { name: string; flags: string; not: boolean };
}

function addressParts(m: AddressMatch | undefined, defaultFlags: "src" | "dst"): AddressParts {
  if (!m) return {};
  switch (m.kind) {
    case "address": {
      const c = parseCidr(m.address);
      if (!c) throw new Error(`invalid address ${JSON.stringify(m.address)}`);
      return { cidr: { value: formatCidrIptables(c), not: m.not } };
    }
    case "range": {
      const r = parseRange(m.range);
      if (!r) throw new Error(`invalid range ${JSON.stringify(m.range)}`);
      return { range: { value: formatRange(r), not: m.not } };
    }
    case "set":
      return { set: { name: m.set, flags: m.flags ?? defaultFlags, not: m.not } };
  }
}

const portsOrAny = (ports: readonly PortRange[] | undefined): Array<PortRange | undefined> =>
  ports && ports.length > 0 ? [...ports] : [undefined];

function actionTarget(rule: DockerUserRule, family: IpFamily): KernelTarget {
  switch (rule.action) {
    case "REJECT":
      return { kind: "REJECT", with: canonicalRejectWith(rule.rejectWith, family) };
    case "LOG":
      return logTarget(rule);
    default:
      return { kind: rule.action };
  }
}

function logTarget(rule: DockerUserRule): KernelTarget {
  const level = rule.log?.level;
  return {
    kind: "LOG",
    ...(rule.log?.prefix !== undefined && { prefix: rule.log.prefix }),
    ...(level !== undefined && level !== 4 && { level }),
  };
}

/** Expands one validated rule (no unknown values left) into kernel rules, per family, in block order. */
export function expandRule(rule: DockerUserRule, tag: Tag, hostFamilies: readonly IpFamily[]): FamilyBlocks {
  if (containsUnknown(rule)) throw new Error("cannot expand a rule that still has unknown (preview) values");
  const blocks: Record<IpFamily, KernelRule[]> = { ipv4: [], ipv6: [] };
  const comment = commentWithTag(tag, rule.comment);
  const src = addressParts(rule.source, "src");
  const dst = addressParts(rule.destination, "dst");
  const origDst = rule.originalDestination ? parseCidr(rule.originalDestination) : undefined;
  const container = portsOrAny(rule.containerPorts as PortRange[] | undefined);
  const states = rule.connectionStates ? canonicalStates(rule.connectionStates) : undefined;

  for (const family of ruleFamilies(rule, hostFamilies)) {
    for (const [protocol, pub] of protocolPorts(rule, family)) {
      for (const dport of container) {
        const usesOrig = pub !== undefined || origDst !== undefined;
        const base: Omit<KernelRule, "target"> = {
          family,
          chain: DOCKER_USER,
          ...(src.cidr && { source: src.cidr }),
          ...(dst.cidr && { destination: dst.cidr }),
          ...(rule.inInterface && { inInterface: { value: rule.inInterface.name, not: rule.inInterface.not } }),
          ...(rule.outInterface && { outInterface: { value: rule.outInterface.name, not: rule.outInterface.not } }),
          ...(protocol && { protocol }),
          comment,
          ...(dport && { dport }),
          ...(rule.icmpType !== undefined && { icmpType: canonicalIcmpType(rule.icmpType, family) }),
          ...(src.range && { srcRange: src.range }),
          ...(dst.range && { dstRange: dst.range }),
          sets: [src.set, dst.set].filter((s) => s !== undefined),
          ...((states || usesOrig) && {
            conntrack: {
              ...(states && { states }),
              ...(origDst && { origDst: formatCidrConntrack(origDst) }),
              ...(pub && { origDstPort: pub }),
              // Only the client's direction: replies to container-initiated traffic must not match.
              ...(usesOrig && { dir: "ORIGINAL" as const }),
            },
          }),
        };
        // Defaults (burst 5, level 4) are not printed back by iptables-save, so the model omits them too.
        const burst = rule.log?.burst !== undefined && rule.log.burst !== 5 ? { burst: rule.log.burst } : {};
        const limit = rule.log?.rate ? { limit: { rate: canonicalRate(rule.log.rate), ...burst } } : {};
        if (rule.action === "LOG") {
          blocks[family].push({ ...base, ...limit, target: actionTarget(rule, family) });
          continue;
        }
        if (rule.log) {
          blocks[family].push({ ...base, ...limit, target: logTarget(rule) });
        }
        blocks[family].push({ ...base, target: actionTarget(rule, family) });
      }
    }
  }
  // Duplicate ports would render identical lines; one copy matches the same packets.
  return { ipv4: dedupe(blocks.ipv4), ipv6: dedupe(blocks.ipv6) };
}

function dedupe(rules: KernelRule[]): KernelRule[] {
  const seen = new Set<string>();
  return rules.filter((r) => {
    const key = JSON.stringify(r);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
