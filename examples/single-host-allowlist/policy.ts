// The single-host-allowlist policy as data: index.ts declares it on a host, and the reliability suite applies the
// same policy to a lab node (test/support/rel-policies.ts), so the example is what gets tested.
import type * as fw from "pulumi-docker-firewall";

export interface Allowlist {
  /** The host's Internet-facing interface. */
  readonly wan: string;
  /** The one address allowed in. */
  readonly allowFrom: string;
  /** The published (host) port. */
  readonly port: number;
}

/** The two rules: the ACCEPT (100) always above the DROP (200), whatever order they are created in. */
export function rules(p: Allowlist): Record<"allow-8080" | "drop-8080", Omit<fw.DockerUserRuleArgs, "connection">> {
  return {
    // iptables -A DOCKER-USER -i eth0 -s 192.168.0.1 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j ACCEPT
    "allow-8080": {
      priority: 100,
      action: "ACCEPT",
      inInterface: p.wan,
      source: p.allowFrom,
      protocol: "tcp",
      publishedPorts: [p.port],
      comment: "8080 from one address",
    },
    // iptables -A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP
    "drop-8080": {
      priority: 200,
      action: "DROP",
      inInterface: p.wan,
      protocol: "tcp",
      publishedPorts: [p.port],
      comment: "8080 from anyone else",
    },
  };
}
