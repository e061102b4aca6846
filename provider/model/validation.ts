// zod issues -> field-named failures. This is the one place argument errors get their wording, so `check`
// (preview time) and the provider's own guards report the same text.
import type { z } from "zod";
import { quoteValue } from "./primitives";

export interface FieldFailure {
  /** Dotted path of the argument, e.g. "source.address" or "publishedPorts.1". */
  readonly property: string;
  readonly reason: string;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

type Issue = z.core.$ZodIssue;

const isRootMismatch = (i: Issue) => i.path.length === 0 && (i.code === "invalid_type" || i.code === "invalid_value");

/**
 * Unions (value-or-unknown, string-or-object shorthands) report "Invalid input" with every branch's issues.
 * Keep the branch that got past the type check: its issues say what is really wrong.
 */
function flattenIssues(issues: readonly Issue[], prefix: readonly PropertyKey[] = []): Issue[] {
  return issues.flatMap((i): Issue[] => {
    const path = [...prefix, ...i.path];
    if (i.code !== "invalid_union") return [{ ...i, path }];
    const branches = i.errors.map((b) => flattenIssues(b, path));
    const informative = branches.find(
      (b) => b.length > 0 && !b.every((x) => isRootMismatch({ ...x, path: x.path.slice(path.length) })),
    );
    // Every branch failed on type: report one type mismatch (so an enclosing union can skip it too).
    return (
      informative ?? [
        {
          code: "invalid_type",
          expected: "never",
          input: undefined,
          path,
          message: "has the wrong type or shape",
        } as Issue,
      ]
    );
  });
}

/** Fields whose value is a secret: a failure names the field and the reason, never the value (at any depth). */
const SECRET_FIELDS: ReadonlySet<PropertyKey> = new Set([
  "password",
  "privateKey",
  "privateKeyPassword",
  "sudoPassword",
]);

const isSecretPath = (path: readonly PropertyKey[]) => path.some((k) => SECRET_FIELDS.has(k));

export function fieldFailures(error: z.ZodError, input: unknown): FieldFailure[] {
  return flattenIssues(error.issues).map((i) => {
    const property = i.path.map(String).join(".") || "(arguments)";
    const value = isSecretPath(i.path) ? undefined : valueAt(input, i.path);
    const shown = value === undefined || typeof value === "object" ? "" : ` (got ${quoteValue(value)})`;
    const message =
      i.code === "unrecognized_keys" ? `unknown argument(s) ${i.keys.map((k) => quoteValue(k)).join(", ")}` : i.message;
    return { property, reason: `${message}${shown}` };
  });
}

export class ValidationError extends Error {
  readonly kind = "ValidationError";
  constructor(
    readonly resource: string,
    readonly failures: readonly FieldFailure[],
  ) {
    super(`${resource}: invalid arguments:\n${failures.map((f) => `  - ${f.property}: ${f.reason}`).join("\n")}`);
  }
}

/** Parses or throws a ValidationError naming every bad field. */
export function parseArgs<S extends z.ZodType>(schema: S, input: unknown, resource: string): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new ValidationError(resource, fieldFailures(r.error, input));
  return r.data;
}
