// Errors of the dynamic providers are values with context: whatever fails, a read included, the message names the
// resource (type and name), the host when it is known, and the field at fault, never a credential.
import { describe, expect, it } from "vitest";
import { ipSetProvider } from "../../provider/resources/ipset-provider";
import { persistentProvider } from "../../provider/resources/persistent-provider";
import { ruleProvider } from "../../provider/resources/rule-provider";

const SECRET = "pw-never-shown-7f3a";
// A state whose connection no longer parses (a port out of range, as a hand-edited state or an older version has it).
const badConnection = { host: "198.51.100.10", port: 0, user: "root", password: SECRET };

async function messageOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected a rejection");
}

describe("provider errors name the resource, the host and the field", () => {
  it("a read whose connection cannot be resolved names the rule, its host and connection.port", async () => {
    const props = { connection: badConnection, ruleName: "web", ruleId: "web-1a2b3c4d", action: "ACCEPT" };
    const m = await messageOf(ruleProvider.read?.("web-1a2b3c4d", props as never) as Promise<unknown>);
    expect(m).toContain('DockerUserRule "web (web-1a2b3c4d)" on 198.51.100.10');
    expect(m).toMatch(/connection\.port/);
    expect(m).not.toContain(SECRET);
  });

  it("so does a set's read and a persistence read", async () => {
    const set = { connection: badConnection, name: "lbs", type: "hash:net" };
    const m1 = await messageOf(ipSetProvider.read?.("lbs", set as never) as Promise<unknown>);
    expect(m1).toContain('IpSet "lbs" on 198.51.100.10');
    expect(m1).toMatch(/connection\.port/);
    const m2 = await messageOf(
      persistentProvider.read?.("persistence:root@198.51.100.10:22", {
        connection: badConnection,
      } as never) as Promise<unknown>,
    );
    expect(m2).toContain('PersistentRuleset "persistence:root@198.51.100.10:22" on 198.51.100.10');
    expect(m2).toMatch(/connection\.port/);
    expect(m1 + m2).not.toContain(SECRET);
  });

  it("an update whose connection is still unknown names the resource", async () => {
    const news = { connection: { host: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" }, name: "lbs", type: "hash:net" };
    const m = await messageOf(ipSetProvider.update?.("lbs", news as never, news as never) as Promise<unknown>);
    expect(m).toContain('IpSet "lbs"');
    expect(m).toContain("not known yet");
  });
});
