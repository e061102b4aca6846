// The pure core of `adopt` on the seeds' hand-written rulesets and on rules it must refuse: every adopted rule
// is accepted by the model and, rendered in priority order, gives back the host's lines (comments aside); every
// refused line is listed with its reason, and nothing below it is moved above it.
import { describe, expect, it } from "vitest";
import { type AdoptInput, type AdoptPlan, planAdoption } from "../../provider/adopt/adopt-plan";
import type { IpFamily } from "../../provider/model/address";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import { parseIpsetSave } from "../../provider/netfilter/ipset-text";
import { chainRules, parseIptablesSave } from "../../provider/netfilter/parse-iptables-save";
import { renderRule } from "../../provider/netfilter/render-rule";
import { HAND_RECIPES } from "./seed-hand-rules";

const RETURN = "-A DOCKER-USER -j RETURN";
const saved = (lines: readonly string[]) =>
  chainRules(
    parseIptablesSave(["*filter", ":DOCKER-USER - [0:0]", ...lines, RETURN, "COMMIT", ""].join("\n")),
    "DOCKER-USER",
  );

function inputOf(ipv4: readonly string[], ipv6?: readonly string[], ipset = ""): AdoptInput {
  return {
    chains: { ipv4: saved(ipv4), ...(ipv6 && { ipv6: saved(ipv6) }) },
    sets: parseIpsetSave(ipset),
    setsKnown: true,
  };
}

const stripComment = (l: string) => l.replace(/ -m comment --comment (?:"(?:[^"\\]|\\.)*"|\S+)/, "");
const stripBareTcp = (l: string) => l.replace(/ -m tcp(?= -m | -j )/, "");

/** What the adopted rules put in each family's chain, in priority order, comments stripped. */
function renderedByModel(plan: AdoptPlan, families: IpFamily[]): Record<IpFamily, string[]> {
  const out: Record<IpFamily, string[]> = { ipv4: [], ipv6: [] };
  const sorted = [...plan.rules].sort((a, b) => a.priority - b.priority);
  for (const r of sorted) {
    const parsed = dockerUserRuleArgs.parse({ ...r.input, priority: r.priority });
    const blocks = expandRule(parsed, { priority: r.priority, id: "x" }, families);
    for (const f of families) out[f].push(...blocks[f].map(renderRule).map(stripComment));
  }
  return out;
}

describe.each(HAND_RECIPES)("$name", (recipe) => {
  const plan = planAdoption(inputOf(recipe.saved4, recipe.saved6, recipe.ipset));
  const families: IpFamily[] = recipe.saved6 ? ["ipv4", "ipv6"] : ["ipv4"];

  it("adopts every rule, leaves Docker's RETURN, and turns exclusive mode on", () => {
    expect(plan.flagged).toEqual([]);
    expect(plan.skipped.map((s) => s.line)).toEqual(families.map(() => RETURN));
    expect(plan.exclusive).toBe(true);
  });

  it("declares exactly the host's lines, in order, with strictly increasing priorities", () => {
    const ours = renderedByModel(plan, families);
    expect(ours.ipv4).toEqual(recipe.saved4.map(stripBareTcp));
    expect(ours.ipv6).toEqual((recipe.saved6 ?? []).map(stripBareTcp));
    const priorities = plan.rules.map((r) => r.priority);
    expect(priorities).toEqual([...priorities].sort((a, b) => a - b));
    expect(new Set(priorities).size).toBe(priorities.length);
    // Each host line is replaced by exactly one adopted rule.
    const from = plan.rules.flatMap((r) => r.from.map((f) => `${f.family} ${f.line}`));
    expect(from.sort()).toEqual(
      [...recipe.saved4.map((l) => `ipv4 ${l}`), ...(recipe.saved6 ?? []).map((l) => `ipv6 ${l}`)].sort(),
    );
  });
});

describe("the model's shapes for the seeds", () => {
  it("seed 000: the whitelist set with its entries, and log-before-drop as one rule", () => {
    const r = HAND_RECIPES[0];
    const plan = planAdoption(inputOf(r?.saved4 ?? [], undefined, r?.ipset));
    expect(plan.sets).toEqual([
      { name: "whitelist", input: { type: "hash:ip", entries: ["198.51.100.7", "198.51.100.8"] }, notes: [] },
    ]);
    expect(plan.rules.map((x) => x.input)).toEqual([
      { action: "RETURN", source: { set: "whitelist" }, family: "ipv4" },
      { action: "RETURN", protocol: "tcp", containerPorts: [80], family: "ipv4" },
      { action: "RETURN", protocol: "tcp", containerPorts: [443], family: "ipv4" },
      { action: "DROP", family: "ipv4", log: { prefix: "IPTables DOCKER-USER dropped:", rate: "2/min" } },
    ]);
  });

  it("seed 004: a rule present in both families is one rule with family both", () => {
    const r = HAND_RECIPES[3];
    const plan = planAdoption(inputOf(r?.saved4 ?? [], r?.saved6));
    expect(plan.rules.map((x) => `${x.key} ${x.input.family ?? "(pinned)"}`)).toEqual([
      "01-return both",
      "02-return-tcp-80 both",
      "03-return-tcp-443 both",
      "04-return-tcp-8080 (pinned)",
      "05-return-tcp-8080 (pinned)",
      "06-drop both",
    ]);
    expect(plan.rules[3]?.input).toEqual({
      action: "RETURN",
      protocol: "tcp",
      source: "10.11.11.0/24",
      inInterface: "eth0",
      publishedPorts: [8080],
    });
    expect(plan.rules[1]?.notes[0]).toMatch(/bare "-m tcp"/);
  });
});

