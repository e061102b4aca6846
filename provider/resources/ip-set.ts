// The IpSet resource: a named ipset on one Docker host. Reference it from a rule with
// `source: { set: lbs.name }` so the rule depends on the set.
import * as pulumi from "@pulumi/pulumi";
import type { IpSetInput } from "../model/ipset";
import type { ConnectionInput, DeepInputs } from "./inputs";
import type { LiveMembers } from "./ipset-provider";
import { ipSetShim } from "./shims";

export interface IpSetArgs extends DeepInputs<IpSetInput> {
  readonly connection: ConnectionInput;
  /** Take over a set of this name that already exists on the host (otherwise creating it is refused). */
  readonly adopt?: pulumi.Input<boolean>;
}

export class IpSet extends pulumi.dynamic.Resource {
  /** The set's name on the host. */
  declare readonly name: pulumi.Output<string>;
  /** What the host holds (canonical members and header); refresh updates it. */
  declare readonly live: pulumi.Output<LiveMembers | null>;
  declare readonly host: pulumi.Output<string>;
  /** Problems the host showed at the last apply or refresh (unfiltered IPv6, another tool restoring rules at boot…). */
  declare readonly warnings: pulumi.Output<string[]>;
  /** True when the create found the set existing and took it over (`adopt: true`). */
  declare readonly adopted: pulumi.Output<boolean>;

  constructor(name: string, args: IpSetArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...args,
      connection: pulumi.secret(args.connection),
      live: undefined,
      host: undefined,
      adopted: undefined,
      warnings: undefined,
    };
    super(
      ipSetShim,
      name,
      props,
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["connection"] }),
      "docker-firewall",
      "IpSet",
    );
  }
}
