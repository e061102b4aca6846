// The container-target policy as data: index.ts declares it on a host, and test/lab/container-target.test.ts
// applies the same rules to a lab node with a real container, so the example is what gets tested.
import type * as fw from "pulumi-docker-firewall";

export interface ContainerAccess {
  /** The container whose published ports are guarded: `{ container }`, `{ composeService, composeProject }`, or a label. */
  readonly target: NonNullable<fw.DockerUserRuleInput["target"]>;
  /** Networks allowed in; everyone else is dropped, on whatever ports the container publishes now. */
  readonly trusted: readonly string[];
  /** The host's Internet-facing interface (the drop applies there only). */
  readonly wan: string;
  /** Prefix of the resource names. */
  readonly name: string;
}

/** One RETURN per trusted network (priorities 100, 110, …), then the DROP (900): all following the container. */
export function rules(p: ContainerAccess): Record<string, Omit<fw.DockerUserRuleArgs, "connection">> {
  const out: Record<string, Omit<fw.DockerUserRuleArgs, "connection">> = {};
  p.trusted.forEach((network, i) => {
    // iptables -I DOCKER-USER -s 10.0.0.0/8 -p tcp -m conntrack --ctorigdstport <each published port> --ctdir ORIGINAL -j RETURN
    out[`${p.name}-from-${i + 1}`] = { priority: 100 + 10 * i, action: "RETURN", source: network, target: p.target };
  });
  // iptables -A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport <each published port> --ctdir ORIGINAL -j DROP
  out[`${p.name}-drop`] = { priority: 900, action: "DROP", inInterface: p.wan, target: p.target };
  return out;
}
