// PURE. The order systemd would start a set of units in, from their Before=/After= among themselves.

export interface OrderingInput {
  readonly name: string;
  readonly before: readonly string[];
  readonly after: readonly string[];
}

/**
 * A topological order of the units. Ties go by name, and `lastResort` (docker.service, which the lab starts itself)
 * is placed as late as its constraints allow: units unrelated to Docker run before it, as the earliest boot would.
 * Units caught in a cycle are appended by name and reported.
 */
export function startOrder(units: readonly OrderingInput[], lastResort?: string): { order: string[]; cycle: string[] } {
  const names = new Set(units.map((u) => u.name));
  const edges = new Map<string, Set<string>>(); // a -> b: a starts before b
  const add = (a: string, b: string) => {
    if (!names.has(a) || !names.has(b) || a === b) return;
    edges.set(a, (edges.get(a) ?? new Set()).add(b));
  };
  for (const u of units) {
    for (const b of u.before) add(u.name, b);
    for (const a of u.after) add(a, u.name);
  }
  const indegree = new Map([...names].map((n) => [n, 0]));
  for (const targets of edges.values()) for (const t of targets) indegree.set(t, (indegree.get(t) ?? 0) + 1);
  const order: string[] = [];
  const ready = () =>
    [...indegree.entries()]
      .filter(([, d]) => d === 0)
      .map(([n]) => n)
      .sort((a, b) => (a === lastResort ? 1 : b === lastResort ? -1 : a.localeCompare(b)));
  for (let next = ready()[0]; next !== undefined; next = ready()[0]) {
    order.push(next);
    indegree.delete(next);
    for (const t of edges.get(next) ?? []) indegree.set(t, (indegree.get(t) ?? 0) - 1);
  }
  const cycle = [...indegree.keys()].sort();
  return { order: [...order, ...cycle], cycle };
}
