// KernelRule -> the exact line iptables-save / ip6tables-save prints for it (the canonical form, so a read-back compares as text).
// Field order follows iptables' fixed order; match order is ours, and the kernel keeps match order as written.
import type { KernelRule, KernelTarget, Negatable, PortRange } from "./kernel-rule";
import { quoteIptables } from "./quote";

const neg = (n: Negatable<string>, flag: string) => `${n.not ? "! " : ""}${flag} ${n.value}`;

export function formatPortRange(p: PortRange): string {
  return p.from === p.to ? String(p.from) : `${p.from}:${p.to}`;
}

function renderTarget(t: KernelTarget): string {
  switch (t.kind) {
    case "ACCEPT":
    case "DROP":
    case "RETURN":
      return `-j ${t.kind}`;
    case "REJECT":
      return `-j REJECT --reject-with ${t.with}`;
    case "LOG": {
      const parts = ["-j LOG"];
      if (t.prefix !== undefined) parts.push(`--log-prefix ${quoteIptables(t.prefix)}`);
      // Level 4 (warning) is the default and iptables-save omits it.
      if (t.level !== undefined && t.level !== 4) parts.push(`--log-level ${t.level}`);
      return parts.join(" ");
    }
  }
}

/** The rule's arguments after `-A CHAIN` (also what `-D CHAIN …` and `-I CHAIN n …` take). */
export function renderRuleSpec(r: KernelRule): string {
  const parts: string[] = [];
  if (r.source) parts.push(neg(r.source, "-s"));
  if (r.destination) parts.push(neg(r.destination, "-d"));
  if (r.inInterface) parts.push(neg(r.inInterface, "-i"));
  if (r.outInterface) parts.push(neg(r.outInterface, "-o"));
  if (r.protocol) parts.push(`-p ${r.protocol}`);
  parts.push(`-m comment --comment ${quoteIptables(r.comment)}`);
  if (r.dport && (r.protocol === "tcp" || r.protocol === "udp")) {
    parts.push(`-m ${r.protocol} --dport ${formatPortRange(r.dport)}`);
  }
  if (r.icmpType !== undefined) {
    parts.push(
      r.protocol === "ipv6-icmp" ? `-m icmp6 --icmpv6-type ${r.icmpType}` : `-m icmp --icmp-type ${r.icmpType}`,
    );
  }
  if (r.srcRange || r.dstRange) {
    const range = ["-m iprange"];
    if (r.srcRange) range.push(neg(r.srcRange, "--src-range"));
    if (r.dstRange) range.push(neg(r.dstRange, "--dst-range"));
    parts.push(range.join(" "));
  }
  for (const s of r.sets) parts.push(`-m set ${s.not ? "! " : ""}--match-set ${s.name} ${s.flags}`);
  const ct = r.conntrack;
  if (ct && (ct.states || ct.origDst || ct.origDstPort || ct.dir)) {
    const c = ["-m conntrack"];
    if (ct.states?.length) c.push(`--ctstate ${ct.states.join(",")}`);
    if (ct.origDst) c.push(`--ctorigdst ${ct.origDst}`);
    if (ct.origDstPort) c.push(`--ctorigdstport ${formatPortRange(ct.origDstPort)}`);
    if (ct.dir) c.push(`--ctdir ${ct.dir}`);
    parts.push(c.join(" "));
  }
  if (r.limit) {
    // A burst of 5 is the default and iptables-save omits it.
    const burst = r.limit.burst !== undefined && r.limit.burst !== 5 ? ` --limit-burst ${r.limit.burst}` : "";
    parts.push(`-m limit --limit ${r.limit.rate}${burst}`);
  }
  parts.push(renderTarget(r.target));
  return parts.join(" ");
}

export function renderRule(r: KernelRule): string {
  return `-A ${r.chain} ${renderRuleSpec(r)}`;
}
