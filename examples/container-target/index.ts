// Only trusted networks reach a container, on whatever ports it publishes: the rules name the container (or a
// compose service, or a label) instead of port numbers. The provider resolves the published ports on the host at
// every apply; when the container is recreated on another port, `pulumi refresh` shows the rules' `resolvedPorts`
// changing and the next `pulumi up` moves the rules with it. No running container of that name fails the up,
// naming it and the host, and leaves the host as it was.
//
//   pulumi config set docker-firewall:container web                     # default: the lab's `web`
//   pulumi config set docker-firewall:composeService api                # or a compose service…
//   pulumi config set docker-firewall:composeProject shop               # …of one project
//   pulumi config set docker-firewall:trustedNetworks '["10.0.0.0/8"]'  # default on the lab: its load balancers
import * as pulumi from "@pulumi/pulumi";
import * as fw from "pulumi-docker-firewall";
import { configuredObject, firstHost, target } from "../support/target";
import { rules } from "./policy";

const cfg = new pulumi.Config("docker-firewall");
const t = target(cfg);
const node = firstHost(t);
const service = cfg.get("composeService");
const project = cfg.get("composeProject");
const container = service ? { composeService: service, ...(project && { composeProject: project }) } : undefined;
const trusted = configuredObject<string[]>(cfg, "trustedNetworks", t.lab?.loadBalancers);

const created = Object.entries(
  rules({
    name: node.name,
    target: container ?? { container: cfg.get("container") ?? "web" },
    trusted,
    wan: node.wanInterface,
  }),
).map(([name, args]) => [name, new fw.DockerUserRule(name, { ...args, connection: node.connection })] as const);

/** Per rule, the published ports it matches on the host (resolved at apply, refreshed by `pulumi refresh`). */
export const resolvedPorts = pulumi.all(Object.fromEntries(created.map(([name, r]) => [name, r.resolvedPorts])));
