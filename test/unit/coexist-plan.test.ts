// Coexistence with fail2ban and CrowdSec in the planner (netfilter/plan-chain.ts with a foreign-rules policy): the
// rules the policy keeps above ours stay where they are and our blocks go right after them, exclusive mode leaves
// kept and ignored rules alone (and does not report them as drift), and a read-back changed only by such a tool is
// accepted (netfilter/chain-check.ts).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ForeignRulesPolicy, foreignRulesPolicy } from "../../provider/model/foreign-rules";
import { blockStatus } from "../../provider/netfilter/block-status";
import { chainMismatch } from "../../provider/netfilter/chain-check";
import { isNftFacts } from "../../provider/netfilter/host-state";
import { chainRules, parseIptablesSave, type SavedRule } from "../../provider/netfilter/parse-iptables-save";
import { planChainChanges } from "../../provider/netfilter/plan-chain";
import { formatTag, type Tag } from "../../provider/netfilter/tag";
import { readHostState, runTransaction } from "../../provider/node/transaction";
import { persistenceDrift } from "../../provider/persistence/managed-state";
import { applyRestoreOps } from "../support/chain-sim";
import { FakeHost } from "../support/fake-host/fake-host";
import { rule } from "../support/fake-host/intents";

const ret = "-A DOCKER-USER -j RETURN";
const f2b = "-A DOCKER-USER -p tcp -m multiport --dports 80,443 -j f2b-web";
const crowdsec = "-A DOCKER-USER -m set --match-set crowdsec-blacklists src -j DROP";
const csChain = "-A DOCKER-USER -j crowdsec-chain";
/** A line's rule spec (what follows `-A DOCKER-USER `). */
const spec = (line: string) => line.slice("-A DOCKER-USER ".length);
const hand = (n: number) => `-A DOCKER-USER -s 192.0.2.${n}/32 -j DROP`;
const managed = (tag: Tag, n: number) =>
  `-A DOCKER-USER -p tcp -m comment --comment "${formatTag(tag)}" -m tcp --dport ${n} -j ACCEPT`;
const saved = (lines: readonly string[]): SavedRule[] =>
  chainRules(parseIptablesSave(["*filter", ":DOCKER-USER - [0:0]", ...lines, "COMMIT"].join("\n")), "DOCKER-USER");
const policy = (p: unknown): ForeignRulesPolicy => foreignRulesPolicy.parse(p);
const tools = policy({ keepAbove: [{ jump: "f2b-*" }, { jump: "crowdsec-chain" }, { set: "crowdsec-*" }] });
const a = { priority: 100, id: "a" };
const b = { priority: 200, id: "b" };

/** The ops never delete a foreign line (fail2ban's jump keeps its place and counters). */
const deletesForeign = (plan: ReturnType<typeof planChainChanges>) =>
  plan.ops.some((op) => op.kind === "delete" && !op.line.includes("dfw:"));

