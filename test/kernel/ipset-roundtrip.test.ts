// Sets through the real kernel: what we render is what `ipset save` gives back (after our canonicalisation),
// re-planning against the result is a no-op, a membership change swaps atomically under a live rule, and a small
// change goes in place with a rollback that undoes any part of it.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IpFamily } from "../../provider/model/address";
import { type IpSetSpec, ipSetArgs } from "../../provider/model/ipset";
import { headerOf, parseIpsetSave, sameHeader } from "../../provider/netfilter/ipset-text";
import { planIpSet } from "../../provider/netfilter/plan-ipset";
import { ipSetInput } from "../support/arbitraries";
import { ScratchNamespace, tools } from "../support/netns";

const SETS = Number(process.env.DFW_IPSET_CASES ?? 250);
const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

describe("ipset round trip through the kernel", () => {
  let ns: ScratchNamespace;
  beforeAll(async () => {
    ns = await ScratchNamespace.create();
  });
  afterAll(async () => ns?.destroy());

  it.each(["ipv4", "ipv6"] as const)(`${SETS} generated sets, %s`, async (family: IpFamily) => {
    const specs: IpSetSpec[] = [];
    let refused = 0;
    fc.sample(
      fc.integer({ min: 0, max: 1e9 }).chain((n) => ipSetInput(family, `s${family === "ipv4" ? 4 : 6}-${n}`)),
      { numRuns: SETS, seed: SEED },
    ).forEach((input, i) => {
      const r = ipSetArgs.safeParse({ ...input, name: `s${family.slice(-1)}-${i}` });
      // Random CIDRs can collapse onto one network with two different comments: the model refuses that.
      if (!r.success) {
        expect(
          r.error.issues.every((x) => /listed twice/.test(x.message)),
          JSON.stringify(r.error.issues),
        ).toBe(true);
        refused++;
        return;
      }
      specs.push(r.data);
    });
    expect(refused).toBeLessThan(SETS / 10);
    const script = specs.map((s, i) => planIpSet(s, undefined, `dfwtmp-${family}-${i}`).script).join("");
    await ns.mustRun(["ipset", "restore"], script);
    const live = parseIpsetSave(await ns.mustRun(["ipset", "save"]));
    let entries = 0;
    for (const s of specs) {
      const l = live.get(s.name as string);
      expect(l, s.name as string).toBeDefined();
      if (!l) continue;
      expect(sameHeader(l.header, headerOf(s))).toBe(true);
      expect([...l.entries].sort()).toEqual(s.entries.map((e) => [e.entry, e.comment]).sort());
      expect(planIpSet(s, l, "dfwtmp-x").script).toBeUndefined();
      entries += s.entries.length;
    }
    expect([...live.keys()].filter((n) => n.startsWith("dfwtmp-"))).toEqual([]);
    await ns.mustRun(["ipset", "destroy"]);
    console.log(
      `[ipset round trip] ${family}: ${specs.length} generated sets, ${entries} entries, saved == rendered (seed ${SEED})`,
    );
  });

  it.each(["nft", "legacy"] as const)(
    "swaps members atomically while an iptables-%s rule uses the set",
    async (backend) => {
      const t = tools(backend, "ipv4");
      const v1 = ipSetArgs.parse({ name: "lbs", type: "hash:net", entries: ["198.51.100.0/26"] });
      await ns.mustRun(["ipset", "restore"], planIpSet(v1, undefined, "dfwtmp-a").script);
      await ns.mustRun([
        t.iptables,
        "-w",
        "5",
        "-A",
        "OUTPUT",
        "-m",
        "set",
        "--match-set",
        "lbs",
        "dst",
        "-j",
        "ACCEPT",
      ]);
      const v2 = ipSetArgs.parse({
        name: "lbs",
        type: "hash:net",
        entries: ["203.0.113.0/24", "198.51.100.64/26"],
        maxelem: 1024,
      });
      const live = parseIpsetSave(await ns.mustRun(["ipset", "save", "lbs"])).get("lbs");
      const plan = planIpSet(v2, live, "dfwtmp-b");
      await ns.mustRun(["ipset", "restore"], plan.script);
      const after = parseIpsetSave(await ns.mustRun(["ipset", "save", "lbs"])).get("lbs");
      expect([...(after?.entries.keys() ?? [])].sort()).toEqual(["198.51.100.64/26", "203.0.113.0/24"]);
      expect(after?.header.maxelem).toBe(1024);
      // Destroying a set in use fails in the kernel; the rule keeps it alive.
      const destroy = await ns.exec(["ipset", "restore"], planIpSet(null, after, "dfwtmp-c").script);
      expect(destroy.code).not.toBe(0);
      expect(destroy.stderr).toMatch(/in use/);
      await ns.mustRun([t.iptables, "-w", "5", "-F", "OUTPUT"]);
      await ns.mustRun(["ipset", "restore"], planIpSet(null, after, "dfwtmp-c").script);
      expect((await ns.mustRun(["ipset", "list", "-n"])).trim()).toBe("");
    },
  );

  it.each(["ipv4", "ipv6"] as const)(
    "changes a few members of a big %s set in place; the rollback undoes any part of it",
    async (family) => {
      const net = (i: number) =>
        family === "ipv4" ? `10.${i >> 8}.${i & 255}.0/24` : `2001:db8:${i.toString(16)}::/48`;
      const v1 = ipSetArgs.parse({
        name: "big",
        type: "hash:net",
        family,
        entries: Array.from({ length: 300 }, (_, i) => ({ entry: net(i), comment: `n${i % 7}` })),
      });
      // 10 removed, 10 added (one inside a removed network), 5 comments changed.
      const wanted = v1.entries
        .filter((_, i) => i >= 10)
        .map((e, i) => (i < 5 ? { entry: e.entry, comment: "changed" } : e));
      const inside = family === "ipv4" ? "10.0.3.128/25" : "2001:db8:3:8000::/49";
      const v2 = ipSetArgs.parse({
        ...v1,
        entries: [...wanted, inside, ...Array.from({ length: 9 }, (_, i) => net(1000 + i))],
      });
      const restart = async () => {
        await ns.exec(["ipset", "destroy", "big"]);
        await ns.mustRun(["ipset", "restore"], planIpSet(v1, undefined, "dfwtmp-r").script);
        return parseIpsetSave(await ns.mustRun(["ipset", "save", "big"])).get("big");
      };
      const members = async () =>
        [...(parseIpsetSave(await ns.mustRun(["ipset", "save", "big"])).get("big")?.entries ?? [])].sort();
      const before = await restart();
      const plan = planIpSet(v2, before, "dfwtmp-i");
      expect(plan.inPlace).toBe(true);
      const lines = (plan.script ?? "").trimEnd().split("\n");
      expect(lines).toHaveLength(25);
      await ns.mustRun(["ipset", "-exist", "restore"], plan.script);
      expect(await members()).toEqual(v2.entries.map((e) => [e.entry, e.comment]).sort());
      expect(
        planIpSet(v2, parseIpsetSave(await ns.mustRun(["ipset", "save", "big"])).get("big"), "x").script,
      ).toBeUndefined();
      const old = v1.entries.map((e) => [e.entry, e.comment]).sort();
      for (const k of [0, 1, 12, 19, 24, 25]) {
        await restart();
        if (k > 0) await ns.mustRun(["ipset", "-exist", "restore"], `${lines.slice(0, k).join("\n")}\n`);
        await ns.mustRun(["ipset", "-exist", "restore"], plan.rollback);
        expect(await members(), `rolled back after ${k} lines`).toEqual(old);
      }
      await ns.mustRun(["ipset", "destroy", "big"]);
    },
  );
});
