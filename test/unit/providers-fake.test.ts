// The three dynamic providers (resources/*-provider.ts) against FakeHosts, through the session seam of
// resources/hosts.ts (`useSessions`): check/create/diff/update/read/delete of a rule, a set and boot persistence,
// as the engine calls them, with the node's state checked after each, and errors naming resource and host.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connection } from "../../provider/model/connection";
import { useSessions } from "../../provider/resources/hosts";
import { ipSetProvider as ipsets } from "../../provider/resources/ipset-provider";
import { persistentProvider as persistence } from "../../provider/resources/persistent-provider";
import { ruleProvider as rules } from "../../provider/resources/rule-provider";
import { FakeHost } from "../support/fake-host/fake-host";

const connection = { host: "node-1.example", user: "root", password: "not-a-real-secret" };
type Props = Record<string, unknown> & { connection: unknown };
type Provider = dynamic.ResourceProvider<Props, Props>;
// The engine hands providers untyped property bags; so do these tests.
const ruleProvider = rules as unknown as Provider;
const ipSetProvider = ipsets as unknown as Provider;
const persistentProvider = persistence as unknown as Provider;

/** check, then create, as the engine does for a new resource. */
async function created(p: Provider, news: Props): Promise<{ id: string; outs: Props }> {
  const checked = await p.check?.({} as Props, news);
  expect(checked?.failures ?? []).toEqual([]);
  const r = await p.create?.(checked?.inputs as Props);
  return r as { id: string; outs: Props };
}

describe("providers on fake nodes", () => {
  let hosts: Map<string, FakeHost>;
  let restore: () => void;
  const node = () => hosts.get("node-1.example") as FakeHost;
  beforeEach(() => {
    hosts = new Map([["node-1.example", new FakeHost({ host: "root@node-1.example:22" })]]);
    restore = useSessions((conn: Connection) => {
      const h = hosts.get(conn.host);
      if (!h) throw new Error(`no fake host ${conn.host}`);
      return h;
    });
  });
  afterEach(() => restore());

  it("DockerUserRule: create, diff, update, read and delete change exactly the rule's block", async () => {
    const news = {
      connection,
      ruleName: "web",
      ruleScope: "p/s",
      action: "ACCEPT",
      protocol: "tcp",
      publishedPorts: [443],
    };
    const { id, outs } = await created(ruleProvider, news);
    expect(outs.lines).toEqual({ ipv4: [expect.stringMatching(/--ctorigdstport 443 .*-j ACCEPT$/)], ipv6: [] });
    expect(node().chain("nft", "ipv4")).toEqual([
      ...(outs.lines as { ipv4: string[] }).ipv4,
      "-A DOCKER-USER -j RETURN",
    ]);
    expect(
      await ruleProvider.diff?.(id, outs, (await ruleProvider.check?.(outs, news))?.inputs as Props),
    ).toMatchObject({
      changes: false,
    });
    const changed = { ...news, publishedPorts: [8443] };
    const checked = (await ruleProvider.check?.(outs, changed))?.inputs as Props;
    expect(await ruleProvider.diff?.(id, outs, checked)).toMatchObject({ changes: true, replaces: [] });
    const updated = (await ruleProvider.update?.(id, outs, checked))?.outs as Props;
    expect(node().chain("nft", "ipv4")[0]).toMatch(/--ctorigdstport 8443 /);
    expect(await ruleProvider.read?.(id, updated)).toMatchObject({ id, props: { inPlace: true } });
    await ruleProvider.delete?.(id, updated);
    expect(node().chain("nft", "ipv4")).toEqual(["-A DOCKER-USER -j RETURN"]);
  });

  it("DockerUserRule: an error names the resource and the host, and never the password", async () => {
    hosts.set("bare.example", new FakeHost({ families: [] }));
    const news = { connection: { ...connection, host: "bare.example" }, ruleName: "web", action: "DROP" };
    const err = await created(ruleProvider, news).catch((e: Error) => e);
    expect(String(err)).toMatch(/DockerUserRule "web \(.+\)" on root@bare\.example:22: .*no DOCKER-USER chain/);
    expect(String(err)).not.toMatch(/not-a-real-secret/);
  });

  it("IpSet: create, refuse to take over an existing set, refuse delete while a rule uses it", async () => {
    const news = { connection, name: "lbs", type: "hash:net", entries: ["192.0.2.0/24"] };
    const { id, outs } = await created(ipSetProvider, news);
    expect(outs.live).toMatchObject({ entries: ["192.0.2.0/24"] });
    node().ipset("create theirs hash:net\n");
    const taken = await created(ipSetProvider, { ...news, name: "theirs" }).catch((e: Error) => e);
    expect(String(taken)).toMatch(/IpSet "theirs" on root@node-1\.example:22: .*theirs/);
    const more = { ...news, entries: ["192.0.2.0/24", "198.51.100.0/24"] };
    expect(await ipSetProvider.diff?.(id, outs, more)).toMatchObject({ changes: true, replaces: [] });
    const updated = (await ipSetProvider.update?.(id, outs, more))?.outs as Props;
    expect(updated.live).toMatchObject({ entries: ["192.0.2.0/24", "198.51.100.0/24"] });
    const r = await created(ruleProvider, {
      connection,
      ruleName: "via-set",
      ruleScope: "p/s",
      source: { set: "lbs" },
      action: "ACCEPT",
    });
    const refused = await ipSetProvider.delete?.(id, updated).catch((e: Error) => e);
    expect(String(refused)).toMatch(/IpSet "lbs" on .*still used by 1 rule/);
    await ruleProvider.delete?.(r.id, r.outs);
    await ipSetProvider.delete?.(id, updated);
    expect(node().node.ipsets.names()).toEqual(["theirs"]);
  });

  it("PersistentRuleset: writes the boot files, reports a hand-edited one as drift, rewrites it, removes them", async () => {
    await created(ruleProvider, {
      connection,
      ruleName: "web",
      ruleScope: "p/s",
      action: "ACCEPT",
      protocol: "udp",
      publishedPorts: [53],
    });
    const { id, outs } = await created(persistentProvider, { connection });
    const files = node().node.boot.files;
    expect([...files.keys()].sort()).toContain("/etc/docker-firewall/rules-ipv4.restore");
    expect(files.get("/etc/docker-firewall/rules-ipv4.restore")).toMatch(
      /^-I DOCKER-USER 1 .*--dport 53|ctorigdstport 53/,
    );
    expect(outs.drift).toMatchObject({ enabled: true, staleFiles: [], unitEnabled: true });
    files.set("/etc/docker-firewall/rules-ipv4.restore", "");
    const read = (await persistentProvider.read?.(id, outs))?.props as Props;
    expect(read.drift).toMatchObject({ staleFiles: ["/etc/docker-firewall/rules-ipv4.restore"] });
    expect(await persistentProvider.diff?.(id, read, { connection })).toMatchObject({ changes: true });
    await persistentProvider.update?.(id, read, { connection });
    expect(files.get("/etc/docker-firewall/rules-ipv4.restore")).not.toBe("");
    await persistentProvider.delete?.(id, read);
    expect([...files.keys()]).toEqual(["/etc/docker-firewall/managed-sets"].filter((p) => files.has(p)));
    expect(node().node.boot.links.size).toBe(0);
  });
});
