// A throwaway OpenSSH server for tests: 127.0.0.1, a free port, its own host key and authorized user keys, all in a
// temp dir made at test time. It runs as root in the root network namespace, so tests must run only harmless
// commands through it (echo, cat, sleep, flock under /run/lock) and never iptables/ipset.
//
// sshd runs in a private mount namespace with test copies of /etc/passwd, /etc/shadow and /etc/sudoers bound over
// the real ones (the host's files are never changed). There root's login shell is /bin/sh (sessions do not run this
// machine's root dotfiles), and two extra users exist to exercise sudo: SUDO_NOPASSWD_USER may run anything with
// NOPASSWD sudo, SUDO_PASSWORD_USER must give SUDO_PASSWORD; with `doasConf`, /etc is an overlay holding that doas.conf
// (DOAS_USER exists for it).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { type Connection, type ConnectionArgs, parseConnection } from "../../provider/model/connection";
import { forgetHostKeys } from "../../provider/node/host-key";
import { SshPool } from "../../provider/node/ssh-pool";
import { generateKey, type KeyPair, sshKeygenFingerprint } from "./ssh-keys";
import { descendants, freePort } from "./ssh-processes";

const execFileAsync = promisify(execFile);
const SSHD = "/usr/sbin/sshd";
export const SUDO_NOPASSWD_USER = "pdf-sudo";
export const SUDO_PASSWORD_USER = "pdf-pwsudo";
export const SUDO_PASSWORD = "pw-sudo Ex4mple!'\"$x";
export const DOAS_USER = "pdf-doas";
// No cached sudo credentials (each command asks again) and no lecture: the password exchange is the same every time.
const TEST_USERS = [
  { name: SUDO_NOPASSWD_USER, uid: 64201, sudoers: `${SUDO_NOPASSWD_USER} ALL=(ALL:ALL) NOPASSWD: ALL` },
  {
    name: SUDO_PASSWORD_USER,
    uid: 64202,
    sudoers: `Defaults:${SUDO_PASSWORD_USER} timestamp_timeout=0, lecture=never\n${SUDO_PASSWORD_USER} ALL=(ALL:ALL) ALL`,
  },
  { name: DOAS_USER, uid: 64203, sudoers: "" },
];

export interface SshdOptions {
  /** Enables password login for root with this password. */
  readonly rootPassword?: string;
  /** sshd's MaxSessions (sessions per connection); default 10, as OpenSSH. */
  readonly maxSessions?: number;
  /** sshd's LogLevel; default INFO. */
  readonly logLevel?: string;
  /** Content of /etc/doas.conf inside sshd's mount namespace (then /etc is an overlay there). */
  readonly doasConf?: string;
  /** sshd's AuthenticationMethods (e.g. "publickey,password": both, in turn). */
  readonly authenticationMethods?: string;
}

const replaceField = (line: string, index: number, value: string) => {
  const f = line.split(":");
  f[index] = value;
  return f.join(":");
};

