// The PersistentRuleset resource: one per Docker host. Makes the host's managed rules and sets survive reboot,
// restored before Docker starts, without ever restarting Docker.
import * as pulumi from "@pulumi/pulumi";
import type { ConnectionInput, DeepInputs } from "./inputs";
import type { PersistenceDrift, PersistentRulesetInput } from "./persistent-provider";
import { persistentShim } from "./shims";

export interface PersistentRulesetArgs extends DeepInputs<PersistentRulesetInput> {
  readonly connection: ConnectionInput;
}

export class PersistentRuleset extends pulumi.dynamic.Resource {
  declare readonly host: pulumi.Output<string>;
  /** The iptables backend the boot restore uses (the one holding Docker's DOCKER-USER). */
  declare readonly backend: pulumi.Output<string>;
  /** The files written on the host. */
  declare readonly files: pulumi.Output<string[]>;
  /** Problems the host showed at the last apply or refresh (unfiltered IPv6, another tool restoring rules at boot…). */
  declare readonly warnings: pulumi.Output<string[]>;
  /** What refresh found: stale files, a disabled unit, unmanaged rules (exclusive), warnings. */
  declare readonly drift: pulumi.Output<PersistenceDrift>;

  constructor(name: string, args: PersistentRulesetArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...args,
      connection: pulumi.secret(args.connection),
      host: undefined,
      backend: undefined,
      files: undefined,
      drift: undefined,
      warnings: undefined,
    };
    super(
      persistentShim,
      name,
      props,
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["connection"] }),
      "docker-firewall",
      "PersistentRuleset",
    );
  }
}
