// The one reader of `--match-set NAME` in saved lines: names exactly (a set's name may prefix another's), negated
// matches, and several sets in one rule.
import { describe, expect, it } from "vitest";
import { setsMatchedBy } from "../../provider/netfilter/set-uses";

describe("setsMatchedBy", () => {
  it("reads every set a line matches on, negated or not, and nothing else", () => {
    expect(
      setsMatchedBy("-A DOCKER-USER -m set --match-set lbs src -m set ! --match-set lbs-bans src,dst -j ACCEPT"),
    ).toEqual(["lbs", "lbs-bans"]);
    expect(setsMatchedBy('-A DOCKER-USER -m comment --comment "lbs --match-setx x" -j DROP')).toEqual([]);
    expect(setsMatchedBy("-A DOCKER-USER -s 10.0.0.0/8 -j DROP")).toEqual([]);
  });
});
