// PURE. systemd unit files: parsing (sections, keys, continuation lines, drop-ins) and the few settings the lab's
// boot emulation needs.

export type UnitSections = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Parses one unit file into section → key → values (in order). An empty assignment resets a key's list. */
export function parseUnitFile(text: string, into: Map<string, Map<string, string[]>> = new Map()) {
  let section: Map<string, string[]> | undefined;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] ?? "").trim();
    while (line.endsWith("\\") && i + 1 < lines.length) {
      line = `${line.slice(0, -1)} ${(lines[++i] ?? "").trim()}`;
    }
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      section = into.get(header[1]) ?? new Map();
      into.set(header[1], section);
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0 || !section) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (value === "") section.set(key, []);
    else section.set(key, [...(section.get(key) ?? []), value]);
  }
  return into;
}

/** The main file followed by its drop-ins (already in the order systemd applies them). */
export function parseUnit(main: string, dropIns: readonly string[] = []): UnitSections {
  const merged = parseUnitFile(main);
  for (const d of dropIns) parseUnitFile(d, merged);
  return merged;
}

export const values = (u: UnitSections, section: string, key: string): readonly string[] =>
  u.get(section)?.get(key) ?? [];

export const lastValue = (u: UnitSections, section: string, key: string): string | undefined =>
  values(u, section, key).at(-1);

/** Space-separated list settings (Before=, After=) flattened. */
export const listValues = (u: UnitSections, section: string, key: string): string[] =>
  values(u, section, key).flatMap((v) => v.split(/\s+/).filter((s) => s !== ""));

export type ServiceType = "simple" | "exec" | "forking" | "oneshot" | "notify" | "dbus" | "idle";

export function serviceType(u: UnitSections): ServiceType {
  const t = lastValue(u, "Service", "Type");
  if (t) return t as ServiceType;
  // systemd's default: simple with ExecStart=, oneshot without.
  return values(u, "Service", "ExecStart").length > 0 ? "simple" : "oneshot";
}

/** Environment= assignments (quoted words allowed) merged in order. */
export function environment(u: UnitSections): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of values(u, "Service", "Environment")) {
    for (const m of v.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
      const word = m[1] ?? m[2] ?? m[3] ?? "";
      const eq = word.indexOf("=");
      if (eq > 0) env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** PURE. KEY=VALUE lines of an EnvironmentFile= (comments and blank lines skipped, simple quotes removed). */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const value = line.slice(eq + 1).trim();
    env[line.slice(0, eq).trim()] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return env;
}
