// Authentication against a real sshd: key, encrypted key, password, agent; and no secret in any error message.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { defineCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec, execChecked } from "../../provider/node/exec";
import { SshPool } from "../../provider/node/ssh-pool";
import { generateKey, type KeyPair } from "../support/ssh-keys";
import { startAgent } from "../support/ssh-processes";
import { type TestSshd, useSshdPerFile } from "../support/sshd";

const T = defineCommands({ whoami: "id -un", fail: "sh -c 'echo no >&2; exit 1'", sleep: "sleep 1" });
const ROOT_PASSWORD = "Tr0ub4dor&3-root-pw";

let sshd: TestSshd;
let pool: SshPool;
let stranger: KeyPair; // a key the server does not know
/** Every error any test here provoked: none may contain a secret. */
const errors: unknown[] = [];

useSshdPerFile(
  {
    sshd: (s) => {
      sshd = s;
    },
    pool: (p) => {
      pool = p;
    },
  },
  { rootPassword: ROOT_PASSWORD },
);
beforeAll(async () => {
  stranger = await generateKey(join(sshd.dir, "stranger"));
});

async function failure(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => new Error("expected a failure"),
    (x: unknown) => x as Error,
  );
  errors.push(e);
  return e;
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

describe("authentication", () => {
  it("with a private key", async () => {
    expect((await exec(sshd.connection(), T.whoami, undefined, { pool })).stdout).toBe("root\n");
  });

  it("with an encrypted private key and its passphrase", async () => {
    const conn = sshd.connection({
      privateKey: sshd.encryptedUserKey.privateKey,
      privateKeyPassword: sshd.encryptedKeyPassphrase,
    });
    expect((await exec(conn, T.whoami, undefined, { pool })).stdout).toBe("root\n");
  });

  it("refuses an encrypted key with a wrong or missing passphrase, without dialling", async () => {
    const wrong = sshd.connection({ privateKey: sshd.encryptedUserKey.privateKey, privateKeyPassword: ROOT_PASSWORD });
    const e = await failure(exec(wrong, T.whoami, undefined, { pool }));
    expect(isNodeError(e, "AuthFailed") && e.message).toMatch(
      /privateKey could not be read \(is privateKeyPassword right\?\)/,
    );
    const missing = sshd.connection({ privateKey: sshd.encryptedUserKey.privateKey });
    expect(isNodeError(await failure(exec(missing, T.whoami, undefined, { pool })), "AuthFailed")).toBe(true);
    expect(pool.stats().connectionsOpened).toBe(0);
  });

  it("with a password", async () => {
    const conn = sshd.connection({ privateKey: undefined, password: ROOT_PASSWORD });
    expect((await exec(conn, T.whoami, undefined, { pool })).stdout).toBe("root\n");
  });

  it("fails fast with AuthFailed for a wrong password or an unknown key (no retries)", async () => {
    const t0 = process.hrtime.bigint();
    const wrong = sshd.connection({ privateKey: undefined, password: `${ROOT_PASSWORD}x`, dialErrorLimit: 10 });
    const e = await failure(exec(wrong, T.whoami, undefined, { pool }));
    expect(isNodeError(e, "AuthFailed") && e.message).toBe(
      `authentication failed for root@127.0.0.1:${sshd.port}: the server refused every method tried (password, keyboard-interactive)`,
    );
    const unknownKey = sshd.connection({ privateKey: stranger.privateKey });
    const k = await failure(exec(unknownKey, T.whoami, undefined, { pool }));
    expect(isNodeError(k, "AuthFailed") && k.message).toMatch(/refused every method tried \(publickey\)$/);
    expect(ms(t0)).toBeLessThan(3000); // password failures cost sshd's ~1 s delay each; nothing was retried
  });

  it("with an ssh-agent only", async () => {
    const agent = await startAgent(sshd.dir, [sshd.userKey]);
    try {
      const conn = sshd.connection({ privateKey: undefined, agentSocketPath: agent.socket });
      expect((await exec(conn, T.whoami, undefined, { pool })).stdout).toBe("root\n");
      // And from SSH_AUTH_SOCK, read at dial time, when the connection names no agent.
      process.env.SSH_AUTH_SOCK = agent.socket;
      const fromEnv = sshd.connection({ privateKey: undefined });
      expect(fromEnv.agentSocketPath).toBeUndefined();
      expect((await exec(fromEnv, T.whoami, undefined, { pool: new SshPool() })).stdout).toBe("root\n");
    } finally {
      delete process.env.SSH_AUTH_SOCK;
      agent.stop();
    }
  });

  it("says so when there are no credentials at all", async () => {
    const e = await failure(exec(sshd.connection({ privateKey: undefined }), T.whoami, undefined, { pool }));
    expect(isNodeError(e, "AuthFailed") && e.message).toMatch(
      /no credentials: set privateKey, password or agentSocketPath/,
    );
  });

  it("includes no secret in any error message", async () => {
    const withSecrets = sshd.connection({ password: ROOT_PASSWORD, privateKey: sshd.userKey.privateKey });
    await failure(execChecked(withSecrets, T.fail, undefined, { pool }));
    await failure(exec(withSecrets, T.sleep, undefined, { pool, timeoutMs: 100 }));
    await failure(
      exec(sshd.connection({ port: 1, password: ROOT_PASSWORD, dialErrorLimit: 0 }), T.whoami, undefined, { pool }),
    );

    expect(errors.length).toBeGreaterThanOrEqual(8);
    const secrets = [
      ROOT_PASSWORD,
      sshd.encryptedKeyPassphrase,
      ...[sshd.userKey, sshd.encryptedUserKey, stranger].flatMap((k) =>
        k.privateKey.split("\n").filter((l) => l.length >= 16 && !l.startsWith("-----")),
      ),
    ];
    for (const e of errors) {
      let text = "";
      for (let x: unknown = e; x instanceof Error; x = x.cause)
        text += `${x.message}\n${x.stack}\n${JSON.stringify(x)}\n`;
      for (const s of secrets) expect(text).not.toContain(s);
    }
  });
});
