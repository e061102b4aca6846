// Host keys as operators keep them, against a real sshd: several accepted keys (rotation), known_hosts text (plain,
// hashed by ssh-keygen -H, wildcards, @revoked), a @cert-authority host certificate, and hostile known_hosts lines.
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client } from "ssh2";
import { describe, expect, it } from "vitest";
import { defineCommands } from "../../provider/node/commands";
import { isNodeError } from "../../provider/node/errors";
import { exec } from "../../provider/node/exec";
import { observedHostKey } from "../../provider/node/host-key";
import { SshPool } from "../../provider/node/ssh-pool";
import { connectionFailures } from "../../provider/resources/common";
import { generateKey, sshKeygenFingerprint } from "../support/ssh-keys";
import { type TestSshd, useSshdPerFile } from "../support/sshd";

const T = defineCommands({ hello: "echo hello" });
const OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1ypxIyYog7KXFfrFtZ2ktcI/gx5WArBHMPW1jJqjrF";
const OTHER_FP = "SHA256:9SDOO0hVASxE8tFMQiPBVLVm6SFM19c1QF1ScnqRdgY";

let sshd: TestSshd;
useSshdPerFile({
  sshd: (s) => {
    sshd = s;
  },
  pool: () => undefined,
});

const hello = (extra: Parameters<TestSshd["connection"]>[0]) =>
  exec(sshd.connection(extra), T.hello, undefined, { pool: new SshPool() });
const fail = (p: Promise<unknown>) =>
  p.then(
    () => new Error("expected a failure"),
    (e: unknown) => e as Error,
  );
const lookup = () => `[127.0.0.1]:${sshd.port}`;

describe("several accepted keys", () => {
  it("a list accepts the old key and, after the host switched, the new one; a key not listed is refused", async () => {
    const old = sshd.hostKey.publicKey;
    const oldFp = sshd.hostKeyFingerprint;
    const next = await generateKey(join(sshd.dir, "next_host_key"));
    const both = [old, next.publicKey];
    expect((await hello({ hostKey: both })).stdout).toBe("hello\n");
    expect(observedHostKey(sshd.connection({ hostKey: both }))).toBe(oldFp);

    // The host rotates to the new key (the operator listed it beforehand): nothing to change on our side.
    await writeFile(sshd.hostKey.path, next.privateKey, { mode: 0o600 });
    await writeFile(`${sshd.hostKey.path}.pub`, `${next.publicKey}\n`);
    const nextFp = await sshKeygenFingerprint(`${sshd.hostKey.path}.pub`);
    await sshd.restart();
    expect((await hello({ hostKey: both })).stdout).toBe("hello\n");
    // What the resources record (their `hostKey` output) is the key the host has now.
    expect(observedHostKey(sshd.connection({ hostKey: both }))).toBe(nextFp);

    const e = await fail(hello({ hostKey: [old, OTHER_KEY] }));
    expect(isNodeError(e, "HostKeyMismatch") && e.message).toContain(
      `HOST KEY MISMATCH for root@127.0.0.1:${sshd.port}: expected one of ${oldFp}, ${OTHER_FP} (pinned in ` +
        `connection.hostKey) but the server presented ${nextFp}.`,
    );
    sshd.hostKey = { ...next, path: sshd.hostKey.path };
    sshd.hostKeyFingerprint = nextFp;
  });
});

