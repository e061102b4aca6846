// Pulumi's preview sentinel: during `pulumi preview` an input whose value is not known yet reaches
// check/diff as this exact string (the SDK's `unknownValue`). Each argument schema is built twice from one
// definition: once for check (accepting the sentinel) and once for known values, so the core never sees it.
import { z } from "zod";

export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9" as const;
export type Unknown = typeof UNKNOWN;

export function isUnknown(v: unknown): v is Unknown {
  return v === UNKNOWN;
}

export type OrUnknown<T extends z.ZodType> = z.ZodUnion<[z.ZodLiteral<Unknown>, T]>;

/** `schema`, or the preview sentinel. Keeps the schema's own message when the value is neither. */
export function orUnknown<T extends z.ZodType>(schema: T): OrUnknown<T> {
  return z.union([z.literal(UNKNOWN), schema], {
    // zod reports a type mismatch of every option as "Invalid input"; surface the real schema's message instead.
    error: (issue) => {
      const errors = (issue as { errors?: { message?: string }[][] }).errors;
      return errors?.[1]?.[0]?.message;
    },
  });
}

/** The same object shape with every field also accepting the sentinel. */
export function acceptUnknowns<S extends Record<string, z.ZodType>>(shape: S): { [K in keyof S]: OrUnknown<S[K]> } {
  const out: Record<string, z.ZodType> = {};
  for (const [key, schema] of Object.entries(shape)) out[key] = orUnknown(schema);
  return out as { [K in keyof S]: OrUnknown<S[K]> };
}

/** True when the value or anything nested in it is the sentinel. */
export function containsUnknown(v: unknown): boolean {
  if (isUnknown(v)) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v !== null && typeof v === "object") return Object.values(v).some(containsUnknown);
  return false;
}

/** Wraps a field schema that may hold another resource's output. */
export type Lift = <T extends z.ZodType>(schema: T) => T;

/**
 * `known`: the field as is (apply, diff, the core). `preview`: the field or the sentinel, for check only: its
 * static type claims the known output, so a schema built with it must be exported as `z.ZodType<unknown>` (its
 * output is never used, only its failures).
 */
export const lifts: { readonly known: Lift; readonly preview: Lift } = {
  known: (schema) => schema,
  preview: ((schema: z.ZodType) => orUnknown(schema)) as Lift,
};
