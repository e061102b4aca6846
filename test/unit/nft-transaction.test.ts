// The nftables transaction planner (provider/nftables/transaction.ts), pure: a state read of a Docker 29 host (the
// real ruleset fixture) and intents -> one `nftables` step and the boot files, refusals by intent, the table deleted
// when nothing is left in it. The kernel side is proven by test/cli/nft-host.test.ts on a real dockerd 29.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseContainerList } from "../../provider/containers/container-list";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { deriveFacts, type HostState, isNftFacts, parseHostState } from "../../provider/netfilter/host-state";
import type { Intent } from "../../provider/netfilter/intent";
import { nftBootFiles, nftRestoreSteps, planNftTransaction, verifyNft } from "../../provider/nftables/transaction";
import { sha256 } from "../../provider/persistence/files";
import { NFT_BOOT_PATH, PERSISTED_PATHS, UNIT_LINKS } from "../../provider/protocol/paths";

const N = "0123456789abcdef01234567";
const RULESET = readFileSync(join(__dirname, "fixtures/docker29-nftables-ruleset.json"), "utf8");
/** Our table as `nft -n -j list table` lists it with an empty forward chain. */
const EMPTY_OURS = JSON.stringify({
  nftables: [
    { metainfo: { json_schema_version: 1 } },
    { table: { family: "inet", name: "docker-firewall", handle: 1 } },
    {
      chain: {
        family: "inet",
        table: "docker-firewall",
        name: "forward",
        handle: 1,
        type: "filter",
        hook: "forward",
        prio: -1,
        policy: "accept",
      },
    },
  ],
});

function host(table = "", persisted = ""): HostState {
  const sections = {
    tools: "nft",
    nfttables: "table ip docker-bridges\ntable ip6 docker-bridges",
    nftjson: RULESET,
    nfttable: table,
    persisted,
    end: "",
  };
  return parseHostState(
    Object.entries(sections)
      .map(([k, v]) => `\n@@${N} ${k}\n${v}`)
      .join(""),
    N,
  );
}

const factsOf = (state: HostState) => {
  const f = deriveFacts(state);
  if ("error" in f || !isNftFacts(f)) throw new Error(`not an nftables host: ${JSON.stringify(f)}`);
  return f;
};
const rule = (id: string, priority: number, args: Record<string, unknown>): Intent => ({
  kind: "rule",
  id,
  priority,
  rule: dockerUserRuleArgs.parse({ priority, ...args }),
});
const set = (name: string, entries: string[]): Intent => ({
  kind: "set",
  name,
  spec: ipSetArgs.parse({ name, type: "hash:net", entries }),
});

