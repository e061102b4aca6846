// check on a host whose Docker runs its nftables backend (the real Docker 29 ruleset fixture, answered by a
// read-only session): the preview lines are the nft rules of our table with dockerd's accept mark, and what
// nftables cannot carry fails check naming the field, before any apply. An unreachable host keeps iptables lines.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { afterEach, describe, expect, it } from "vitest";
import { forgetHostKeys, trustHostKey } from "../../provider/node/host-key";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import type { HostSession } from "../../provider/node/session";
import { useSessions } from "../../provider/resources/hosts";
import { ipSetProvider as sets } from "../../provider/resources/ipset-provider";
import { ruleProvider as rules } from "../../provider/resources/rule-provider";

type Props = Record<string, unknown>;
type Provider = Required<dynamic.ResourceProvider<Props, Props>>;
const ruleProvider = rules as unknown as Provider;
const ipSetProvider = sets as unknown as Provider;
const RULESET = readFileSync(join(__dirname, "fixtures/docker29-nftables-ruleset.json"), "utf8");
const PINNED = `SHA256:${"A".repeat(43)}`;
const connection = { host: "nft-1.example", user: "root", password: "not-a-real-secret", hostKey: PINNED };

/** A Docker 29 nftables host as the read script reports it (our table not there yet); reads only. */
function nftHost(ruleset: string): HostSession & { reads: number } {
  const session = {
    host: "root@nft-1.example:22",
    reads: 0,
    async run(command: unknown, stdin: string) {
      if (command !== NetfilterCommands.readState) throw new Error("check must only read");
      session.reads++;
      const nonce = stdin.split(/[ \n]/, 1)[0];
      const sections = {
        tools: "nft",
        nfttables: "table ip docker-bridges\ntable ip6 docker-bridges",
        nftjson: ruleset,
      };
      const text = Object.entries({ ...sections, nfttable: "", persisted: "", end: "" })
        .map(([k, v]) => `\n@@${nonce} ${k}\n${v}`)
        .join("");
      return { code: 0, stdout: text, stderr: "" };
    },
    locked: () => Promise.reject(new Error("check must not lock")),
  };
  return session;
}

const web: Props = {
  connection,
  ruleName: "web",
  ruleScope: "p/s",
  action: "ACCEPT",
  protocol: "tcp",
  publishedPorts: [8080],
  source: { address: "192.0.2.0/24" },
};