describe("planChainChanges with a foreign-rules policy", () => {
  it("puts a new block right after fail2ban's and CrowdSec's rules, inserting only ours", () => {
    const live = saved([f2b, crowdsec, hand(1), ret]);
    const plan = planChainChanges("ipv4", live, [{ tag: a, lines: [managed(a, 80)] }], { foreign: tools });
    expect(plan.expected).toEqual([f2b, crowdsec, managed(a, 80), hand(1), ret]);
    expect(plan.ops).toEqual([{ kind: "insert", position: 3, line: managed(a, 80) }]);
    expect(
      applyRestoreOps(
        live.map((r) => r.line),
        plan.script,
      ),
    ).toEqual(plan.expected);
  });

  it("moves our blocks below a jump fail2ban inserted above them, never the jump itself", () => {
    const live = saved([f2b, managed(a, 80), managed(b, 81), ret]);
    expect(planChainChanges("ipv4", live, [], { foreign: tools }).ops).toEqual([]);
    // fail2ban restarted: its jump is back at the top, above ours; then CrowdSec's too.
    const pushed = saved([csChain, managed(a, 80), managed(b, 81), f2b, ret]);
    const plan = planChainChanges("ipv4", pushed, [], { foreign: tools });
    expect(plan.expected).toEqual([csChain, f2b, managed(a, 80), managed(b, 81), ret]);
    expect(deletesForeign(plan)).toBe(false);
    expect(
      applyRestoreOps(
        pushed.map((r) => r.line),
        plan.script,
      ),
    ).toEqual(plan.expected);
    // Without the policy the same chain is the old layout: ours on top.
    expect(planChainChanges("ipv4", pushed, []).expected.slice(0, 2)).toEqual([managed(a, 80), managed(b, 81)]);
  });

  it("leaves an unmatched foreign rule between kept ones where it is, and ignores kept rules after Docker's RETURN", () => {
    const live = saved([f2b, hand(1), crowdsec, ret, "-A DOCKER-USER -j f2b-late"]);
    const plan = planChainChanges("ipv4", live, [{ tag: a, lines: [managed(a, 80)] }], { foreign: tools });
    expect(plan.expected).toEqual([f2b, hand(1), crowdsec, managed(a, 80), ret, "-A DOCKER-USER -j f2b-late"]);
  });

  it("matches a comment glob, and every field of one matcher must match", () => {
    const tagged = '-A DOCKER-USER -s 198.51.100.7/32 -m comment --comment "ban by ops: ticket 42" -j DROP';
    const p = policy({ keepAbove: [{ comment: "ban by ops*" }, { jump: "DROP", set: "nothing" }] });
    const live = saved([hand(1), tagged, ret]);
    const plan = planChainChanges("ipv4", live, [{ tag: a, lines: [managed(a, 80)] }], { foreign: p });
    expect(plan.expected).toEqual([hand(1), tagged, managed(a, 80), ret]);
  });

  it("exclusive mode removes unmanaged rules but keeps kept-above, ignored ones and Docker's RETURN", () => {
    const p = policy({ keepAbove: [{ jump: "f2b-*" }], ignore: [{ set: "crowdsec-*" }] });
    const live = saved([hand(1), crowdsec, f2b, hand(2), ret]);
    const plan = planChainChanges("ipv4", live, [{ tag: a, lines: [managed(a, 80)] }], {
      exclusive: true,
      foreign: p,
    });
    expect(plan.expected).toEqual([crowdsec, f2b, managed(a, 80), ret]);
    expect(plan.changes.filter((c) => c.kind === "unmanaged").map((c) => c.before[0])).toEqual([hand(1), hand(2)]);
    expect(
      applyRestoreOps(
        live.map((r) => r.line),
        plan.script,
      ),
    ).toEqual(plan.expected);
  });

  it("for any chain, keeps every foreign rule in place and puts all of ours after the last kept-above one", () => {
    const pool = [f2b, crowdsec, csChain, hand(1), hand(2), hand(3)];
    fc.assert(
      fc.property(
        fc.shuffledSubarray(pool),
        fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 4 }),
        fc.boolean(),
        (foreign, spots, dockerReturn) => {
          const lines = [...foreign];
          spots.forEach((s, k) => {
            lines.splice(Math.min(s, lines.length), 0, managed({ priority: 10 + k, id: `m${k}` }, 80 + k));
          });
          // Docker 20.10 ends the chain with a RETURN; Docker 28 leaves it empty.
          const tail = dockerReturn ? [ret] : [];
          const live = saved([...lines, ...tail]);
          const plan = planChainChanges("ipv4", live, [], { foreign: tools });
          const after = applyRestoreOps(
            live.map((r) => r.line),
            plan.script,
          );
          expect(after).toEqual(plan.expected);
          expect(after.filter((l) => !l.includes("dfw:"))).toEqual([...foreign, ...tail]);
          expect(deletesForeign(plan)).toBe(false);
          const firstOurs = after.findIndex((l) => l.includes("dfw:"));
          const lastKept = Math.max(...[f2b, crowdsec, csChain].map((l) => after.indexOf(l)));
          if (firstOurs >= 0) expect(firstOurs).toBeGreaterThan(lastKept);
        },
      ),
    );
  });
});

describe("appending when nothing kept follows our blocks (Docker 28's chain has no RETURN)", () => {
  it("appends ours, so an insert at the top before the restore runs cannot put them above fail2ban's jump", () => {
    const live = saved([f2b, managed(a, 80)]);
    const plan = planChainChanges("ipv4", live, [{ tag: b, lines: [managed(b, 81)] }], { foreign: tools });
    expect(plan.ops).toEqual([{ kind: "append", line: managed(b, 81) }]);
    // CrowdSec inserts its jump at the top between our read and our restore: the append still lands right.
    expect(applyRestoreOps([csChain, f2b, managed(a, 80)], plan.script)).toEqual([csChain, ...plan.expected]);
    // With a positional insert (`-I 3`) the same race would have put b above fail2ban's jump.
    expect(
      applyRestoreOps([csChain, f2b, managed(a, 80)], plan.script?.replace("-A DOCKER-USER", "-I DOCKER-USER 3")),
    ).toEqual([csChain, f2b, managed(b, 81), managed(a, 80)]);
  });

  it("keeps the in-place start of our region and re-appends the rest in order", () => {
    const c = { priority: 150, id: "c" };
    const live = saved([f2b, managed(a, 80), managed(b, 81)]);
    const plan = planChainChanges("ipv4", live, [{ tag: c, lines: [managed(c, 82)] }], { foreign: tools });
    expect(plan.script).toBe(
      ["*filter", `-D DOCKER-USER ${spec(managed(b, 81))}`, managed(c, 82), managed(b, 81), "COMMIT", ""].join("\n"),
    );
    expect(
      applyRestoreOps(
        live.map((r) => r.line),
        plan.script,
      ),
    ).toEqual(plan.expected);
  });
});

