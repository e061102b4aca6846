// DockerHostFirewall under mocks: the children it creates, their inputs, parentage, secrecy, and the dependency
// of every rule on the sets it names.
import { describe, expect, it } from "vitest";
import { DockerHostFirewall } from "../../provider/resources/host-firewall";
import {
  COMPONENT,
  type Graph,
  IPSET,
  ipv4Lines,
  PERSISTENT,
  PRIORITIES,
  RULE,
  runMocked,
  stableLine,
} from "./harness";

// The serializer really runs under mocks: a failure there shows up as a hang, not an error.
const T = { timeout: 30_000 };
const connection = { host: "203.0.113.10", user: "deploy", sudo: true };

describe("DockerHostFirewall", () => {
  it("creates its sets and rules as children, each rule depending on the sets it names", T, async () => {
    const g = await runMocked(() => {
      new DockerHostFirewall("web1", {
        connection,
        sets: {
          lbs: { type: "hash:net", entries: ["198.51.100.0/26"] },
          ops: { name: "ops-v4", type: "hash:ip", entries: ["203.0.113.5"] },
        },
        rules: {
          established: { action: "RETURN", connectionStates: ["ESTABLISHED", "RELATED"] },
          web: { action: "ACCEPT", protocol: "tcp", publishedPorts: [443], source: { set: "lbs" } },
          ssh: { action: "ACCEPT", protocol: "tcp", publishedPorts: [2222], source: { set: "ops-v4" } },
          outside: { action: "ACCEPT", source: { set: "elsewhere" } },
          drop: { priority: 900, action: "DROP", inInterface: "eth0" },
        },
      });
    });
    const component = g.get(COMPONENT, "web1");
    expect(component.custom).toBe(false);
    expect(g.byType(IPSET).map((s) => s.name)).toEqual(["web1-lbs", "web1-ops"]);
    // Rules that use a set register once the set has (its name is an output of the set); every rule with a
    // default priority waits for the priority ledger (its number is an output of the ledger).
    const registered = g.byType(RULE).map((r) => r.name);
    expect(registered.slice(-2)).toEqual(["web1-web", "web1-ssh"]);
    expect(registered.slice(0, 3).sort()).toEqual(["web1-drop", "web1-established", "web1-outside"]);
    const ledger = g.get(PRIORITIES, "web1-priorities").urn;
    expect(g.byType(PERSISTENT)).toEqual([]);
    for (const child of [...g.byType(IPSET), ...g.byType(RULE)]) {
      expect(child.parent).toBe(component.urn);
      expect(child.failures).toEqual([]);
      // The connection is a secret input (and, engine-side, a secret output).
      expect(child.inputs.connection).toEqual({
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        value: connection,
      });
    }
    // Set names on the host: the key, unless given.
    expect(g.get(IPSET, "web1-lbs").inputs.name).toBe("lbs");
    expect(g.get(IPSET, "web1-ops").inputs.name).toBe("ops-v4");

    const lbs = g.get(IPSET, "web1-lbs").urn;
    const ops = g.get(IPSET, "web1-ops").urn;
    const web = g.get(RULE, "web1-web");
    expect(web.dependencies).toContain(lbs);
    expect(web.propertyDependencies.source).toEqual([lbs]);
    expect(web.inputs.source).toEqual({ set: "lbs" });
    // A set named by its host name is linked too.
    expect(g.get(RULE, "web1-ssh").propertyDependencies.source).toEqual([ops]);
    // A set the component does not own stays a plain name, with no dependency.
    const outside = g.get(RULE, "web1-outside");
    expect(outside.dependencies).toEqual([ledger]);
    expect(outside.inputs.source).toEqual({ set: "elsewhere" });
    expect(g.get(RULE, "web1-established").dependencies).toEqual([ledger]);
  });

  it("numbers rules by position unless a priority is given, and renders them in chain order", T, async () => {
    let fw: DockerHostFirewall | undefined;
    const g = await runMocked(() => {
      fw = new DockerHostFirewall("h", {
        connection,
        rules: {
          drop: { priority: 900, action: "DROP" },
          first: { priority: 5, action: "RETURN", connectionStates: ["ESTABLISHED"] },
          web: { action: "ACCEPT", protocol: "tcp", publishedPorts: [80] },
        },
      });
    });
    expect(g.byType(RULE).map((r) => [r.name, r.inputs.priority])).toEqual([
      ["h-drop", 900],
      ["h-first", 5],
      ["h-web", 30],
    ]);
    const rendered = await new Promise<{ ipv4: string[] }>((resolve) => fw?.rendered.apply(resolve));
    expect(rendered.ipv4.map(stableLine)).toEqual([
      '-A DOCKER-USER -m comment --comment "dfw:0005:h-first-<id>" -m conntrack --ctstate ESTABLISHED -j RETURN',
      '-A DOCKER-USER -p tcp -m comment --comment "dfw:0030:h-web-<id>" -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j ACCEPT',
      '-A DOCKER-USER -m comment --comment "dfw:0900:h-drop-<id>" -j DROP',
    ]);
    expect(ipv4Lines(g.get(RULE, "h-web"))).toHaveLength(1);
  });

  it("inserting a rule at the top is a one-rule change: every other rule keeps its priority and lines", T, async () => {
    const rules = (extra: Record<string, { action: "DROP" | "ACCEPT" }>) => ({
      ...extra,
      established: { action: "RETURN" as const, connectionStates: ["ESTABLISHED" as const] },
      web: { action: "ACCEPT" as const, protocol: "tcp" as const, publishedPorts: [80] },
      ssh: { action: "ACCEPT" as const, protocol: "tcp" as const, publishedPorts: [22] },
      drop: { action: "DROP" as const },
    });
    const program = (extra: Record<string, { action: "DROP" | "ACCEPT" }>) => () =>
      new DockerHostFirewall("h", { connection, rules: rules(extra) });
    // The first up, then the next up (its checks get the first up's state as olds) with one rule on top.
    const first = await runMocked(program({}));
    const second = await runMocked(program({ banned: { action: "DROP" } }), {}, [], first);
    const linesOf = (g: Graph) =>
      Object.fromEntries(g.byType(RULE).map((r) => [r.name, JSON.stringify(r.checked.rendered)]));
    const [before, after] = [linesOf(first), linesOf(second)];
    const changed = Object.keys(after).filter((name) => after[name] !== before[name]);
    expect(changed).toEqual(["h-banned"]);
    expect(Object.fromEntries(first.byType(RULE).map((r) => [r.name, r.inputs.priority]))).toEqual({
      "h-established": 10,
      "h-web": 20,
      "h-ssh": 30,
      "h-drop": 40,
    });
    const priorities = Object.fromEntries(second.byType(RULE).map((r) => [r.name, r.inputs.priority as number]));
    expect(priorities["h-banned"]).toBeLessThan(priorities["h-established"] as number);
    // Inserting in the middle and appending are one-rule changes too.
    const third = await runMocked(
      () =>
        new DockerHostFirewall("h", {
          connection,
          rules: { ...rules({ banned: { action: "DROP" } }), mid: { action: "ACCEPT" } },
        }),
      {},
      [],
      second,
    );
    expect(
      Object.entries(linesOf(third))
        .filter(([n, l]) => l !== linesOf(second)[n])
        .map(([n]) => n),
    ).toEqual(["h-mid"]);
    expect(third.byType(PRIORITIES)).toHaveLength(1);
  });

  it("adds a PersistentRuleset child when persistence is on, passing exclusive", T, async () => {
    const g = await runMocked(() => {
      new DockerHostFirewall("a", { connection, rules: { r: { action: "DROP" } }, persistence: true });
      new DockerHostFirewall("b", { connection, rules: { r: { action: "DROP" } }, persistence: { exclusive: true } });
      new DockerHostFirewall("c", { connection, rules: { r: { action: "DROP" } }, persistence: false });
    });
    const persisted = g.byType(PERSISTENT);
    expect(persisted.map((p) => [p.name, p.inputs.exclusive])).toEqual([
      ["a-persistence", undefined],
      ["b-persistence", true],
    ]);
    expect(persisted.every((p) => p.failures.length === 0)).toBe(true);
    expect(persisted[0]?.parent).toBe(g.get(COMPONENT, "a").urn);
    // It runs after the rules: exclusive mode first would strip the host's existing rules before ours exist.
    expect(persisted[1]?.dependencies).toContain(g.get(RULE, "b-r").urn);
  });

  it("passes invalid arguments through to the provider's check, which names the field", T, async () => {
    const g = await runMocked(() => {
      new DockerHostFirewall("bad", {
        connection,
        rules: { r: { action: "DROP", log: { prefix: "IPTables DOCKER-USER dropped: " } } },
      });
    });
    expect(g.get(RULE, "bad-r").failures).toEqual([
      { property: "log.prefix", reason: expect.stringMatching(/at most 29 characters/) },
    ]);
  });
});