describe("check on a Docker 29 nftables host", () => {
  let restore = () => {};
  afterEach(() => {
    restore();
    forgetHostKeys();
  });

  it("previews the literal nft rule with dockerd's accept mark, one read per host and process", async () => {
    const host = nftHost(RULESET);
    restore = useSessions(() => host);
    const r = await ruleProvider.check({}, web);
    expect(r.failures ?? []).toEqual([]);
    const inputs = r.inputs as { rendered: Record<string, string[]>; backend: string };
    expect(inputs.backend).toBe("nftables");
    expect(inputs.rendered.ipv4).toEqual([
      expect.stringMatching(
        /^meta nfproto ipv4 meta l4proto tcp ip saddr 192\.0\.2\.0\/24 ct original proto-dst 8080 ct direction original meta mark set meta mark & 0xffff2bff \| 0x00002b00 accept comment "dfw:0500:web-[0-9a-f]{8}"$/,
      ),
    ]);
    await ruleProvider.check({}, { ...web, ruleName: "web2" });
    expect(host.reads).toBe(1);
  });

  it("reads again for a rule applied on nftables, never for one applied on iptables (its diff reads)", async () => {
    const host = nftHost(RULESET);
    restore = useSessions(() => host);
    const applied = { ...web, ruleId: "web-0123abcd", lines: { ipv4: ["x"], ipv6: [] } };
    const onIptables = await ruleProvider.check(applied, { ...web, publishedPorts: [8081] });
    expect((onIptables.inputs as { rendered: Record<string, string[]> }).rendered.ipv4?.[0]).toMatch(
      /^-A DOCKER-USER /,
    );
    expect(host.reads).toBe(0);
    const onNft = await ruleProvider.check({ ...applied, backend: "nftables" }, { ...web, publishedPorts: [8081] });
    expect((onNft.inputs as { rendered: Record<string, string[]> }).rendered.ipv4?.[0]).toMatch(
      /^meta nfproto ipv4 .* ct original proto-dst 8081 .* accept comment "dfw:0500:web-0123abcd"$/,
    );
    expect(host.reads).toBe(1);
  });

  it("fails check naming the field nftables cannot carry: ACCEPT without dockerd's accept mark", async () => {
    restore = useSessions(() => nftHost(RULESET.replaceAll("0x00002b00", "0x00002c00").replace(/ALLOW FW MARK/g, "x")));
    const r = await ruleProvider.check({}, web);
    expect(r.failures).toEqual([
      {
        property: "action",
        reason: expect.stringMatching(/--bridge-accept-fwmark.*nft-1\.example:22 runs its nftables/),
      },
    ]);
  });

  it("fails check on an interface name nft's JSON input reads as a protocol keyword; a prefix of it passes", async () => {
    restore = useSessions(() => nftHost(RULESET));
    const r = await ruleProvider.check({}, { ...web, inInterface: "esp" });
    expect(r.failures).toEqual([
      { property: "inInterface", reason: expect.stringMatching(/"esp" is a protocol keyword to nft's JSON input/) },
    ]);
    expect((await ruleProvider.check({}, { ...web, outInterface: "esp+" })).failures ?? []).toEqual([]);
  });

  it("passes port sets and commented entries; fails an IpSet's check on what one nft element cannot carry", async () => {
    restore = useSessions(() => nftHost(RULESET));
    const set = {
      connection,
      name: "office",
      type: "hash:net",
      entries: ["192.0.2.0/24", { entry: "192.0.2.7", comment: "vpn" }],
    };
    // Overlapping entries become one element of an nft interval set: their different comments cannot both stay.
    const r = await ipSetProvider.check({}, set);
    expect(r.failures).toEqual([
      { property: "entries.1.comment", reason: expect.stringMatching(/overlaps 192\.0\.2\.0\/24.*nftables/) },
    ]);
    const ok = [
      { ...set, entries: ["192.0.2.0/25", { entry: "198.51.100.7", comment: "vpn" }] },
      { ...set, type: "hash:net,port", entries: [{ entry: "192.0.2.0/24,tcp:8080", comment: "web" }] },
    ];
    for (const s of ok) expect((await ipSetProvider.check({}, s)).failures ?? []).toEqual([]);
  });

  it("previews a port set match from the rule's two set flags", async () => {
    restore = useSessions(() => nftHost(RULESET));
    const r = await ruleProvider.check({}, { ...web, source: { set: "office", setFlags: "src,dst" } });
    expect(r.failures ?? []).toEqual([]);
    expect((r.inputs as { rendered: Record<string, string[]> }).rendered.ipv4?.[0]).toMatch(
      /^meta nfproto ipv4 meta l4proto tcp ip saddr \. meta l4proto \. th dport @office ct original proto-dst 8080 /,
    );
  });

  it("never reads a host whose key is neither pinned nor known: a check's read must not be a first use", async () => {
    const host = nftHost(RULESET);
    restore = useSessions(() => host);
    const { hostKey: _, ...unpinned } = connection;
    const r = await ruleProvider.check({}, { ...web, connection: unpinned });
    expect((r.inputs as { rendered: Record<string, string[]> }).rendered.ipv4?.[0]).toMatch(/^-A DOCKER-USER /);
    expect(host.reads).toBe(0);
    // Known once an operation saw it, or a diff seeded it from state: then check reads.
    trustHostKey({ ...unpinned, port: 22 } as never, PINNED);
    await ruleProvider.check({}, { ...web, connection: unpinned });
    expect(host.reads).toBe(1);
  });

  it("an unreachable host keeps the iptables lines (the apply that must connect says why)", async () => {
    restore = useSessions(() => {
      throw new Error("connect ECONNREFUSED nft-1.example:22");
    });
    const r = await ruleProvider.check({}, web);
    expect((r.inputs as { rendered: Record<string, string[]> }).rendered.ipv4?.[0]).toMatch(/^-A DOCKER-USER /);
  });
});
