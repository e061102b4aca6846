// DockerHostFirewall's default priorities (resources/rule-priorities.ts): a fresh list is numbered by position,
// and later lists keep every priority they can, so an insertion, an append or a removal re-tags no other rule.
import { describe, expect, it } from "vitest";
import { PRIORITY_MAX } from "../../provider/model/limits";
import { assignPriorities } from "../../provider/resources/rule-priorities";

const changed = (a: Record<string, number>, b: Record<string, number>) => Object.keys(b).filter((k) => a[k] !== b[k]);

describe("default rule priorities", () => {
  it("number a fresh list by position × 10", () => {
    expect(assignPriorities({}, ["a", "b", "c"])).toEqual({ a: 10, b: 20, c: 30 });
  });

  it("insert at the top, in the middle and at the end by changing the new rule only", () => {
    const first = assignPriorities({}, ["a", "b", "c"]);
    const top = assignPriorities(first, ["x", "a", "b", "c"]);
    expect(changed(first, top)).toEqual(["x"]);
    expect(top.x).toBeLessThan(top.a as number);
    const mid = assignPriorities(top, ["x", "a", "y", "b", "c"]);
    expect(changed(top, mid)).toEqual(["y"]);
    expect([mid.a, mid.y, mid.b]).toEqual([...[mid.a, mid.y, mid.b]].sort((p, q) => (p as number) - (q as number)));
    const end = assignPriorities(mid, ["x", "a", "y", "b", "c", "z"]);
    expect(changed(mid, end)).toEqual(["z"]);
    expect(assignPriorities(end, ["x", "a", "b", "c", "z"])).toEqual({ x: top.x, a: 10, b: 20, c: 30, z: end.z });
  });

  it("give a moved rule a new number and keep the others", () => {
    const first = assignPriorities({}, ["a", "b", "c", "d"]);
    const moved = assignPriorities(first, ["a", "d", "b", "c"]);
    expect(changed(first, moved)).toEqual(["d"]);
    expect(moved.d).toBeGreaterThan(10);
    expect(moved.d).toBeLessThan(20);
  });

  it("renumber only when no number is left between two rules, and stay in range", () => {
    let p = assignPriorities({}, ["a", "b"]);
    const keys = ["a", "b"];
    for (let i = 0; i < 12; i++) {
      keys.unshift(`t${i}`);
      p = assignPriorities(p, keys);
      const values = keys.map((k) => p[k] as number);
      expect(values).toEqual([...values].sort((x, y) => x - y));
      expect(new Set(values).size).toBe(values.length);
    }
    const long = Array.from({ length: 900 }, (_, i) => `r${i}`);
    const all = assignPriorities({}, long);
    expect(Math.max(...Object.values(all))).toBeLessThanOrEqual(PRIORITY_MAX);
  });
});
