// ProxyJump chains against real sshds: two bastions, each with its own key and pinned host key, in front of two
// hosts; `maxConnections` on the inner bastion observed on that bastion's own sshd (its tunnels, from its log, not
// timing); each hop's failure names that hop.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Connection, type ConnectionArgs, describeConnection } from "../../provider/model/connection";
import { defineCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec } from "../../provider/node/exec";
import { forgetHostKeys } from "../../provider/node/host-key";
import { sleep } from "../../provider/node/retry";
import { SshPool } from "../../provider/node/ssh-pool";
import { connectionFailures } from "../../provider/resources/common";
import { TestSshd } from "../support/sshd";

const T = defineCommands({ hello: "echo hello", cat: "cat" });
let b1: TestSshd;
let b2: TestSshd;
let t1: TestSshd;
let t2: TestSshd;

beforeAll(async () => {
  delete process.env.SSH_AUTH_SOCK;
  // b2's DEBUG2 log shows each tunnel open and close (see `tunnels`); b1's DEBUG1 where each tunnel goes.
  [b1, b2, t1, t2] = await Promise.all([
    TestSshd.start({ logLevel: "DEBUG1" }),
    TestSshd.start({ logLevel: "DEBUG2" }),
    TestSshd.start(),
    TestSshd.start(),
  ]);
});
afterAll(async () => {
  await Promise.all([b1, b2, t1, t2].map((s) => s?.dispose()));
});
beforeEach(() => forgetHostKeys());

const hop = (s: TestSshd, extra: Partial<ConnectionArgs> & { maxConnections?: number } = {}) => ({
  host: s.host,
  port: s.port,
  privateKey: s.userKey.privateKey,
  hostKey: s.hostKey.publicKey,
  ...extra,
});
const behind = (t: TestSshd, inner: Record<string, unknown> = {}, outer: Record<string, unknown> = {}) =>
  t.connection({ hostKey: t.hostKeyFingerprint, proxy: [hop(b1, outer), hop(b2, inner)] });

/**
 * Tunnels on a bastion, from its sshd log from `from` on: one opens at "channel N: new direct-tcpip" and is closed
 * once both "channel N: send close" and "rcvd close" are logged (sshd's "free" line comes later, when it collects
 * garbage, possibly after the next channel opened).
 */
function tunnels(s: TestSshd, from: number): { opened: number; peak: number; open: number } {
  const live = new Map<string, Set<string>>();
  let peak = 0;
  let opened = 0;
  for (const line of s.output.slice(from).split("\n")) {
    const m = /channel (\d+): (new direct-tcpip|send close|rcvd close)/.exec(line);
    if (!m) continue;
    const [, id, what] = m as unknown as [string, string, string];
    if (what === "new direct-tcpip") {
      live.set(id, new Set());
      opened++;
      peak = Math.max(peak, live.size);
    } else if (live.get(id)?.add(what).size === 2) live.delete(id);
  }
  return { opened, peak, open: live.size };
}

/**
 * Closes the hosts' connections first and waits until b2 has freed their tunnels, then the rest: no tunnel of one
 * test is freed in the next test's log window.
 */
async function closeAll(pool: SshPool, hosts: Connection[], from: number): Promise<void> {
  for (const c of hosts) pool.drop(c);
  while (tunnels(b2, from).open > 0) await sleep(10, undefined);
  pool.closeAll();
}

describe("a chain of two bastions", () => {
  it("reaches a host through both, each hop with its own key and host key", async () => {
    const [from1, from2] = [b1.output.length, b2.output.length];
    const conn = behind(t1);
    const pool = new SshPool();
    expect((await exec(conn, T.hello, undefined, { pool })).stdout).toBe("hello\n");
    await closeAll(pool, [conn], from2);
    expect(describeConnection(conn)).toBe(
      `root@127.0.0.1:${t1.port} (via bastions root@127.0.0.1:${b1.port}, root@127.0.0.1:${b2.port})`,
    );
    // b1 tunnels to b2, b2 to the host: the path really is the chain.
    expect(b1.output.slice(from1)).toContain(`target 127.0.0.1 port ${b2.port}`);
    expect(b2.output.slice(from2)).toContain(`target 127.0.0.1 port ${t1.port}`);
    expect(pool.stats().connectionsOpened).toBe(3);
  });

  it("maxConnections: 1 on a bastion: the second host waits for the first's tunnel to close", async () => {
    const pool = new SshPool();
    const from = b2.output.length;
    const held = await pool.start(behind(t1, { maxConnections: 1 }), T.cat);
    held.stdout.resume();
    const second = exec(behind(t2, { maxConnections: 1 }), T.hello, undefined, { pool });
    let settled = false; // without the limit it would just run: then the count below says so
    void second.finally(() => {
      settled = true;
    });
    while (!settled && pool.stats().bastionWaits === 0) await sleep(10, undefined);
    expect(tunnels(b2, from)).toEqual({ opened: 1, peak: 1, open: 1 });
    held.stdin.end(); // the first host's work ends: its idle connection is closed to make room
    expect((await second).stdout).toBe("hello\n");
    expect(tunnels(b2, from)).toMatchObject({ opened: 2, peak: 1 });
    await closeAll(pool, [behind(t1, { maxConnections: 1 }), behind(t2, { maxConnections: 1 })], from);
  });

  it("without a limit the same two hosts hold two tunnels at once (what the limit prevents)", async () => {
    const pool = new SshPool();
    const from = b2.output.length;
    const held = await pool.start(behind(t1), T.cat);
    held.stdout.resume();
    expect((await exec(behind(t2), T.hello, undefined, { pool })).stdout).toBe("hello\n");
    expect(tunnels(b2, from)).toEqual({ opened: 2, peak: 2, open: 2 });
    held.stdin.end();
    await held.end;
    await closeAll(pool, [behind(t1), behind(t2)], from);
  });

  it("each hop's failure names that hop", async () => {
    const pool = new SshPool();
    const via = `root@127.0.0.1:${b2.port} (via bastion root@127.0.0.1:${b1.port})`;
    const badKey = behind(t1, { privateKey: t1.userKey.privateKey });
    const auth = await exec(badKey, T.hello, undefined, { pool }).catch((e: unknown) => e as Error);
    expect(isNodeError(auth, "AuthFailed") && auth.message).toBe(
      `authentication failed for ${via}: the server refused every method tried (publickey)`,
    );
    const badHostKey = behind(t1, {}, { hostKey: t1.hostKey.publicKey });
    const hk = await exec(badHostKey, T.hello, undefined, { pool }).catch((e: unknown) => e as Error);
    // The message names the argument to check and fix: the first bastion's, not the target's.
    expect(isNodeError(hk, "HostKeyMismatch") && hk.message).toMatch(
      `HOST KEY MISMATCH for root@127.0.0.1:${b1.port}: expected ${t1.hostKeyFingerprint} (pinned in connection.proxy.0.hostKey)`,
    );
    expect((hk as Error).message).toMatch(/set connection\.proxy\.0\.hostKey to "SHA256:/);
    expect((hk as Error).message).not.toMatch(/connection\.hostKey/);
    expect(connectionFailures({ host: "h", proxy: [{ host: "b1" }, { host: "b2", maxConnections: 0 }] })).toEqual([
      { property: "connection.proxy.1.maxConnections", reason: 'must be at least 1 (got "0")' },
    ]);
    pool.closeAll();
  });
});
