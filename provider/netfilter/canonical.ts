// Canonical spellings the kernel tools print back: rate reduction (libxt_limit print_rate), ICMP type numbers,
// REJECT reasons per family. Kept in one place so render and the model never disagree.
import type { IpFamily } from "../model/address";
import { RATE_UNIT_SECONDS } from "../model/limits";

const XT_LIMIT_SCALE = 10000;
const PRINT_UNITS = [
  { name: "day", mult: XT_LIMIT_SCALE * 86400 },
  { name: "hour", mult: XT_LIMIT_SCALE * 3600 },
  { name: "min", mult: XT_LIMIT_SCALE * 60 },
  { name: "sec", mult: XT_LIMIT_SCALE },
] as const;

/** The kernel stores a rate as a period; iptables-save prints it back reduced (60/min -> 1/sec). */
export function canonicalRate(rate: string): string {
  const m = /^(\d+)\/(\w+)$/.exec(rate);
  const seconds = m ? RATE_UNIT_SECONDS[m[2] as string] : undefined;
  if (!m || seconds === undefined) throw new Error(`invalid rate ${JSON.stringify(rate)}`);
  const period = Math.floor((XT_LIMIT_SCALE * seconds) / Number(m[1]));
  if (period < 1) throw new Error(`rate ${rate} is faster than the kernel can express (max 10000/sec)`);
  let i = 1;
  for (; i < PRINT_UNITS.length; i++) {
    const u = PRINT_UNITS[i] as (typeof PRINT_UNITS)[number];
    if (period > u.mult || Math.floor(u.mult / period) < u.mult % period) break;
  }
  const unit = PRINT_UNITS[i - 1] as (typeof PRINT_UNITS)[number];
  return `${Math.floor(unit.mult / period)}/${unit.name}`;
}

const ICMP_NAMES: Record<string, { ipv4?: string; ipv6?: string }> = {
  "echo-request": { ipv4: "8", ipv6: "128" },
  "echo-reply": { ipv4: "0", ipv6: "129" },
  "destination-unreachable": { ipv4: "3", ipv6: "1" },
  "time-exceeded": { ipv4: "11", ipv6: "3" },
  "parameter-problem": { ipv4: "12", ipv6: "4" },
  "fragmentation-needed": { ipv4: "3/4" },
  "packet-too-big": { ipv6: "2" },
};

/** ICMP type as saved: numbers, with `/code` only when a code is given. */
export function canonicalIcmpType(type: string | number, family: IpFamily): string {
  const text = String(type);
  const named = ICMP_NAMES[text];
  if (named) {
    const v = named[family];
    if (v === undefined) throw new Error(`ICMP type ${text} does not exist for ${family}`);
    return v;
  }
  const [t, code] = text.split("/");
  return code === undefined ? String(Number(t)) : `${Number(t)}/${Number(code)}`;
}

const REJECT: Record<string, { ipv4: string; ipv6: string }> = {
  "port-unreachable": { ipv4: "icmp-port-unreachable", ipv6: "icmp6-port-unreachable" },
  "host-unreachable": { ipv4: "icmp-host-unreachable", ipv6: "icmp6-addr-unreachable" },
  "net-unreachable": { ipv4: "icmp-net-unreachable", ipv6: "icmp6-no-route" },
  "admin-prohibited": { ipv4: "icmp-admin-prohibited", ipv6: "icmp6-adm-prohibited" },
  "tcp-reset": { ipv4: "tcp-reset", ipv6: "tcp-reset" },
};

export function canonicalRejectWith(reason: string | undefined, family: IpFamily): string {
  const r = REJECT[reason ?? "port-unreachable"];
  if (!r) throw new Error(`unknown reject reason ${JSON.stringify(reason)}`);
  return r[family];
}

const STATE_ORDER = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"];

/** conntrack prints states in a fixed order whatever the input order. */
export function canonicalStates(states: readonly string[]): string[] {
  return STATE_ORDER.filter((s) => states.includes(s));
}
