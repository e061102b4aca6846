import type * as pulumi from "@pulumi/pulumi";
import type { ConnectionArgs } from "../model/connection";

/** Every value, at any depth, may be an Output of another resource (e.g. `source: { set: lbs.name }`). */
// [T]: a union of primitives stays one Input (an Output<boolean> is not an Output<true> | Output<false>).
export type DeepInput<T> = [T] extends [string | number | boolean | undefined | null]
  ? pulumi.Input<T>
  : T extends ReadonlyArray<infer U>
    ? pulumi.Input<ReadonlyArray<DeepInput<U>>>
    : T extends object
      ? pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>
      : pulumi.Input<T>;

/** An argument object whose every field is a DeepInput. */
export type DeepInputs<T> = { [K in keyof T]: DeepInput<T[K]> };

/**
 * How to reach a host, as a program passes it: the connection, or any field of it (the proxy's too), may be an
 * Output: `{ host: vm.publicIp, privateKey: cfg.requireSecret("key") }`.
 */
export type ConnectionInput = DeepInput<ConnectionArgs>;
