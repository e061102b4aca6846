// The PersistentRuleset's foreignRules through its dynamic provider on a FakeHost (resources/persistent-provider.ts):
// adding the policy to an existing ruleset is a diff, and its update moves our blocks below fail2ban's jump
// without touching the jump; the policy is kept on the host, so a later rule update plans with it too.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connection } from "../../provider/model/connection";
import { readHostState } from "../../provider/node/transaction";
import { useSessions } from "../../provider/resources/hosts";
import { persistentProvider as persistence } from "../../provider/resources/persistent-provider";
import { ruleProvider as rules } from "../../provider/resources/rule-provider";
import { FakeHost } from "../support/fake-host/fake-host";

const connection = { host: "node-1.example", user: "root", password: "not-a-real-secret" };
type Props = Record<string, unknown> & { connection: unknown };
type Provider = dynamic.ResourceProvider<Props, Props>;
const ruleProvider = rules as unknown as Provider;
const persistentProvider = persistence as unknown as Provider;
const F2B = "-A DOCKER-USER -p tcp -m multiport --dports 80,443 -j f2b-web";
const foreignRules = { keepAbove: [{ jump: "f2b-*" }] };

async function created(p: Provider, news: Props): Promise<{ id: string; outs: Props }> {
  const checked = await p.check?.({} as Props, news);
  expect(checked?.failures ?? []).toEqual([]);
  return (await p.create?.(checked?.inputs as Props)) as { id: string; outs: Props };
}

describe("PersistentRuleset foreignRules on a fake node", () => {
  let host: FakeHost;
  let restore: () => void;
  beforeEach(() => {
    host = new FakeHost({ host: "root@node-1.example:22" });
    restore = useSessions((_conn: Connection) => host);
  });
  afterEach(() => restore());

  it("adding the policy is a change whose update puts ours below fail2ban's jump; later applies keep it there", async () => {
    const web = { connection, ruleName: "web", ruleScope: "p/s", action: "ACCEPT", protocol: "tcp" };
    const rule = await created(ruleProvider, { ...web, publishedPorts: [8080] });
    const { id, outs } = await created(persistentProvider, { connection });
    // fail2ban starts: its jump goes to the top, above ours.
    host.iptables("nft", "ipv4", `*filter\n:f2b-web - [0:0]\n-I DOCKER-USER 1 ${F2B.slice(15)}\nCOMMIT\n`);
    const news = (await persistentProvider.check?.(outs, { connection, foreignRules }))?.inputs as Props;
    expect(await persistentProvider.diff?.(id, outs, news)).toMatchObject({ changes: true });
    await persistentProvider.update?.(id, outs, news);
    const chain = host.chain("nft", "ipv4");
    expect(chain[0]).toBe(F2B);
    expect(chain[1]).toMatch(/"dfw:\d+:web-/);
    expect(host.node.boot.files.get("/etc/docker-firewall/persistence.json")).toContain('"foreignRules"');
    // A rule update (any resource's transaction) reads the policy from the host: the jump stays on top.
    const changed = (await ruleProvider.check?.(rule.outs, { ...web, publishedPorts: [8443] }))?.inputs as Props;
    await ruleProvider.update?.(rule.id, rule.outs, changed);
    expect(host.chain("nft", "ipv4")[0]).toBe(F2B);
    expect(host.chain("nft", "ipv4")[1]).toMatch(/ctorigdstport 8443/);
  });
});

describe("the policy as the host keeps it", () => {
  it("is read back validated: a hostile or broken foreignRules in persistence.json is no policy", async () => {
    const host = new FakeHost({ host: "root@node-1.example:22" });
    const write = (foreign: unknown) =>
      host.node.boot.files.set(
        "/etc/docker-firewall/persistence.json",
        `${JSON.stringify({ version: 1, backend: "nft", exclusive: true, foreignRules: foreign })}\n`,
      );
    write({ keepAbove: [{ jump: "f2b-*" }] });
    expect((await readHostState(host)).state.persisted.config).toEqual({
      backend: "nft",
      exclusive: true,
      foreign: { keepAbove: [{ jump: "f2b-*" }], ignore: [] },
    });
    for (const bad of [{ keepAbove: [{ jump: "x' /; reboot" }] }, { keepAbove: "f2b-*" }, { keepAbove: [{}] }]) {
      write(bad);
      expect((await readHostState(host)).state.persisted.config).toEqual({ backend: "nft", exclusive: true });
    }
  });
});
