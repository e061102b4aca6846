// Applies policy.ts to every host. Nothing here changes when the policy does: reviews look at policy.ts and
// at the preview, which lists per host the iptables lines (the rules' `rendered` input) and set members.
import * as fw from "pulumi-docker-firewall";
import { target } from "../support/target";
import * as policy from "./policy";

const { hosts } = target();

const firewalls = hosts.map(
  (host) =>
    new fw.DockerHostFirewall(host.name, {
      connection: host.connection,
      sets: {
        lbs: { type: "hash:net", entries: policy.loadBalancers },
        admins: { type: "hash:ip", entries: policy.admin.from },
      },
      rules: policy.rules(host.wanInterface),
    }),
);

/** Per host, the literal iptables lines of its managed rules, in chain order. */
export const rendered = Object.fromEntries(firewalls.map((f, i) => [hosts[i]?.name, f.rendered]));
