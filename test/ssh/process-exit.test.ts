// Idle pooled connections must not keep Node alive: a script that used the pool exits on its own, promptly, even
// though it never closes anything (the pool's idle-close timer is 60 s).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "../support/ssh-processes";
import { TestSshd } from "../support/sshd";

let sshd: TestSshd;

beforeAll(async () => {
  sshd = await TestSshd.start();
});
afterAll(async () => {
  await sshd?.dispose();
});

describe("process exit", () => {
  it("a script using the pool, a bastion and the lock exits by itself when done", async () => {
    const repo = `${__dirname}/../..`;
    const source = `
import { parseConnection } from ${JSON.stringify(`${repo}/provider/model/connection`)};
import { defineCommands } from ${JSON.stringify(`${repo}/provider/node/commands`)};
import { exec } from ${JSON.stringify(`${repo}/provider/node/exec`)};
import { withNodeLock } from ${JSON.stringify(`${repo}/provider/node/lock`)};
import { defaultPool } from ${JSON.stringify(`${repo}/provider/node/ssh-pool`)};
const C = defineCommands({ cat: "cat" });
(async () => {
  const direct = parseConnection(JSON.parse(process.env.PDF_CONN as string));
  const viaBastion = parseConnection({ ...direct, proxy: { host: direct.host, port: direct.port, privateKey: direct.privateKey } });
  for (const conn of [direct, viaBastion]) {
    await withNodeLock(conn, "exit test", async () => {
      const r = await exec(conn, C.cat, "ok");
      if (r.stdout !== "ok") throw new Error("bad output");
    }, { name: "pulumi-docker-firewall-test-exit" });
  }
  console.log(JSON.stringify(defaultPool.stats()));
  console.log("DONE");
})().catch((e) => { console.error(e); process.exit(1); });
`;
    const script = await runScript(sshd.dir, "uses-pool", source, { PDF_CONN: JSON.stringify(sshd.connection()) });
    await script.waitFor("DONE", 30_000);
    const done = Date.now();
    const code = await Promise.race([script.exited, new Promise<"hung">((r) => setTimeout(() => r("hung"), 10_000))]);
    if (code === "hung") script.child.kill("SIGKILL");
    expect(code).toBe(0);
    expect(Date.now() - done).toBeLessThan(3000);
    // The direct connection doubles as the bastion (same user, host and key), plus one hop through it.
    expect(script.output()).toContain('"connectionsOpened":2');
  });
});
