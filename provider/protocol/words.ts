// Joins constant words with spaces keeping the literal type, so a shell list built from constants (paths, names)
// is still a compile-time constant that node/commands.ts's defineCommands accepts.

export type Words<T extends readonly string[]> = T extends readonly [infer H extends string]
  ? H
  : T extends readonly [infer H extends string, ...infer R extends readonly string[]]
    ? `${H} ${Words<R>}`
    : string;

export function words<const T extends readonly string[]>(list: T): Words<T> {
  return list.join(" ") as Words<T>;
}
