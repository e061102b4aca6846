// A saved line's tokens -> KernelRule, for the exact grammar render-rule.ts prints (adopt/ reads foreign rules
// with it). Anything else (a hand-edited managed rule, another grammar) yields undefined: it is never misread.
import type { IpFamily } from "../model/address";
import type {
  ConntrackMatch,
  KernelProtocol,
  KernelRule,
  KernelTarget,
  Negatable,
  PortRange,
  SetMatch,
} from "./kernel-rule";

class Cursor {
  i = 0;
  constructor(readonly t: readonly string[]) {}
  peek(k = 0): string | undefined {
    return this.t[this.i + k];
  }
  take(): string {
    const v = this.t[this.i++];
    if (v === undefined) throw new Unparsable();
    return v;
  }
  expect(word: string) {
    if (this.take() !== word) throw new Unparsable();
  }
  /** Consumes `[!] FLAG VALUE` when FLAG is next. */
  negatable(flag: string): Negatable<string> | undefined {
    const not = this.peek() === "!" && this.peek(1) === flag;
    if (!not && this.peek() !== flag) return undefined;
    if (not) this.i++;
    this.i++;
    return { value: this.take(), not };
  }
  done(): boolean {
    return this.i >= this.t.length;
  }
}

class Unparsable extends Error {}

function portRange(text: string): PortRange {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new Unparsable();
  return { from: Number(m[1]), to: Number(m[2] ?? m[1]) };
}

function parseTarget(c: Cursor): KernelTarget {
  c.expect("-j");
  const kind = c.take();
  switch (kind) {
    case "ACCEPT":
    case "DROP":
    case "RETURN":
      return { kind };
    case "REJECT":
      c.expect("--reject-with");
      return { kind, with: c.take() };
    case "LOG": {
      let prefix: string | undefined;
      let level: number | undefined;
      if (c.peek() === "--log-prefix") {
        c.i++;
        prefix = c.take();
      }
      if (c.peek() === "--log-level") {
        c.i++;
        level = Number(c.take());
      }
      return { kind, prefix, level };
    }
    default:
      throw new Unparsable();
  }
}

function parseConntrack(c: Cursor): ConntrackMatch {
  const ct: { states?: string[]; origDst?: string; origDstPort?: PortRange; dir?: "ORIGINAL" } = {};
  if (c.peek() === "--ctstate") {
    c.i++;
    ct.states = c.take().split(",");
  }
  if (c.peek() === "--ctorigdst") {
    c.i++;
    ct.origDst = c.take();
  }
  if (c.peek() === "--ctorigdstport") {
    c.i++;
    ct.origDstPort = portRange(c.take());
  }
  if (c.peek() === "--ctdir") {
    c.i++;
    if (c.take() !== "ORIGINAL") throw new Unparsable();
    ct.dir = "ORIGINAL";
  }
  return ct;
}

export function parseRuleTokens(tokens: readonly string[], family: IpFamily): KernelRule | undefined {
  const c = new Cursor(tokens);
  try {
    c.expect("-A");
    const chain = c.take();
    const source = c.negatable("-s");
    const destination = c.negatable("-d");
    const inInterface = c.negatable("-i");
    const outInterface = c.negatable("-o");
    let protocol: KernelProtocol | undefined;
    if (c.peek() === "-p") {
      c.i++;
      const p = c.take();
      if (p !== "tcp" && p !== "udp" && p !== "icmp" && p !== "ipv6-icmp") throw new Unparsable();
      protocol = p;
    }
    c.expect("-m");
    c.expect("comment");
    c.expect("--comment");
    const comment = c.take();
    let dport: PortRange | undefined;
    let icmpType: string | undefined;
    let srcRange: Negatable<string> | undefined;
    let dstRange: Negatable<string> | undefined;
    const sets: SetMatch[] = [];
    let conntrack: ConntrackMatch | undefined;
    let limit: { rate: string; burst?: number } | undefined;
    while (c.peek() === "-m") {
      c.i++;
      const mod = c.take();
      if ((mod === "tcp" || mod === "udp") && mod === protocol && !dport) {
        c.expect("--dport");
        dport = portRange(c.take());
      } else if (mod === "icmp" && protocol === "icmp" && icmpType === undefined) {
        c.expect("--icmp-type");
        icmpType = c.take();
      } else if (mod === "icmp6" && protocol === "ipv6-icmp" && icmpType === undefined) {
        c.expect("--icmpv6-type");
        icmpType = c.take();
      } else if (mod === "iprange" && !srcRange && !dstRange) {
        srcRange = c.negatable("--src-range");
        dstRange = c.negatable("--dst-range");
        if (!srcRange && !dstRange) throw new Unparsable();
      } else if (mod === "set") {
        const m = c.negatable("--match-set");
        if (!m) throw new Unparsable();
        sets.push({ name: m.value, not: m.not, flags: c.take() });
      } else if (mod === "conntrack" && !conntrack) {
        conntrack = parseConntrack(c);
      } else if (mod === "limit" && !limit) {
        c.expect("--limit");
        limit = { rate: c.take() };
        if (c.peek() === "--limit-burst") {
          c.i++;
          limit.burst = Number(c.take());
        }
      } else {
        throw new Unparsable();
      }
    }
    const target = parseTarget(c);
    if (!c.done()) throw new Unparsable();
    return {
      family,
      chain,
      ...(source && { source }),
      ...(destination && { destination }),
      ...(inInterface && { inInterface }),
      ...(outInterface && { outInterface }),
      ...(protocol && { protocol }),
      comment,
      ...(dport && { dport }),
      ...(icmpType !== undefined && { icmpType }),
      ...(srcRange && { srcRange }),
      ...(dstRange && { dstRange }),
      sets,
      ...(conntrack && { conntrack }),
      ...(limit && { limit }),
      target,
    };
  } catch (e) {
    if (e instanceof Unparsable) return undefined;
    throw e;
  }
}
