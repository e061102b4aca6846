// The DockerUserRule provider with a `target` against a FakeHost whose read lists containers (docker inspect's
// lines, as set on the fake node): reads ask for containers only when a rule has a target; a republish is a diff
// and an update follows it; an unreachable host diffs against the ports recorded; a container gone fails the
// update naming it and the host, and leaves the node as it was.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connection } from "../../provider/model/connection";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import { useSessions } from "../../provider/resources/hosts";
import { ruleProvider as rules } from "../../provider/resources/rule-provider";
import { FakeHost } from "../support/fake-host/fake-host";

type Props = Record<string, unknown>;
const provider = rules as unknown as Required<dynamic.ResourceProvider<Props, Props>>;
/** create's outputs (always there for this provider). */
const create = async (inputs: Props): Promise<{ id: string; outs: Props }> => {
  const r = await provider.create(inputs);
  return { id: r.id, outs: r.outs as Props };
};
const connection = { host: "node-1.example", user: "root", password: "not-a-real-secret" };
const web = (port: number) =>
  `{"name":"/web","ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"${port}"}]},"labels":{"tier":"front"}}`;
const news: Props = {
  connection,
  ruleName: "web-drop",
  ruleScope: "p/s",
  action: "DROP",
  target: { container: "web" },
};

describe("a rule that follows a container, on a fake node", () => {
  let fake: FakeHost;
  let reachable: boolean;
  let restore: () => void;
  beforeEach(() => {
    fake = new FakeHost({ host: "root@node-1.example:22" });
    reachable = true;
    restore = useSessions((_conn: Connection) => {
      if (!reachable) throw new Error("connect ECONNREFUSED node-1.example:22");
      return fake;
    });
  });
  afterEach(() => restore());

  const readsAsked = () =>
    fake.sent
      .filter((s) => s.command === NetfilterCommands.readState)
      .map((s) => s.stdin.split("\n")[0]?.split(" ")[1]);
  const checked = async (olds: Props, n: Props) => (await provider.check(olds, n)).inputs as Props;

  it("create lists containers and matches the published port; a plain rule's reads never ask", async () => {
    fake.node.facts.containers = web(8080);
    const plain = await create(
      await checked(
        {},
        { connection, ruleName: "p", ruleScope: "p/s", action: "ACCEPT", protocol: "tcp", publishedPorts: [22] },
      ),
    );
    // No host key pinned or known: check never reads (its read must not be a first use); create reads under lock
    expect(readsAsked()).toEqual([undefined]);
    const inputs = await checked({}, news);
    expect(inputs.rendered).toBeUndefined(); // the host says which ports: nothing to render at check
    const { id, outs } = await create(inputs);
    expect(readsAsked()).toEqual([undefined, "containers"]);
    expect(outs.resolvedPorts).toEqual(["8080/tcp"]);
    expect(fake.chain("nft", "ipv4").filter((l) => l.includes(id))).toEqual([
      expect.stringMatching(/ -p tcp .*--ctorigdstport 8080 --ctdir ORIGINAL -j DROP$/),
    ]);
    expect(await provider.read(plain.id, plain.outs)).toMatchObject({ id: plain.id });
    expect(readsAsked().at(-1)).toBeUndefined();
  });

  it("a republish is a change, the update follows it; an unreachable host diffs against the recorded ports", async () => {
    fake.node.facts.containers = web(8080);
    const { id, outs } = await create(await checked({}, news));
    expect(await provider.diff(id, outs, await checked(outs, news))).toMatchObject({ changes: false });
    fake.node.facts.containers = web(8081);
    const read = (await provider.read(id, outs)).props as Props;
    expect(read.resolvedPorts).toEqual(["8081/tcp"]);
    expect(await provider.diff(id, outs, await checked(outs, news))).toMatchObject({ changes: true, replaces: [] });
    const updated = (await provider.update(id, outs, await checked(outs, news))).outs as Props;
    expect(updated.resolvedPorts).toEqual(["8081/tcp"]);
    expect(fake.chain("nft", "ipv4")[0]).toMatch(/--ctorigdstport 8081 /);
    reachable = false;
    expect(await provider.diff(id, updated, await checked(updated, news))).toMatchObject({ changes: false });
  });

  it("a container gone: the update fails naming it and the host, and the node is as it was", async () => {
    fake.node.facts.containers = web(8080);
    const { id, outs } = await create(await checked({}, news));
    fake.node.facts.containers = "";
    const before = fake.chain("nft", "ipv4");
    expect(await provider.diff(id, outs, await checked(outs, news))).toMatchObject({ changes: true });
    await expect(provider.update(id, outs, await checked(outs, news))).rejects.toThrow(
      /DockerUserRule "web-drop \(web-drop-[0-9a-f]+\)" on root@node-1\.example:22: .*no running container matches container web/,
    );
    expect(fake.chain("nft", "ipv4")).toEqual(before);
  });
});
