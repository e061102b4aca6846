// PURE. Whether DOCKER-USER really sees forwarded traffic: FORWARD must jump to it before any of Docker's own
// chains (Docker 20.10 to 28 put the jump first), and a chain left behind by a switch to Docker's nftables
// backend (nothing jumps to it any more) must never pass for a working one.
import type { IpFamily } from "../model/address";
import { DOCKER_USER } from "./kernel-rule";
import { chainRules, type IptablesSave } from "./parse-iptables-save";

export type ForwardCheck =
  | { readonly ok: true; readonly warning?: string }
  | { readonly ok: false; readonly error: string };

/** Rules in FORWARD that hand traffic to Docker: jumps to its chains, or accepts for its bridges. */
const isDockers = (line: string) => {
  const target = /(?:^| )-[jg] (\S+)/.exec(line)?.[1] ?? "";
  return (/^DOCKER(-|$)/.test(target) && target !== DOCKER_USER) || / -[io] (docker0|br-[0-9a-f]{12})( |$)/.test(line);
};

const jumpsToUser = (line: string) => /(?:^| )-[jg] DOCKER-USER( |$)/.test(line);

/**
 * Checks one family's filter table of the backend that holds DOCKER-USER. `nftablesBackend`: Docker says it uses
 * its nftables firewall (a docker-bridges table, or firewall-backend in daemon.json).
 */
export function checkForward(
  save: IptablesSave,
  family: IpFamily,
  backend: string,
  nftablesBackend: boolean,
): ForwardCheck {
  const where = `${family === "ipv4" ? "iptables" : "ip6tables"}-${backend}`;
  const forward = chainRules(save, "FORWARD").map((r) => r.line);
  const user = forward.findIndex(jumpsToUser);
  if (user < 0 && nftablesBackend) {
    return {
      ok: false,
      error: `DOCKER-USER in ${where} is left over from before Docker switched to its nftables firewall backend: nothing jumps to it, so rules there filter nothing. Manage the firewall in an nftables table that runs before Docker's (or switch Docker back to the iptables backend), then delete the stale chain (${where} -F DOCKER-USER, then ${where} -X DOCKER-USER) and disable this host's docker-firewall boot unit.`,
    };
  }
  if (user < 0) {
    return {
      ok: false,
      error: `FORWARD in ${where} does not jump to DOCKER-USER, so rules there would filter nothing. Restart Docker (it puts "-A FORWARD -j DOCKER-USER" first in FORWARD) or insert that jump yourself, then run again.`,
    };
  }
  const docker = forward.findIndex(isDockers);
  if (docker >= 0 && docker < user) {
    return {
      ok: false,
      error: `FORWARD in ${where} hands traffic to Docker (${JSON.stringify(forward[docker])}) before it jumps to DOCKER-USER, so rules there would miss that traffic. Restart Docker (it puts the DOCKER-USER jump first) or move the jump above Docker's rules, then run again.`,
    };
  }
  if (nftablesBackend) {
    return {
      ok: true,
      warning: `Docker now uses its nftables firewall backend, yet DOCKER-USER in ${where} is still jumped to: a leftover from the iptables backend. Its rules keep filtering only until the next reboot, after which nothing jumps to it.`,
    };
  }
  return { ok: true };
}

/** Docker's own FORWARD policy says nothing: what matters is whether forwarded IPv6 meets any filter at all. */
export function unfilteredIpv6Warning(
  save6: IptablesSave | undefined,
  ipv6Forwarding: boolean,
  ipv6Dnat: number,
): string | undefined {
  if (ipv6Dnat > 0) {
    // Measured on Docker 20.10 with ip6tables enabled: ports are published over IPv6, yet no ip6tables DOCKER-USER.
    return `Docker publishes container ports over IPv6 (${ipv6Dnat} DNAT rules in ip6tables) but ip6tables has no DOCKER-USER chain: IPv6 traffic to containers is NOT filtered by these rules. Upgrade Docker (the IPv6 DOCKER-USER exists whenever ip6tables is on, since Docker 23; 27 turned ip6tables on by default) or stop publishing over IPv6.`;
  }
  const policy = save6?.tables.get("filter")?.chains.get("FORWARD")?.policy ?? "ACCEPT";
  if (ipv6Forwarding && policy === "ACCEPT") {
    return `the host forwards IPv6 with an ACCEPT policy and ip6tables has no DOCKER-USER chain: containers reachable over IPv6 are NOT filtered by these rules. Turn on Docker's ip6tables (default since Docker 27) or set the ip6tables FORWARD policy to DROP.`;
  }
  return undefined;
}