describe("lines our model cannot express", () => {
  const flaggedOf = (lines: string[], ipset = "") => planAdoption(inputOf(lines, undefined, ipset));

  it.each([
    ["-A DOCKER-USER -j f2b-sshd", /jumps to f2b-sshd/],
    ["-A DOCKER-USER -m set --match-set crowdsec-blacklists src -j DROP", /set crowdsec-blacklists does not exist/],
    ["-A DOCKER-USER -p tcp -m multiport --dports 80,443 -j ACCEPT", /multiport match/],
    ["-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 80 -j DROP", /without --ctdir ORIGINAL/],
    ["-A DOCKER-USER -m limit --limit 10/sec -j ACCEPT", /rate-limits a ACCEPT rule/],
    ["-A DOCKER-USER -p tcp -j REJECT --reject-with icmp-host-prohibited", /no name for/],
    ["-A DOCKER-USER -p sctp -j DROP", /protocol sctp/],
    ["-A DOCKER-USER -p tcp -m tcp --sport 80 -j DROP", /source port/],
    ["-A DOCKER-USER -s 10.0.0.0/8 -m set --match-set lbs src -j ACCEPT", /source twice/],
    ["-A DOCKER-USER -g DOCKER-ISOLATION", /goes to chain/],
  ])("%s", (line, reason) => {
    const plan = flaggedOf([line], "create lbs hash:net family inet\n");
    expect(plan.rules).toEqual([]);
    expect(plan.flagged).toEqual([{ family: "ipv4", line, reason: expect.stringMatching(reason) }]);
    expect(plan.exclusive).toBe(false);
  });

  it("adopts only what sits above the first refused line, and lists everything below it", () => {
    const plan = flaggedOf([
      "-A DOCKER-USER -p tcp -m tcp --dport 80 -j RETURN",
      "-A DOCKER-USER -j crowdsec-chain",
      "-A DOCKER-USER -p tcp -m tcp --dport 443 -j RETURN",
      "-A DOCKER-USER -j DROP",
    ]);
    expect(plan.rules.map((r) => r.from[0]?.line)).toEqual(["-A DOCKER-USER -p tcp -m tcp --dport 80 -j RETURN"]);
    expect(plan.flagged.map((f) => f.reason)).toEqual([
      expect.stringMatching(/jumps to crowdsec-chain/),
      expect.stringMatching(/below ipv4 rule 2, which cannot be adopted/),
      expect.stringMatching(/below ipv4 rule 2/),
    ]);
    expect(plan.skipped.map((s) => s.line)).toEqual([RETURN]);
  });

  it("skips rules another stack already manages, without blocking the rest", () => {
    const plan = flaggedOf([
      '-A DOCKER-USER -p tcp -m comment --comment "dfw:0100:web-1a2b3c4d" -m tcp --dport 80 -j ACCEPT',
      "-A DOCKER-USER -j DROP",
    ]);
    expect(plan.skipped[0]?.reason).toMatch(/already managed \(tag of web-1a2b3c4d\)/);
    expect(plan.rules.map((r) => r.input)).toEqual([{ action: "DROP", family: "ipv4" }]);
    expect(plan.exclusive).toBe(true);
  });

  it("refuses a set of another family or type, and a set read that failed", () => {
    const sets = "create v6 hash:ip family inet6\ncreate trip hash:ip,port,ip family inet\n";
    expect(flaggedOf(["-A DOCKER-USER -m set --match-set v6 src -j DROP"], sets).flagged[0]?.reason).toMatch(
      /set v6 is ipv6 but the rule is ipv4/,
    );
    expect(flaggedOf(["-A DOCKER-USER -m set --match-set trip src -j DROP"], sets).flagged[0]?.reason).toMatch(
      /hash:ip,port,ip/,
    );
    const unknown = planAdoption({
      ...inputOf(["-A DOCKER-USER -m set --match-set v6 src -j DROP"]),
      setsKnown: false,
    });
    expect(unknown.flagged[0]?.reason).toMatch(/ipsets could not be read/);
  });

  it("keeps a rule's own comment, anywhere on the line, as the rule's comment", () => {
    const plan = flaggedOf([
      '-A DOCKER-USER -p tcp -m tcp --dport 22 -m comment --comment "ssh from anywhere" -j DROP',
    ]);
    expect(plan.rules[0]?.input).toEqual({
      action: "DROP",
      protocol: "tcp",
      containerPorts: [22],
      family: "ipv4",
      comment: "ssh from anywhere",
    });
  });
});
