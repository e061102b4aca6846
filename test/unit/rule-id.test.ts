// Rule ids: derived in check from the program scope, the logical name and what forces a
// replacement, so every preview and up of one program agree and a replacement gets a new id.
import { describe, expect, it } from "vitest";
import { UNKNOWN } from "../../provider/model/unknown";
import { RULE_ID } from "../../provider/netfilter/tag";
import { ruleProvider } from "../../provider/resources/rule-provider";

const news = (extra: Record<string, unknown> = {}, conn: Record<string, unknown> = {}) => ({
  connection: { host: "10.0.0.5", user: "root", password: "pw", ...conn },
  ruleName: "web",
  ruleScope: "urn:pulumi:prod::fw::docker-firewall:index:DockerHostFirewall::edge",
  action: "ACCEPT",
  protocol: "tcp",
  publishedPorts: [443],
  ...extra,
});
const idOf = async (olds: Record<string, unknown>, n: Record<string, unknown>) =>
  (await ruleProvider.check?.(olds as never, n as never))?.inputs?.ruleId as string;

describe("rule ids", () => {
  it("a new resource gets the same id at every check (preview and up agree), and it is a valid tag id", async () => {
    const a = await idOf({}, news());
    expect(await idOf({}, news())).toBe(a);
    expect(a).toMatch(RULE_ID);
    expect(a).toMatch(/^web-[0-9a-f]{8}$/);
  });

  it("an edit that is an update (ports, action, credentials) keeps the id, with or without olds", async () => {
    const a = await idOf({}, news());
    expect(await idOf({}, news({ publishedPorts: [8443], action: "DROP" }, { password: "other" }))).toBe(a);
    expect(await idOf({ ruleId: "web-0badc0de" }, news())).toBe("web-0badc0de"); // existing state keeps its id
  });

  it("what forces a replacement gives another id: family, host, port; and so do another scope or name", async () => {
    const a = await idOf({}, news());
    const others = [
      await idOf({}, news({ family: "ipv4" })),
      await idOf({}, news({}, { host: "10.0.0.6" })),
      await idOf({}, news({}, { port: 2222 })),
      await idOf({}, news({ ruleScope: "urn:pulumi:staging::fw::docker-firewall:index:DockerHostFirewall::edge" })),
      await idOf({}, news({ ruleName: "web2" })),
    ];
    expect(new Set([a, ...others]).size).toBe(6);
  });

  it("is unknown at preview while the node or the rule is unknown, and then no lines are shown", async () => {
    for (const n of [
      news({}, { host: UNKNOWN }),
      news({ source: { set: UNKNOWN } }),
      { ...news(), connection: UNKNOWN },
    ]) {
      const r = await ruleProvider.check?.({} as never, n as never);
      expect(r?.inputs?.ruleId).toBe(UNKNOWN);
      expect(r?.inputs?.rendered).toBeUndefined();
    }
  });
});
