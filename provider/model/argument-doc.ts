// The README's argument prose lives on the schemas, as each field's zod `.meta`: test/program/readme-table.ts
// generates README.md's tables from it (and renders `renders` with the provider's own code).
/** What README.md's argument tables say about a field: its meaning, and arguments whose rendered lines it shows. */
export type ArgumentDoc = {
  readonly description: string;
  /** Arguments (merged over the resource's base arguments) whose rendered lines illustrate this one. */
  readonly renders?: readonly Record<string, unknown>[];
  /** Also show the IPv6 line. */
  readonly showIpv6?: boolean;
};

/** A field's `.meta`: its README row (test/program/readme-table.ts renders `renders` with the provider's code). */
export const doc = (d: ArgumentDoc) => d;