describe("the nftables transaction planner", () => {
  it("one nftables step carries every rule and set; a rule on a set the table will not hold is refused by name", () => {
    const state = host();
    const plan = planNftTransaction(state, factsOf(state), [
      set("lbs", ["198.51.100.0/26"]),
      rule("allow-aaaaaaaa", 100, {
        action: "ACCEPT",
        protocol: "tcp",
        publishedPorts: [8080],
        source: { set: "lbs" },
      }),
      rule("other-bbbbbbbb", 200, {
        action: "ACCEPT",
        protocol: "tcp",
        publishedPorts: [8081],
        source: { set: "nope" },
      }),
    ]);
    expect([...plan.refused]).toEqual([
      [2, expect.stringMatching(/^set nope does not exist in inet docker-firewall on the host/)],
    ]);
    expect(plan.steps.map((s) => [s.label, s.run.tool, s.owners])).toEqual([
      ["nftables inet docker-firewall", "nftables", [0, 1]],
    ]);
    expect(plan.table?.sets.map((s) => s.name)).toEqual(["lbs"]);
    expect(plan.table?.rules).toHaveLength(1);
    // The batch names only our table: Docker's tables are never touched.
    expect(plan.steps[0]?.run.text).not.toMatch(/docker-bridges/);
  });

  it("a rule that follows a container resolves against the containers of the same read; none matching is refused", () => {
    const listed = parseContainerList(
      `${JSON.stringify({ name: "/web", ports: { "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8080" }] }, labels: {} })}\n`,
    );
    const state = { ...host(), containers: listed };
    const plan = planNftTransaction(state, factsOf(state), [
      rule("web-aaaaaaaa", 100, { action: "DROP", target: { container: "web" } }),
      rule("gone-bbbbbbbb", 200, { action: "DROP", target: { container: "gone" } }),
    ]);
    expect([...plan.refused]).toEqual([[1, expect.stringMatching(/no running container matches container gone/)]]);
    expect(plan.steps.map((s) => s.owners)).toEqual([[0]]);
    expect(plan.steps[0]?.run.text).toMatch(/"key":"proto-dst","dir":"original"\}\},"right":8080\}/);
  });

  it("port sets and entry comments are applied; what nftables still cannot carry is refused naming the field", () => {
    const state = host();
    const spec = (name: string, type: string, entries: unknown[]): Intent => ({
      kind: "set",
      name,
      spec: ipSetArgs.parse({ name, type, entries }),
    });
    const plan = planNftTransaction(state, factsOf(state), [
      spec("c", "hash:net", [{ entry: "10.0.0.0/8", comment: "office" }]),
      spec("p", "hash:ip,port", ["10.0.0.1,tcp:80", { entry: "10.0.0.2,udp:53", comment: "dns" }]),
      rule("web-aaaaaaaa", 100, { action: "DROP", source: { set: "p", setFlags: "src,dst" } }),
      // Still refused: overlapping entries with different comments (one nft element), a comment nft cannot keep,
      // a port set matched with one flag, an address set matched with two.
      spec("o", "hash:net", ["10.0.0.0/8", { entry: "10.1.0.0/16", comment: "lab" }]),
      spec("l", "hash:ip", [{ entry: "10.0.0.1", comment: "x".repeat(252) }]),
      rule("one-bbbbbbbb", 200, { action: "DROP", source: { set: "p" } }),
      rule("two-cccccccc", 300, { action: "DROP", destination: { set: "c", setFlags: "dst,dst" } }),
    ]);
    expect([...plan.refused]).toEqual([
      [
        3,
        "entries.1.comment 10.1.0.0/16 overlaps 10.0.0.0/8, whose comment differs: an nftables interval set holds them as one element, with one comment (give both the same comment, or none)",
      ],
      [4, "entries.0.comment is 252 bytes; an nftables set element keeps at most 251"],
      [5, expect.stringMatching(/^source\.setFlags set p holds address,port pairs: give two flags, e\.g\. src,dst/)],
      [6, expect.stringMatching(/^destination\.setFlags set c holds addresses only: give one flag/)],
    ]);
    expect(plan.steps.map((s) => s.owners)).toEqual([[0, 1, 2]]);
    expect(plan.table?.sets).toEqual([
      { name: "c", family: "ipv4", interval: true, elements: ["10.0.0.0/8"], comments: { "10.0.0.0/8": "office" } },
      {
        name: "p",
        family: "ipv4",
        interval: false,
        ports: true,
        elements: ["10.0.0.1 . tcp . 80", "10.0.0.2 . udp . 53"],
        comments: { "10.0.0.2 . udp . 53": "dns" },
      },
    ]);
    const text = plan.steps[0]?.run.text ?? "";
    expect(text).toContain('"type":["ipv4_addr","inet_proto","inet_service"]');
    expect(text).toContain('{"elem":{"val":{"concat":["10.0.0.2","udp",53]},"comment":"dns"}}');
    expect(text).toContain(
      '"left":{"concat":[{"payload":{"protocol":"ip","field":"saddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"right":"@p"',
    );
  });

  it("a rule's set flags must fit a set already in our table (one flag on a port set is refused)", () => {
    const listed = JSON.parse(EMPTY_OURS);
    listed.nftables.push({
      set: {
        family: "inet",
        table: "docker-firewall",
        name: "p",
        type: ["ipv6_addr", "inet_proto", "inet_service"],
        flags: ["interval"],
        elem: [{ elem: { val: { concat: [{ prefix: { addr: "fd00::", len: 8 } }, 6, 443] }, comment: "v6" } }],
      },
    });
    const state = host(JSON.stringify(listed));
    const plan = planNftTransaction(state, factsOf(state), [
      rule("one-aaaaaaaa", 100, { action: "DROP", family: "ipv6", destination: { set: "p", setFlags: "dst" } }),
      rule("two-bbbbbbbb", 200, { action: "DROP", family: "ipv6", destination: { set: "p", setFlags: "dst,src" } }),
    ]);
    expect([...plan.refused]).toEqual([[0, expect.stringMatching(/^destination\.setFlags set p holds address,port/)]]);
    expect(plan.table?.sets).toEqual([
      {
        name: "p",
        family: "ipv6",
        interval: true,
        ports: true,
        elements: ["fd00::/8 . tcp . 443"],
        comments: { "fd00::/8 . tcp . 443": "v6" },
      },
    ]);
    expect(plan.steps[0]?.run.text).toContain(
      '{"concat":[{"payload":{"protocol":"ip6","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"sport"}}]}',
    );
  });

  it("the table is deleted once nothing is left in it, and persistence off removes the boot files", () => {
    const state = host(EMPTY_OURS, `${"0".repeat(64)}  ${PERSISTED_PATHS.config}`);
    const withConfig = {
      ...state,
      persisted: { ...state.persisted, config: { backend: "nftables", exclusive: false } },
    };
    const plan = planNftTransaction(withConfig, factsOf(state), [{ kind: "persistence", config: null }]);
    expect(plan.table).toBeNull();
    expect(plan.steps.map((s) => s.label)).toEqual(["nftables inet docker-firewall", "remove persisted files"]);
    expect(plan.steps[0]?.run.text).toBe(
      '{"nftables":[{"delete":{"table":{"family":"inet","name":"docker-firewall"}}}]}\n',
    );
  });

  it("persistence writes only the stale boot files (the nft batch, the unit, the config)", () => {
    const state = host(EMPTY_OURS);
    const intents: Intent[] = [{ kind: "persistence", config: { exclusive: false } }, set("lbs", ["10.0.0.0/8"])];
    const first = planNftTransaction(state, factsOf(state), intents);
    const persist = first.steps.find((s) => s.run.tool === "persist");
    expect(Object.keys(persist?.files ?? {}).sort()).toEqual(["config", "nftables", "unit"]);
    expect(persist?.files?.nftables).toMatch(/^\{"nftables":\[\{"add":\{"table"/);
    // Files on the host as this plan writes them, unit enabled: nothing to rewrite.
    const files = nftBootFiles(first.table as NonNullable<typeof first.table>, { exclusive: false });
    const paths = { config: PERSISTED_PATHS.config, nftables: NFT_BOOT_PATH, unit: PERSISTED_PATHS.unit };
    const hashes = Object.entries(paths).map(([n, p]) => `${sha256(files[n] ?? "")}  ${p}`);
    const links = UNIT_LINKS.map((l) => `link ${l}`);
    const written = host(EMPTY_OURS, [...hashes, ...links].join("\n"));
    const again = planNftTransaction(written, factsOf(written), intents);
    expect(again.steps.filter((s) => s.run.tool === "persist")).toEqual([]);
  });

  it("a read-back that differs fails verification; the restore rebuilds our table as read before and its boot files", () => {
    const before = host(EMPTY_OURS);
    const withConfig = {
      ...before,
      persisted: { ...before.persisted, config: { backend: "nftables", exclusive: false } },
    };
    const plan = planNftTransaction(withConfig, factsOf(before), [set("lbs", ["10.0.0.0/8"])]);
    expect([...plan.persisted.written].sort()).toEqual(["config", "nftables", "unit"]);
    // Someone else's rule appeared between our commit and the read-back.
    const foreign = JSON.parse(EMPTY_OURS) as { nftables: unknown[] };
    foreign.nftables.push({
      rule: { family: "inet", table: "docker-firewall", chain: "forward", handle: 9, expr: [{ accept: null }] },
    });
    const after = host(JSON.stringify(foreign));
    expect(verifyNft(after, plan)).toMatch(/^inet docker-firewall: .*1 rules read back, 0 expected/);
    const restore = nftRestoreSteps(withConfig, after, plan);
    expect(restore.map((s) => s.run.tool)).toEqual(["nftables", "persist"]);
    const batch = JSON.parse(restore[0]?.run.text ?? "") as { nftables: Record<string, unknown>[] };
    expect(batch.nftables.map((c) => Object.keys(c)[0])).toEqual(["delete", "add", "add"]);
    expect(JSON.stringify(batch)).not.toMatch(/lbs|docker-bridges/);
    expect(Object.keys(restore[1]?.files ?? {}).sort()).toEqual(["config", "nftables", "unit"]);
  });

  it("exclusive mode removes the rules nobody manages from our table; otherwise they stay below ours", () => {
    const listed = JSON.parse(EMPTY_OURS) as { nftables: unknown[] };
    listed.nftables.push({
      rule: { family: "inet", table: "docker-firewall", chain: "forward", handle: 9, expr: [{ accept: null }] },
    });
    const state = host(JSON.stringify(listed));
    const drop = rule("drop-cccccccc", 900, { action: "DROP", inInterface: "eth0" });
    const kept = planNftTransaction(state, factsOf(state), [drop]);
    expect(kept.table?.rules.map((r) => r.kind)).toEqual(["ours", "ours", "raw"]);
    const exclusive = planNftTransaction(state, factsOf(state), [
      drop,
      { kind: "persistence", config: { exclusive: true } },
    ]);
    expect(exclusive.table?.rules.map((r) => r.kind)).toEqual(["ours", "ours"]);
  });

  it("deleting a set another resource's rule still uses is refused for that set only; the rest applies", () => {
    const state = host(EMPTY_OURS);
    const first = planNftTransaction(state, factsOf(state), [
      set("lbs", ["10.0.0.0/8"]),
      rule("allow-dddddddd", 100, { action: "ACCEPT", protocol: "tcp", publishedPorts: [80], source: { set: "lbs" } }),
    ]);
    // Our table as the kernel lists it after that batch (rendered rules, with handles).
    const batch = JSON.parse(first.steps[0]?.run.text ?? "") as { nftables: Record<string, Record<string, object>>[] };
    const listed = JSON.parse(EMPTY_OURS) as { nftables: unknown[] };
    let handle = 10;
    for (const c of batch.nftables) {
      if (c.add?.set) listed.nftables.push({ set: { ...c.add.set, handle: handle++ } });
      if (c.add?.element) {
        const s = listed.nftables.at(-1) as { set: Record<string, unknown> };
        s.set.elem = (c.add.element as { elem: unknown }).elem;
      }
      if (c.add?.rule) listed.nftables.push({ rule: { ...c.add.rule, handle: handle++ } });
    }
    const applied = host(JSON.stringify(listed));
    const again = planNftTransaction(applied, factsOf(applied), []);
    expect(again.steps).toEqual([]); // the listing reads back as planned: nothing to do
    const plan = planNftTransaction(applied, factsOf(applied), [
      { kind: "set", name: "lbs", spec: null },
      rule("drop-eeeeeeee", 900, { action: "DROP", inInterface: "eth0" }),
    ]);
    expect(plan.refused.get(0)).toMatch(/^cannot delete set lbs: rule "dfw:0100:allow-dddddddd" matches set lbs/);
    expect(plan.refused.has(1)).toBe(false);
    expect(plan.table?.sets.map((s) => s.name)).toEqual(["lbs"]);
    expect(plan.steps.map((s) => s.owners)).toEqual([[1]]);
  });
});
