// The filtering-container-traffic policy as data: index.ts declares it on a host, and the reliability suite
// applies the same policy to a lab node (test/support/rel-policies.ts), so the example is what gets tested.
import type * as fw from "pulumi-docker-firewall";

export interface WanFilter {
  /** The Internet-facing interface (Docker's example: eth0; the LAN, eth1, is untouched). */
  readonly wan: string;
  /** Networks allowed to reach the web port. */
  readonly trusted: readonly string[];
  readonly webPort: number;
}

/** The rules, top of DOCKER-USER first (priorities by position, 10, 20, …; the DROP pinned at 900). */
export function rules(p: WanFilter): Record<string, fw.HostRuleArgs> {
  const { wan } = p;
  const out: Record<string, fw.HostRuleArgs> = {
    // -A DOCKER-USER -i eth0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
    established: { action: "RETURN", inInterface: wan, connectionStates: ["RELATED", "ESTABLISHED"] },
    // -A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j RETURN  (and 443)
    web: { action: "RETURN", inInterface: wan, protocol: "tcp", publishedPorts: [80, 443] },
  };
  // -A DOCKER-USER -s 10.11.11.0/24 -i eth0 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j RETURN
  p.trusted.forEach((network, i) => {
    out[`${p.webPort}-from-${i + 1}`] = {
      action: "RETURN",
      inInterface: wan,
      protocol: "tcp",
      publishedPorts: [p.webPort],
      source: network,
    };
  });
  // -A DOCKER-USER -i eth0 -j DROP
  out["block-external"] = { action: "DROP", inInterface: wan, priority: 900 };
  return out;
}