describe("the read-back check with other tools at work", () => {
  const expected = [f2b, managed(a, 80), ret];
  const options = { exclusive: false, foreign: tools };

  it("accepts a jump inserted at the top meanwhile, when ours are still below every kept-above rule", () => {
    expect(chainMismatch("ipv4", expected, saved([csChain, f2b, managed(a, 80), ret]), options)).toBeUndefined();
    expect(chainMismatch("ipv4", expected, saved([managed(a, 80), ret]), options)).toBeUndefined();
  });

  it("refuses ours above a kept-above rule (an insert shifted our position) and a changed block", () => {
    expect(chainMismatch("ipv4", expected, saved([csChain, managed(a, 80), f2b, ret]), options)).toMatch(
      /moved ours out of place/,
    );
    expect(chainMismatch("ipv4", expected, saved([f2b, managed(a, 81), ret]), options)).toMatch(/expected 3/);
  });
});

describe("foreignRules validation", () => {
  const issues = (p: unknown) =>
    (foreignRulesPolicy.safeParse(p).error?.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`);

  it("names the field and the reason", () => {
    expect(issues({ keepAbove: [{ jump: "f2b web" }] })).toEqual([
      "keepAbove.0.jump: may use only letters, digits and _ . : + -, and * or ? as wildcards",
    ]);
    expect(issues({ ignore: [{}] })).toEqual(["ignore.0: must give at least one of jump, set or comment"]);
    expect(issues({ keepAbove: [{ comment: "x'; reboot" }] })[0]).toMatch(/^keepAbove.0.comment: may use only/);
    expect(issues({ keepAbove: [{ jump: "*" }] })[0]).toMatch(/lone \* would match every rule/);
    expect(issues({ keepAbove: [{ chain: "f2b-*" }] })[0]).toMatch(/^keepAbove.0: /);
  });
});

describe("exclusive mode with an ignore list, on a FakeHost", () => {
  it("removes unmanaged rules but neither removes nor reports the ignored and kept-above ones", async () => {
    const host = new FakeHost({ backend: "nft" });
    host.iptables("nft", "ipv4", "*filter\n:f2b-web - [0:0]\n:crowdsec-chain - [0:0]\nCOMMIT\n");
    host.iptables("nft", "ipv4", `*filter\n-I DOCKER-USER 1 ${spec(hand(1))}\n-I DOCKER-USER 1 ${spec(f2b)}\nCOMMIT\n`);
    host.iptables("nft", "ipv4", `*filter\n-I DOCKER-USER 1 ${spec(csChain)}\nCOMMIT\n`);
    const config = {
      exclusive: true,
      foreign: policy({ keepAbove: [{ jump: "f2b-*" }], ignore: [{ jump: "crowdsec-*" }] }),
    };
    const out = await runTransaction(
      host,
      [rule("a", 1, { protocol: "tcp", publishedPorts: [80] }), { kind: "persistence", config }],
      "t",
    );
    expect(out.results).toEqual([{ ok: true }, { ok: true }]);
    const chain = host.chain("nft", "ipv4");
    expect(chain.filter((l) => !l.includes("dfw:"))).toEqual([csChain, f2b, ret]);
    expect(chain[2]).toMatch(/dfw:0001:a/);
    // Someone adds a rule by hand: that one is drift; the tools' are not.
    host.iptables("nft", "ipv4", `*filter\n-I DOCKER-USER 1 ${spec(hand(2))}\nCOMMIT\n`);
    const { state, facts } = await readHostState(host);
    if (isNftFacts(facts)) throw new Error("not an iptables host");
    expect(persistenceDrift(state, facts, undefined).unmanagedRules).toEqual([`[ipv4] ${hand(2)}`]);
    // Below fail2ban's jump is where the policy wants block a: refresh must not call it out of place.
    expect(blockStatus(state, facts, "a").inPlace).toBe(true);
  });
});
