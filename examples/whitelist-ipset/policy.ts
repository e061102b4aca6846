// The whitelist-ipset policy as data: index.ts declares it on a host, and the reliability suite applies the same
// policy to a lab node (test/support/rel-policies.ts), so the example is what gets tested.
import type * as pulumi from "@pulumi/pulumi";
import type * as fw from "pulumi-docker-firewall";

/** The whitelist set: its members reach everything. */
export const whitelist = (members: pulumi.Input<string[]>) => ({
  name: "whitelist",
  type: "hash:ip" as const,
  entries: members,
});

/** The rules, top of DOCKER-USER first; `set` is the whitelist's name (its IpSet's output, so rules follow it). */
export function rules(set: pulumi.Input<string>): Record<string, Omit<fw.DockerUserRuleArgs, "connection">> {
  return {
    // -A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
    established: { priority: 10, action: "RETURN", connectionStates: ["RELATED", "ESTABLISHED"] },
    // Traffic the containers start (their replies come back as ESTABLISHED above).
    "from-containers": { priority: 20, action: "RETURN", inInterface: "docker0" },
    // -A DOCKER-USER -m set --match-set whitelist src -j RETURN
    whitelisted: { priority: 30, action: "RETURN", source: { set } },
    // -A DOCKER-USER -p tcp -m conntrack --ctorigdstport 80 (and 443) --ctdir ORIGINAL -j RETURN
    web: { priority: 40, action: "RETURN", protocol: "tcp", publishedPorts: [80, 443] },
    // -A DOCKER-USER -m limit --limit 2/min -j LOG --log-prefix "DOCKER-USER dropped: "
    // -A DOCKER-USER -j DROP
    // The article's prefix "IPTables DOCKER-USER dropped: " is 30 characters; the kernel keeps 29 and the
    // provider refuses longer prefixes at preview rather than let them be cut.
    "drop-rest": { priority: 900, action: "DROP", log: { prefix: "DOCKER-USER dropped: ", rate: "2/min" } },
  };
}
