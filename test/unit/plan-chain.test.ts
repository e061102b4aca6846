import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chainRules, parseIptablesSave, type SavedRule } from "../../provider/netfilter/parse-iptables-save";
import { type BlockChange, planChainChanges } from "../../provider/netfilter/plan-chain";
import { formatTag, parseTag, type Tag } from "../../provider/netfilter/tag";
import { applyRestoreOps } from "../support/chain-sim";
import { formatChanges } from "../support/change-list";

const ret = "-A DOCKER-USER -j RETURN";
const foreign = (n: number) => `-A DOCKER-USER -s 192.0.2.${n}/32 -j DROP`;
const managed = (tag: Tag, n: number) =>
  `-A DOCKER-USER -p tcp -m comment --comment "${formatTag(tag)}" -m tcp --dport ${n} -j ACCEPT`;
const saved = (lines: readonly string[]): SavedRule[] =>
  chainRules(parseIptablesSave(["*filter", ":DOCKER-USER - [0:0]", ...lines, "COMMIT"].join("\n")), "DOCKER-USER");

describe("planChainChanges", () => {
  const a = { priority: 100, id: "a" };
  const b = { priority: 200, id: "b" };

  it("inserts a new block at the top, above foreign rules and Docker's RETURN", () => {
    const live = saved([foreign(1), ret]);
    const plan = planChainChanges("ipv4", live, [{ tag: a, lines: [managed(a, 80), managed(a, 443)] }]);
    expect(plan.script).toBe(
      [
        "*filter",
        `-I DOCKER-USER 1 ${managed(a, 80).slice(15)}`,
        `-I DOCKER-USER 2 ${managed(a, 443).slice(15)}`,
        "COMMIT",
        "",
      ].join("\n"),
    );
    expect(plan.expected).toEqual([managed(a, 80), managed(a, 443), foreign(1), ret]);
    expect(formatChanges(plan.changes)).toEqual([`+ [ipv4] ${managed(a, 80)}`, `+ [ipv4] ${managed(a, 443)}`]);
  });

  it("is a no-op when the chain already matches", () => {
    const live = saved([managed(a, 80), managed(b, 81), foreign(1), ret]);
    const plan = planChainChanges("ipv4", live, [{ tag: b, lines: [managed(b, 81)] }]);
    expect(plan.script).toBeUndefined();
    expect(plan.changes).toEqual([]);
  });

  it("moves managed blocks back above a foreign rule inserted at the top, touching only our rules", () => {
    const live = saved([foreign(9), managed(a, 80), managed(b, 81), ret]);
    const plan = planChainChanges("ipv4", live, []);
    expect(plan.expected).toEqual([managed(a, 80), managed(b, 81), foreign(9), ret]);
    expect(plan.ops.every((op) => !op.line.includes("192.0.2.9"))).toBe(true);
    expect(plan.changes.map((c) => c.kind)).toEqual(["reorder", "reorder"]);
  });

  it("deletes by exact spec and never declares a chain", () => {
    const live = saved([managed(a, 80), managed(b, 81), ret]);
    const plan = planChainChanges("ipv4", live, [{ tag: a, lines: null }]);
    expect(plan.script?.split("\n").filter((l) => l.startsWith(":"))).toEqual([]);
    expect(plan.script).toContain(`-D DOCKER-USER ${managed(a, 80).slice(15)}`);
    expect(plan.expected).toEqual([managed(b, 81), ret]);
  });

  it("exclusive mode removes unmanaged rules but keeps Docker's RETURN", () => {
    const live = saved([foreign(1), managed(a, 80), foreign(2), ret]);
    const plan = planChainChanges("ipv4", live, [], { exclusive: true });
    expect(plan.expected).toEqual([managed(a, 80), ret]);
    expect(plan.changes.filter((c) => c.kind === "unmanaged")).toHaveLength(2);
  });

  it("exclusive mode on Docker 28's RETURN-less chain: managed rules only, no RETURN invented", () => {
    const empty = planChainChanges("ipv4", saved([]), [{ tag: a, lines: [managed(a, 80)] }], { exclusive: true });
    expect(empty.expected).toEqual([managed(a, 80)]);
    const live = saved([foreign(1), managed(a, 80), foreign(2)]);
    const plan = planChainChanges("ipv4", live, [{ tag: b, lines: [managed(b, 81)] }], { exclusive: true });
    expect(plan.expected).toEqual([managed(a, 80), managed(b, 81)]);
    expect(
      applyRestoreOps(
        live.map((r) => r.line),
        plan.script,
      ),
    ).toEqual(plan.expected);
    expect(plan.changes.filter((c) => c.kind === "unmanaged")).toHaveLength(2);
  });

  it("keeps a priority change an update of that block only", () => {
    const a2 = { priority: 300, id: "a" };
    const live = saved([managed(a, 80), managed(b, 81), ret]);
    const plan = planChainChanges("ipv4", live, [{ tag: a2, lines: [managed(a2, 80)] }]);
    expect(plan.expected).toEqual([managed(b, 81), managed(a2, 80), ret]);
    expect(plan.changes.map((c) => [c.kind, c.subject])).toEqual([["update", "a"]]);
  });

  it("property: applying the plan yields managed blocks in (priority, id) order above untouched foreign rules", () => {
    const tagArb = fc.record({
      priority: fc.integer({ min: 0, max: 20 }),
      id: fc.constantFrom("a", "b", "c", "d", "e", "f"),
    });
    const blockArb = fc.record({
      tag: tagArb,
      ports: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }),
    });
    const liveArb = fc.array(
      fc.oneof(
        fc.integer({ min: 1, max: 6 }).map((n) => ({ foreign: n })),
        blockArb.map((b) => ({ block: b })),
      ),
      { maxLength: 10 },
    );
    const changeArb = fc.array(
      fc.record({
        tag: tagArb,
        ports: fc.option(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 })),
      }),
      { maxLength: 4 },
    );
    fc.assert(
      fc.property(liveArb, changeArb, fc.boolean(), (liveSpec, changeSpec, withReturn) => {
        // A live chain may hold one id under one priority only (a tag is written whole by one apply).
        const prio = new Map<string, number>();
        const lines: string[] = [];
        for (const item of liveSpec) {
          if ("foreign" in item) lines.push(foreign(item.foreign));
          else {
            const p = prio.get(item.block.tag.id) ?? item.block.tag.priority;
            prio.set(item.block.tag.id, p);
            for (const port of item.block.ports) lines.push(managed({ id: item.block.tag.id, priority: p }, port));
          }
        }
        if (withReturn) lines.push(ret);
        const changes: BlockChange[] = changeSpec.map((c) => ({
          tag: c.tag,
          lines: c.ports ? c.ports.map((p) => managed(c.tag, p)) : null,
        }));
        const plan = planChainChanges("ipv4", saved(lines), changes);
        const after = applyRestoreOps(lines, plan.script);
        expect(after).toEqual(plan.expected);
        // Foreign rules: same multiset, same relative order, below every managed rule.
        const isManaged = (l: string) => l.includes("dfw:");
        expect(after.filter((l) => !isManaged(l))).toEqual(lines.filter((l) => !isManaged(l)));
        const firstForeign = after.findIndex((l) => !isManaged(l));
        if (firstForeign >= 0) expect(after.slice(firstForeign).some(isManaged)).toBe(false);
        // Managed rules sorted by (priority, id) and each block contiguous.
        const tags = after.filter(isManaged).map((l) => parseTag(/dfw:\S+(?=")/.exec(l)?.[0] ?? "") as Tag);
        for (let i = 1; i < tags.length; i++) {
          const [p, q] = [tags[i - 1] as Tag, tags[i] as Tag];
          expect(p.priority < q.priority || (p.priority === q.priority && p.id <= q.id)).toBe(true);
        }
        // Idempotent: planning again against the result changes nothing.
        expect(planChainChanges("ipv4", saved(after), changes).script).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
  });
});
