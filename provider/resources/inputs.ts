import type * as pulumi from "@pulumi/pulumi";

/** Every value, at any depth, may be an Output of another resource (e.g. `source: { set: lbs.name }`). */
export type DeepInput<T> = T extends string | number | boolean | undefined | null
  ? pulumi.Input<T>
  : T extends ReadonlyArray<infer U>
    ? pulumi.Input<ReadonlyArray<DeepInput<U>>>
    : T extends object
      ? pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>
      : pulumi.Input<T>;

/** An argument object whose every field is a DeepInput. */
export type DeepInputs<T> = { [K in keyof T]: DeepInput<T[K]> };
