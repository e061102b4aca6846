// The DockerUserRule resource a program declares. Arguments are validated by the provider's `check` (at
// preview, before any connection); the connection is a secret in state.
import * as pulumi from "@pulumi/pulumi";
import type { IpFamily } from "../model/address";
import type { DockerUserRuleInput } from "../model/rule";
import type { ConnectionInput, DeepInputs } from "./inputs";
import { ruleShim } from "./shims";

export interface DockerUserRuleArgs extends DeepInputs<DockerUserRuleInput> {
  /** How to reach the Docker host; the same shape as @pulumi/command's remote connection, plus `sudo`. */
  readonly connection: ConnectionInput;
}

export class DockerUserRule extends pulumi.dynamic.Resource {
  /** The id in this rule's ownership tag (`dfw:<priority>:<ruleId>` in each kernel rule's comment). */
  declare readonly ruleId: pulumi.Output<string>;
  /** The iptables lines this rule renders to, per family (a preview shows these). */
  declare readonly rendered: pulumi.Output<Record<IpFamily, string[]>>;
  /** The lines live on the host, as iptables-save prints them (refresh updates them). */
  declare readonly lines: pulumi.Output<Record<IpFamily, string[]>>;
  /** user@host:port of the host. */
  declare readonly host: pulumi.Output<string>;
  /** The families whose DOCKER-USER the host has. */
  declare readonly families: pulumi.Output<IpFamily[]>;
  /** Problems the host showed at the last apply or refresh (unfiltered IPv6, another tool restoring rules at boot…). */
  declare readonly warnings: pulumi.Output<string[]>;
  /** False when refresh found the block out of order (the next up moves it). */
  declare readonly inPlace: pulumi.Output<boolean>;
  /** With a `target`: the published ports matched at the last apply, or found at the last refresh (`8080/tcp`). */
  declare readonly resolvedPorts: pulumi.Output<string[] | undefined>;

  constructor(name: string, args: DockerUserRuleArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...args,
      connection: pulumi.secret(args.connection),
      ruleName: name,
      // With the name, what makes the rule's derived id unique and stable (rule-provider.ts `deriveRuleId`). The
      // parent's URN is left out (as an input it hung test/program's mocked runs): names differ within a stack.
      ruleScope: `${pulumi.getProject()}/${pulumi.getStack()}`,
      ruleId: undefined,
      rendered: undefined,
      lines: undefined,
      host: undefined,
      families: undefined,
      inPlace: undefined,
      resolvedPorts: undefined,
      warnings: undefined,
    };
    super(
      ruleShim,
      name,
      props,
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["connection"] }),
      "docker-firewall",
      "DockerUserRule",
    );
  }
}
