// A firewall transaction on a shared-lab node through sudo that asks for a password (the node's password-sudo user,
// given a known password inside the node): the rule is made and removed; with a wrong password nothing is.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { execOnNode, type LabInventory, type LabNode } from "../../lab/index";
import { parseConnection } from "../../provider/model/connection";
import { isNodeError } from "../../provider/node/errors";
import { sharedLab } from "../support/lab";
import { allOk, rule, transact } from "../support/node-lab";

const PASSWORD = "lab sudo pw 'x\"";
const ID = "sudo-pw-made";
let lab: LabInventory;
let node: LabNode;

beforeAll(async () => {
  lab = await sharedLab();
  node = lab.nodes.find((n) => n.name === "node2") as LabNode;
  const r = await execOnNode(lab, node.name, ["chpasswd"], `${node.nosudoUser}:${PASSWORD}\n`);
  expect(r.code, r.stderr).toBe(0);
}, 600_000);

/** The node's DOCKER-USER lines of this test's rule (other files share the lab: only ours are looked at). */
async function ours(): Promise<string[]> {
  const r = await execOnNode(lab, node.name, ["iptables-save", "-t", "filter"]);
  return r.stdout.split("\n").filter((l) => l.startsWith("-A DOCKER-USER ") && l.includes(`:${ID}`));
}

const conn = (sudoPassword: string) =>
  parseConnection({
    host: "127.0.0.1",
    port: node.ssh.port,
    user: node.nosudoUser,
    sudo: true,
    sudoPassword,
    privateKey: readFileSync(node.privateKeyPath, "utf8"),
    hostKey: node.ssh.hostKey,
  });

describe("sudo with a password on a lab node", () => {
  it("a wrong password changes nothing; the right one applies and removes a rule", async () => {
    const add = [rule(ID, 50, { publishedPorts: [7100] })];
    const e = await transact(conn(`${PASSWORD}-wrong`), add).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    expect(isNodeError(e, "SudoDenied") && e.message).toBe(
      `sudo on ${node.nosudoUser}@127.0.0.1:${node.ssh.port} refused user ${node.nosudoUser}: it did not accept ` +
        "the password in connection.sudoPassword (nothing was run)",
    );
    expect(await ours()).toEqual([]);

    expect(allOk(await transact(conn(PASSWORD), add))).toBe(true);
    expect((await ours()).join("\n")).toContain(`--comment "dfw:0050:${ID}"`);
    expect(allOk(await transact(conn(PASSWORD), [rule(ID, 50, null)]))).toBe(true);
    expect(await ours()).toEqual([]);
  });
});
