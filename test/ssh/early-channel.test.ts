// The first command's channel opens right behind the signed authentication request (node/ssh-round-trips.ts
// openEarly), against a real OpenSSH: one round trip less per new connection, and no change when the server does
// not take the key at once (a refused key, or a second method required): the command still runs, on the same
// connection, its channel opened the usual way.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connection } from "../../provider/model/connection";
import { defineCommands } from "../../provider/node/commands";
import { exec } from "../../provider/node/exec";
import { forgetHostKeys } from "../../provider/node/host-key";
import { dialSsh } from "../../provider/node/ssh-dial";
import { SshPool } from "../../provider/node/ssh-pool";
import { generateKey } from "../support/ssh-keys";
import { TestSshd } from "../support/sshd";

const T = defineCommands({ whoami: "id -un" });
const PASSWORD = "early-channel-Pw-1";
let sshd: TestSshd; // key or password
let both: TestSshd; // key, then password (AuthenticationMethods publickey,password)
let strangerKey: string; // a key no server knows

beforeAll(async () => {
  delete process.env.SSH_AUTH_SOCK;
  [sshd, both] = await Promise.all([
    TestSshd.start({ rootPassword: PASSWORD }),
    TestSshd.start({ rootPassword: PASSWORD, authenticationMethods: "publickey,password" }),
  ]);
  strangerKey = (await generateKey(join(sshd.dir, "stranger"))).privateKey;
});
afterAll(async () => {
  await Promise.all([sshd?.dispose(), both?.dispose()]);
});

/** Dials with `first`, runs it on the early channel if there is one; the trace says what went when. */
async function dialFirst(conn: Connection) {
  forgetHostKeys();
  const trace: string[] = [];
  const dialed = await dialSsh(conn, {
    signal: new AbortController().signal,
    first: "id -un",
    debug: (l) => trace.push(l),
  });
  try {
    const opened = await dialed.first;
    const out = opened
      ? await new Promise<string>((resolve) => {
          let text = "";
          opened.channel.on("data", (b: Buffer) => {
            text += b.toString();
          });
          opened.channel.on("close", () => resolve(`${text}${JSON.stringify(opened.exit())}`));
        })
      : undefined;
    const at = (re: RegExp) => trace.findIndex((l) => re.test(l));
    return {
      out,
      openedBeforeSuccess: at(/Outbound: Sending CHANNEL_OPEN/) < at(/Inbound: Received USERAUTH_SUCCESS/),
      opens: trace.filter((l) => /Outbound: Sending CHANNEL_OPEN/.test(l)).length,
    };
  } finally {
    dialed.client.end();
  }
}

describe("the first command's channel", () => {
  it("opens before the authentication succeeded, and runs the command", async () => {
    const r = await dialFirst(sshd.connection());
    expect(r).toEqual({ out: 'root\n{"kind":"exited","code":0}', openedBeforeSuccess: true, opens: 1 });
  });

  it("is given up when the key is refused (the password then logs in)", async () => {
    const r = await dialFirst(sshd.connection({ privateKey: strangerKey, password: PASSWORD }));
    expect(r.out).toBeUndefined();
  });

  it("is given up when the server wants a password after the key", async () => {
    const r = await dialFirst(both.connection({ password: PASSWORD }));
    expect(r.out).toBeUndefined();
  });
});

describe("a pooled command on a new connection", () => {
  // A channel-open timeout would show as a second connection (the stale connection is dropped and redialled).
  const run = async (conn: Connection) => {
    forgetHostKeys();
    const pool = new SshPool({ channelOpenTimeoutMs: 3_000 });
    try {
      const { stdout } = await exec(conn, T.whoami, undefined, { pool });
      return { stdout, connections: pool.stats().connectionsOpened };
    } finally {
      pool.closeAll();
    }
  };

  it("runs on the early channel", async () => {
    expect(await run(sshd.connection())).toEqual({ stdout: "root\n", connections: 1 });
  });

  it("runs on one connection when the key is refused and the password logs in", async () => {
    const conn = sshd.connection({ privateKey: strangerKey, password: PASSWORD });
    expect(await run(conn)).toEqual({ stdout: "root\n", connections: 1 });
  });

  it("runs on one connection when the server wants the key and then the password", async () => {
    expect(await run(both.connection({ password: PASSWORD }))).toEqual({ stdout: "root\n", connections: 1 });
  });
});
