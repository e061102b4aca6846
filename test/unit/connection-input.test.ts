// Type-level contract of `connection` (provider/resources/inputs.ts ConnectionInput): a program may pass Outputs
// at any depth, for every resource, and the very object it already gives @pulumi/command's remote.Command.
// `npm run typecheck` compiles this file: a regression fails tsc, not only vitest.
import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { describe, expectTypeOf, it } from "vitest";
import type {
  ConnectionArgs,
  ConnectionInput,
  DockerHostFirewallArgs,
  DockerUserRuleArgs,
  IpSetArgs,
  PersistentRulesetArgs,
} from "../../provider/index";

/** Plain assignability (expectTypeOf's toExtend trips over the Input unions' Promise/Output members). */
type Extends<A, B> = [A] extends [B] ? true : false;

/** What a program writes: the host from another resource's output, the key a config secret, a nested proxy. */
function programConnection(vmPublicIp: pulumi.Output<string>, cfg: pulumi.Config) {
  return {
    host: vmPublicIp,
    port: pulumi.output(22),
    user: "deploy",
    privateKey: cfg.requireSecret("key"),
    sudo: pulumi.output(true),
    proxy: { host: pulumi.output("bastion.example"), privateKey: cfg.requireSecret("bastionKey") },
  };
}

describe("connection accepts pulumi Inputs at every depth", () => {
  it("for DockerUserRule, IpSet, PersistentRuleset and DockerHostFirewall", () => {
    type Program = ReturnType<typeof programConnection>;
    expectTypeOf<Extends<Program, DockerUserRuleArgs["connection"]>>().toEqualTypeOf<true>();
    expectTypeOf<Extends<Program, IpSetArgs["connection"]>>().toEqualTypeOf<true>();
    expectTypeOf<Extends<Program, PersistentRulesetArgs["connection"]>>().toEqualTypeOf<true>();
    expectTypeOf<Extends<Program, DockerHostFirewallArgs["connection"]>>().toEqualTypeOf<true>();
    // A whole connection as one Output (e.g. pulumi.secret({...})) still works, and so does a plain object.
    expectTypeOf<Extends<pulumi.Output<ConnectionArgs>, ConnectionInput>>().toEqualTypeOf<true>();
    expectTypeOf<Extends<ConnectionArgs, ConnectionInput>>().toEqualTypeOf<true>();
  });

  it("takes @pulumi/command's remote connection object as is", () => {
    expectTypeOf<Extends<command.types.input.remote.ConnectionArgs, ConnectionInput>>().toEqualTypeOf<true>();
  });

  it("still rejects a wrong field type or a misspelt field", () => {
    expectTypeOf<Extends<{ host: pulumi.Output<number> }, ConnectionInput>>().toEqualTypeOf<false>();
    type BadProxy = { host: string; proxy: { host: pulumi.Output<boolean> } };
    expectTypeOf<Extends<BadProxy, ConnectionInput>>().toEqualTypeOf<false>();
    // @ts-expect-error: "prot" is not a connection field (tsc's excess-property check on a literal)
    const misspelt: ConnectionInput = { host: "h", prot: 22 };
    expectTypeOf(misspelt).toEqualTypeOf<ConnectionInput>();
  });
});
