// The FakeHost's own apply-script paths that today's plans never reach (a persist step undone by a later failure),
// and its refusals of malformed input, checked directly with step lists rendered by protocol/steps.ts.
import { describe, expect, it } from "vitest";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import { EXIT_BAD_INPUT, EXIT_INCOMPLETE } from "../../provider/protocol/exit-codes";
import { renderSteps, type Step } from "../../provider/protocol/steps";
import { FakeHost } from "../support/fake-host/fake-host";

const NONCE = "0123abcd";

async function apply(host: FakeHost, steps: Step[], cut = false) {
  return host.locked("t", async (proof) => {
    const stdin = renderSteps(NONCE, proof, steps);
    return host.run(NetfilterCommands.applySteps, cut ? stdin.slice(0, stdin.indexOf(`@@${NONCE} end`)) : stdin);
  });
}

describe("FakeHost's apply script", () => {
  it("puts back the boot files of a persist step when a later step fails", async () => {
    const host = new FakeHost();
    host.node.boot.files.set("/etc/docker-firewall/managed-sets", "old\n");
    const before = host.dump();
    const r = await apply(host, [
      { label: "files", run: { tool: "persist", text: "" }, files: { "managed-sets": "new\n", unit: "[Unit]\n" } },
      {
        label: "rules",
        run: { tool: "nft-ipv4", text: "*filter\n-I DOCKER-USER 1 -m set --match-set nope src -j DROP\nCOMMIT\n" },
      },
    ]);
    expect(r.stdout).toContain(`@@${NONCE} failed 2\n`);
    expect(r.stdout).toMatch(/Set nope doesn't exist/);
    expect(host.dump()).toBe(before);
  });

  it("runs the failed ipset step's abort: what the restore applied before the refused line is removed", async () => {
    const host = new FakeHost();
    const r = await apply(host, [
      {
        label: "ipset s",
        run: { tool: "ipset", text: "create s hash:net\nadd s 10.0.0.0/8\nadd nope 1.2.3.4\n" },
        abort: { tool: "ipset-exist", text: "destroy s\n" },
      },
    ]);
    expect(r.stdout).toMatch(/Error in line 3: The set with the given name does not exist/);
    expect(host.node.ipsets.names()).toEqual([]);
  });

  it("refuses a cut step list, a bad nonce and commands outside the catalogue", async () => {
    const host = new FakeHost();
    const before = host.dump();
    const cut = await apply(host, [{ label: "s", run: { tool: "ipset", text: "create s hash:net\n" } }], true);
    expect(cut).toMatchObject({ code: EXIT_INCOMPLETE, stderr: expect.stringMatching(/incomplete/) });
    expect((await host.run(NetfilterCommands.readState, "NOT-HEX\n")).code).toBe(EXIT_BAD_INPUT);
    expect((await host.run("sh -c 'id'" as never, "")).code).toBe(127);
    expect(host.dump()).toBe(before);
  });
});
