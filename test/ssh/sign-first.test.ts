// Public-key authentication in one round trip (node/ssh-dial.ts signFirst): the first publickey request already
// carries the signature, instead of ssh2's "would you accept this key?" query and a second, signed request.
// The server is ssh2's own (in this process, on loopback), which tells a query from a signed request.
import type { AddressInfo } from "node:net";
import { type AuthContext, type ParsedKey, Server, utils } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConnection } from "../../provider/model/connection";
import { dialSsh } from "../../provider/node/ssh-dial";

const hostKey = utils.generateKeyPairSync("ed25519");
const clientKeys = {
  ed25519: utils.generateKeyPairSync("ed25519"),
  rsa: utils.generateKeyPairSync("rsa", { bits: 2048 }),
};

const publicKeys = Object.values(clientKeys).map((k) => utils.parseKey(k.public) as ParsedKey);

let server: Server;
let port = 0;
const attempts: Array<{ method: string; signed: boolean }> = [];

beforeAll(async () => {
  server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on("authentication", (ctx: AuthContext) => {
      if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
      attempts.push({ method: ctx.method, signed: ctx.signature !== undefined });
      const pub = publicKeys.find((k) => ctx.key.data.equals(k.getPublicSSH()));
      // A signed request must verify: a bad signature is refused.
      if (!pub || (ctx.signature && !pub.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo)))
        return ctx.reject(["publickey"]);
      ctx.accept();
    });
    client.on("ready", () => client.end());
    client.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => server?.close());

describe("public-key authentication", () => {
  it.each(Object.keys(clientKeys) as Array<keyof typeof clientKeys>)(
    "sends one signed request with an %s key, no query first",
    async (kind) => {
      attempts.length = 0;
      const conn = parseConnection({ host: "127.0.0.1", port, user: "root", privateKey: clientKeys[kind].private });
      const dialed = await dialSsh(conn, { signal: new AbortController().signal });
      dialed.client.end();
      expect(attempts).toEqual([{ method: "publickey", signed: true }]);
    },
  );
});
