// Public-key authentication in one round trip (node/ssh-dial.ts signFirst): the first publickey request already
// carries the signature, instead of ssh2's "would you accept this key?" query and a second, signed request; and for
// an ed25519/ECDSA key it follows the service request at once (authWithService), not after the acceptance.
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

describe("the first authentication request", () => {
  const order = async (kind: keyof typeof clientKeys) => {
    const log: string[] = [];
    const conn = parseConnection({ host: "127.0.0.1", port, user: "root", privateKey: clientKeys[kind].private });
    const dialed = await dialSsh(conn, { signal: new AbortController().signal, debug: (l) => log.push(l) });
    dialed.client.end();
    const at = (re: RegExp) => log.findIndex((l) => re.test(l));
    const request = at(/Outbound: Sending USERAUTH_REQUEST \(publickey\)/);
    const accepted = at(/Inbound: Received SERVICE_ACCEPT/);
    expect([request, accepted].every((i) => i >= 0)).toBe(true);
    return request < accepted ? "before the acceptance" : "after the acceptance";
  };

  it("follows the service request at once with an ed25519 key (one round trip less)", async () => {
    expect(await order("ed25519")).toBe("before the acceptance");
  });

  it("waits for the acceptance (and its server-sig-algs) with an RSA key", async () => {
    expect(await order("rsa")).toBe("after the acceptance");
  });
});
