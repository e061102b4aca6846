/** JSON with object keys sorted and undefined members dropped: structural equality for values that crossed the
 * engine's protobuf Struct (which sorts keys) or were built in another order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v ?? null, (_k, val) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(
          Object.entries(val)
            .filter(([, x]) => x !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : val,
  );
}
