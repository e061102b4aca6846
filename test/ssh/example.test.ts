// examples/ssh-operators under mocks (test/program/harness.ts): the bastion chain, sudo password and known_hosts from
// stack config reach every resource's connection, which the provider's real check accepts and which stays secret.
import { describe, expect, it, vi } from "vitest";
import { isSecretValue, unwrapSecrets } from "../../demo/engine/program";
import { FAKE_KEY, fakeHostKey, fakeLab } from "../program/fixtures";
import { type Graph, RULE, runMocked } from "../program/harness";

const T = { timeout: 30_000 };
const EXAMPLE = "ssh-operators";
const lab = fakeLab(2);
const SUDO_PASSWORD = "correct horse sudo";
const BASTION_KEY = fakeHostKey();
const config = {
  "docker-firewall:labInventory": lab.inventoryPath,
  "docker-firewall:bastions": JSON.stringify([
    { host: "bastion.example.com", user: "jump", hostKey: BASTION_KEY },
    { host: "10.0.1.4", user: "jump", maxConnections: 4 },
  ]),
  "docker-firewall:bastionPrivateKey": FAKE_KEY,
  "docker-firewall:sudoPassword": SUDO_PASSWORD,
  "docker-firewall:knownHosts": `# fleet\n10.0.1.4 ${fakeHostKey()}\n`,
};
const secrets = ["docker-firewall:sudoPassword", "docker-firewall:bastionPrivateKey"];

async function run(extra: Record<string, string> = {}): Promise<Graph> {
  vi.resetModules();
  return runMocked(() => import(`../../examples/${EXAMPLE}/index.ts`), { ...config, ...extra }, secrets);
}

describe("examples/ssh-operators", () => {
  it(
    "puts the chain and known_hosts in each secret connection; the sudo password stays in stack config",
    T,
    async () => {
      const g = await run();
      const rules = g.byType(RULE);
      expect(rules).toHaveLength(4);
      expect(JSON.stringify(g.resources.map((r) => r.inputs))).not.toContain(SUDO_PASSWORD);
      for (const r of rules) {
        expect(r.failures).toEqual([]);
        expect(isSecretValue(r.inputs.connection)).toBe(true);
        expect(unwrapSecrets(r.inputs.connection)).not.toHaveProperty("sudoPassword");
        expect(unwrapSecrets(r.inputs.connection)).toMatchObject({
          sudo: true,
          proxy: [
            { host: "bastion.example.com", user: "jump", hostKey: BASTION_KEY, privateKey: FAKE_KEY },
            { host: "10.0.1.4", maxConnections: 4 },
          ],
        });
      }
    },
  );

  it("a bad bastion field fails check naming it, without the password", T, async () => {
    const bad = JSON.stringify([{ host: "bastion.example.com" }, { host: "-oProxyCommand=x", maxConnections: 0 }]);
    const g = await run({ "docker-firewall:bastions": bad });
    const failures = g.byType(RULE)[0]?.failures as { property: string; reason: string }[];
    expect(failures.map((f) => f.property).sort()).toEqual([
      "connection.proxy.1.host",
      "connection.proxy.1.maxConnections",
    ]);
    expect(JSON.stringify(failures)).not.toContain(SUDO_PASSWORD);
  });
});
