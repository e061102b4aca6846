// An exec request and its stdin in one flight (node/ssh-exec.ts): against real OpenSSH the input leaves before the
// server's answer to the request, and what arrives is exact; against ssh2's own server (in this process, on
// loopback) a request that went out but was never answered is reported lost, never sent a second time.

import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { Client, type ClientChannel, Server, utils } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConnection } from "../../provider/model/connection";
import { defineCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec } from "../../provider/node/exec";
import { withNodeLock } from "../../provider/node/lock";
import { canSendInOneFlight, execWithInput, SSH2_PACKET, SSH2_WINDOW } from "../../provider/node/ssh-exec";
import { SshPool } from "../../provider/node/ssh-pool";
import { type TestSshd, useSshdPerFile } from "../support/sshd";

const T = defineCommands({ cat: "cat" });

let sshd: TestSshd;
useSshdPerFile({
  sshd: (s) => {
    sshd = s;
  },
  pool: () => undefined,
});

function connect(debug: (line: string) => void): Promise<Client> {
  const c = sshd.connection();
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once("ready", () => resolve(client)).once("error", reject);
    client.connect({ host: c.host, port: c.port, username: c.user, privateKey: c.privateKey, debug });
  });
}

function run(client: Client, line: string, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    execWithInput(
      client,
      line,
      { data, close: true },
      {
        opened: (ch: ClientChannel) => {
          ch.on("data", (b: Buffer) => out.push(b));
          ch.on("close", () => resolve(Buffer.concat(out)));
        },
        answered: (err) => err && reject(err),
      },
    );
  });
}

describe("exec and stdin in one flight, real OpenSSH", () => {
  it("uses ssh2's channel window and packet size (the internals it relies on are there)", () => {
    const channel = createRequire(__filename)("ssh2/lib/Channel.js") as { MAX_WINDOW: number; PACKET_SIZE: number };
    expect([SSH2_WINDOW, SSH2_PACKET]).toEqual([channel.MAX_WINDOW, channel.PACKET_SIZE]);
  });

  it("sends the input before the server answers the exec request, and it arrives exactly", async () => {
    const log: string[] = [];
    const client = await connect((line) => log.push(line));
    try {
      expect(canSendInOneFlight(client)).toBe(true);
      const data = Buffer.concat([Buffer.from("first\n"), Buffer.alloc(3 * SSH2_WINDOW, 0xa5)]);
      log.length = 0;
      const out = await run(client, "cat", data);
      expect(out.equals(data)).toBe(true);
      const at = (re: RegExp) => log.findIndex((l) => re.test(l));
      const request = at(/Outbound: Sending CHANNEL_REQUEST \(r:\d+, exec: cat\)/);
      const input = at(/Outbound: Sending CHANNEL_DATA/);
      const answer = at(/Inbound: CHANNEL_SUCCESS/);
      expect(request).toBeGreaterThanOrEqual(0);
      expect([request < input, input < answer]).toEqual([true, true]);
    } finally {
      client.end();
    }
  });
});

describe("an exec request that went out unanswered", () => {
  const hostKey = utils.generateKeyPairSync("ed25519");
  let server: Server;
  let port = 0;
  let requests = 0;
  beforeAll(async () => {
    // Accepts everyone, opens sessions, and drops the connection on every exec request without answering it.
    server = new Server({ hostKeys: [hostKey.private] }, (client) => {
      client.on("authentication", (ctx) => ctx.accept());
      client.on("session", (accept) => {
        accept().on("exec", () => {
          requests++;
          client.end();
        });
      });
      client.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server?.close());

  it("is reported as a lost connection and not sent again (the command may have run)", async () => {
    const key = utils.generateKeyPairSync("ed25519");
    const conn = parseConnection({ host: "127.0.0.1", port, user: "root", privateKey: key.private });
    const pool = new SshPool();
    try {
      const err = await exec(conn, T.cat, "apply me once\n", { pool }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isNodeError(err) && err.kind).toBe("ConnectionLost");
      expect(requests).toBe(1);
    } finally {
      pool.closeAll();
    }
  });

  it("is sent once more for the node lock (a holder whose connection died has let go)", async () => {
    const key = utils.generateKeyPairSync("ed25519");
    const conn = parseConnection({ host: "127.0.0.1", port, user: "root", privateKey: key.private });
    const pool = new SshPool();
    requests = 0;
    try {
      const err = await withNodeLock(conn, "test", async () => undefined, { pool, waitSeconds: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isNodeError(err) && err.kind).toBe("ConnectionLost");
      expect(requests).toBe(2);
    } finally {
      pool.closeAll();
    }
  });
});