export class TestSshd {
  private child: ChildProcess | undefined;
  private log = "";
  hostKey!: KeyPair;
  hostKeyFingerprint!: string;
  /** HostCertificate lines for the next (re)start (see `certifyHostKey`). */
  hostCertificates: string[] = [];

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly userKey: KeyPair,
    /** The same kind of key, encrypted with `encryptedKeyPassphrase`; also authorized. */
    readonly encryptedUserKey: KeyPair,
    readonly encryptedKeyPassphrase: string,
    private readonly opts: SshdOptions,
  ) {}

  static async start(opts: SshdOptions = {}): Promise<TestSshd> {
    const dir = await mkdtemp(join(tmpdir(), "pdf-sshd-"));
    await chmod(dir, 0o755); // the sudo test users read authorized_keys from here
    const port = await freePort();
    const userKey = await generateKey(join(dir, "user_key"));
    const passphrase = "correct horse battery staple";
    const encrypted = await generateKey(join(dir, "user_key_enc"), passphrase);
    await writeFile(join(dir, "authorized_keys"), `${userKey.publicKey}\n${encrypted.publicKey}\n`, { mode: 0o644 });
    const sshd = new TestSshd(dir, port, userKey, encrypted, passphrase, opts);
    await sshd.regenerateHostKey();
    await sshd.writeConfig();
    await sshd.writeAccounts();
    await sshd.run();
    return sshd;
  }

  get host(): string {
    return "127.0.0.1";
  }

  /** A connection to this server as root with the unencrypted user key, plus `extra`. */
  connection(extra: Partial<ConnectionArgs> = {}): Connection {
    return parseConnection({
      host: this.host,
      port: this.port,
      user: "root",
      privateKey: this.userKey.privateKey,
      ...extra,
    });
  }

  /** Makes a new host key; takes effect at the next (re)start. */
  async regenerateHostKey(): Promise<void> {
    this.hostKey = await generateKey(join(this.dir, "host_ed25519"));
    this.hostKeyFingerprint = await sshKeygenFingerprint(`${this.hostKey.path}.pub`);
  }

  /** Signs the current host key with `ca` (ssh-keygen -s -h) for 127.0.0.1 and serves the certificate from the next (re)start. */
  async certifyHostKey(ca: KeyPair): Promise<void> {
    await execFileAsync("ssh-keygen", [
      "-q",
      "-s",
      ca.path,
      "-h",
      "-I",
      "pdf-test-host",
      "-n",
      this.host,
      `${this.hostKey.path}.pub`,
    ]);
    this.hostCertificates = [`${this.hostKey.path}-cert.pub`];
    await this.writeConfig();
  }

  /** Kills the listener and every session it spawned: clients see their connections drop. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null) return;
    const pids = [child.pid, ...(await descendants(child.pid))];
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await exited;
    this.child = undefined;
  }

  /** Stops (SIGSTOP) every session process: their connections go silent, as behind a dead NAT. `restart` ends it. */
  async freezeSessions(): Promise<void> {
    if (!this.child?.pid) return;
    for (const pid of await descendants(this.child.pid)) {
      try {
        process.kill(pid, "SIGSTOP");
      } catch {
        // already gone
      }
    }
  }

  /** Starts again on the same port (after `stop`, or killing it first), with the current host key. */
  async restart(): Promise<void> {
    await this.stop();
    await this.run();
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** What sshd logged (-e): useful in failure messages. */
  get output(): string {
    return this.log;
  }

  private async writeConfig(): Promise<void> {
    const lines = [
      `Port ${this.port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${this.hostKey.path}`,
      ...this.hostCertificates.map((c) => `HostCertificate ${c}`),
      `PidFile ${join(this.dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(this.dir, "authorized_keys")}`,
      "UsePAM no",
      "StrictModes no",
      "PermitRootLogin yes",
      "PubkeyAuthentication yes",
      `PasswordAuthentication ${this.opts.rootPassword !== undefined ? "yes" : "no"}`,
      "KbdInteractiveAuthentication no",
      `MaxSessions ${this.opts.maxSessions ?? 10}`,
      "MaxStartups 100:30:200",
      "MaxAuthTries 6",
      "AllowTcpForwarding yes",
      "PrintMotd no",
      `LogLevel ${this.opts.logLevel ?? "INFO"}`,
      ...(this.opts.authenticationMethods ? [`AuthenticationMethods ${this.opts.authenticationMethods}`] : []),
    ];
    await writeFile(join(this.dir, "sshd_config"), `${lines.join("\n")}\n`);
  }

  /** The private passwd, shadow and sudoers (see the file comment). */
  private async writeAccounts(): Promise<void> {
    const rootHash =
      this.opts.rootPassword !== undefined
        ? (await execFileAsync("openssl", ["passwd", "-6", this.opts.rootPassword])).stdout.trim()
        : undefined;
    const passwd = (await readFile("/etc/passwd", "utf8"))
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => (l.startsWith("root:") ? replaceField(l, 6, "/bin/sh") : l));
    const shadow = (await readFile("/etc/shadow", "utf8"))
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => (l.startsWith("root:") && rootHash ? replaceField(l, 1, rootHash) : l));
    const sudoHash = (await execFileAsync("openssl", ["passwd", "-6", SUDO_PASSWORD])).stdout.trim();
    for (const u of TEST_USERS) {
      passwd.push(`${u.name}:x:${u.uid}:65534:pdf test:${this.dir}:/bin/sh`);
      // "*": no password login, but not locked for keys; SSH logins never use the password (no PasswordAuthentication).
      shadow.push(`${u.name}:${u.name === SUDO_PASSWORD_USER ? sudoHash : "*"}:20000:0:99999:7:::`);
    }
    const sudoers = [
      "Defaults env_reset",
      "root ALL=(ALL:ALL) ALL",
      ...TEST_USERS.map((u) => u.sudoers).filter(Boolean),
    ];
    await writeFile(join(this.dir, "passwd"), `${passwd.join("\n")}\n`, { mode: 0o644 });
    await writeFile(join(this.dir, "shadow"), `${shadow.join("\n")}\n`, { mode: 0o640 });
    await writeFile(join(this.dir, "sudoers"), `${sudoers.join("\n")}\n`, { mode: 0o440 });
  }

  private async run(): Promise<void> {
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
    const d = this.dir;
    const etc = [];
    if (this.opts.doasConf !== undefined) {
      for (const sub of ["etc-upper", "etc-work"]) await mkdir(join(d, sub), { recursive: true });
      await writeFile(join(d, "etc-upper", "doas.conf"), this.opts.doasConf, { mode: 0o600 });
      etc.push('mount -t overlay pdf-sshd-etc -o "lowerdir=/etc,upperdir=$1/etc-upper,workdir=$1/etc-work" /etc');
    }
    const script = [
      ...etc,
      'mount --bind "$1/passwd" /etc/passwd',
      'mount --bind "$1/shadow" /etc/shadow',
      'mount --bind "$1/sudoers" /etc/sudoers',
      `exec ${SSHD} -D -e -f "$1/sshd_config"`,
    ].join(" && ");
    const child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", d], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start in 10 s:\n${this.log}`)), 10_000);
      const onData = (b: Buffer) => {
        this.log += b.toString();
        if (this.log.includes(`Server listening on 127.0.0.1 port ${this.port}`)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited (${code}) while starting:\n${this.log}`));
      });
    });
  }
}

/**
 * The usual fixture of an SSH test file: one sshd for the file (no agent from the environment), and for each test
 * a fresh pool and no remembered host keys. `bind` hands them to the file's own variables.
 */
export function useSshdPerFile(bind: { sshd(s: TestSshd): void; pool(p: SshPool): void }, options?: SshdOptions): void {
  let sshd: TestSshd | undefined;
  let pool: SshPool | undefined;
  beforeAll(async () => {
    delete process.env.SSH_AUTH_SOCK;
    sshd = await TestSshd.start(options);
    bind.sshd(sshd);
  });
  afterAll(async () => {
    await sshd?.dispose();
  });
  beforeEach(() => {
    forgetHostKeys();
    pool = new SshPool();
    bind.pool(pool);
  });
  afterEach(() => pool?.closeAll());
}