describe("known_hosts text", () => {
  it("accepts the host by a plain, a wildcard or an ssh-keygen -H hashed line; refuses an unlisted host", async () => {
    const key = (await readFile(`${sshd.hostKey.path}.pub`, "utf8")).trim().split(" ").slice(0, 2).join(" ");
    const plain = `# comment\n\nother.example ${OTHER_KEY}\n${lookup()} ${key} a comment\n`;
    expect((await hello({ knownHosts: plain })).stdout).toBe("hello\n");
    expect((await hello({ knownHosts: `[127.0.0.*]:*,!10.* ${key}\n` })).stdout).toBe("hello\n");

    const file = join(sshd.dir, "known_hosts");
    await writeFile(file, `${lookup()} ${key}\n`);
    await promisify(execFile)("ssh-keygen", ["-q", "-H", "-f", file]);
    const hashed = await readFile(file, "utf8");
    expect(hashed).toMatch(/^\|1\|/);
    expect((await hello({ knownHosts: hashed })).stdout).toBe("hello\n");

    const e = await fail(hello({ knownHosts: `other.example ${key}\n` }));
    expect(isNodeError(e, "HostKeyMismatch") && e.message).toMatch(
      `expected none (listed for this host in connection.knownHosts) but the server presented ${
        sshd.hostKeyFingerprint
      }; connection.knownHosts has no line for ${lookup()}.`,
    );
  });

  it("refuses a key marked @revoked, even when hostKey lists it", async () => {
    const e = await fail(
      hello({ hostKey: sshd.hostKey.publicKey, knownHosts: `# rotated out\n@revoked * ${sshd.hostKey.publicKey}\n` }),
    );
    expect(isNodeError(e, "HostKeyMismatch") && e.message).toContain(
      "; the key is marked @revoked in connection.knownHosts (line 2).",
    );
  });

  it("refuses hostile lines at check, naming the line", () => {
    const key = sshd.hostKey.publicKey;
    const cases: [string, string][] = [
      [
        `h ${key}\n-oProxyCommand=sh ${key}`,
        'line 2: host pattern "-oProxyCommand=sh" is not a host name, address or [host]:port (with * and ? wildcards)',
      ],
      [`h\u001b[2J ${key}`, "line 1: contains a control character"],
      [`@trusted h ${key}`, 'line 1: unknown marker "@trusted" (only @cert-authority and @revoked)'],
      ["h ssh-ed25519", 'line 1: expected "[@marker] <host patterns> <key type> <base64 key> [comment]"'],
      [`h ssh-rsa ${key.split(" ")[1]}`, "line 1: the key's base64 part is not a ssh-rsa key"],
      [`h ssh-ed25519 AAAA$$`, "line 1: the key's base64 part is malformed"],
      [`|1|abc|def ${key}`, "line 1: a hashed host name must be |1|<salt>|<hash> (20-byte base64 each)"],
      [`!h ${key}`, "line 1: a line of only negated host patterns matches no host"],
    ];
    for (const [knownHosts, reason] of cases) {
      const failures = connectionFailures({ host: "h", knownHosts });
      expect(failures.map((f) => f.property)).toEqual(["connection.knownHosts"]);
      expect(failures[0]?.reason.startsWith(`${reason} (got `), failures[0]?.reason).toBe(true);
    }
  });
});

describe("@cert-authority", () => {
  it("ssh2 cannot negotiate host certificates: a host trusted only through a CA is refused, saying why", async () => {
    const ca = await generateKey(join(sshd.dir, "host_ca"));
    await sshd.certifyHostKey(ca);
    await sshd.restart();
    expect(sshd.output).not.toMatch(/could not load host certificate/i);

    // What fails: ssh2 1.17 knows no certificate algorithm, so it cannot even offer one.
    const offer = () =>
      new Client().connect({
        host: sshd.host,
        port: sshd.port,
        algorithms: { serverHostKey: ["ssh-ed25519-cert-v01@openssh.com"] as never },
      });
    expect(offer).toThrow(/Unsupported algorithm: ssh-ed25519-cert-v01@openssh\.com/);

    const knownHosts = `@cert-authority [127.0.0.1]:* ${ca.publicKey}\n`;
    // The certificate is good: OpenSSH's own client accepts the host through that CA line alone.
    const file = join(sshd.dir, "known_hosts_ca");
    await writeFile(file, knownHosts);
    const ssh = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"];
    const target = [
      "-o",
      `UserKnownHostsFile=${file}`,
      "-i",
      sshd.userKey.path,
      "-p",
      `${sshd.port}`,
      "root@127.0.0.1",
    ];
    const { stdout } = await promisify(execFile)("ssh", [...ssh, ...target, "echo", "via-ca"]);
    expect(stdout).toBe("via-ca\n");
    const e = await fail(hello({ knownHosts }));
    expect(isNodeError(e, "HostKeyMismatch") && e.message).toContain(
      `; connection.knownHosts has no key for ${lookup()}: it is trusted there only through @cert-authority (line 1), ` +
        "and host certificates cannot be checked: the SSH library (ssh2) negotiates no OpenSSH certificate " +
        "algorithm, so the server presents its plain key. Add the host's own key (a plain known_hosts line, or hostKey).",
    );
    // With the host's own key beside the CA line (what ssh-keyscan prints), the certified host is reached.
    expect((await hello({ knownHosts: `${knownHosts}${lookup()} ${sshd.hostKey.publicKey}\n` })).stdout).toBe(
      "hello\n",
    );
  });
});
