// A HostSession that runs the provider's constant commands inside a scratch namespace, exactly as sshd would
// (`sh -c <command line>`), for kernel tests of the transaction layer without SSH. Lab tests cover SSH.
// Each command sees a private /etc (an overlay whose writes land in a temp dir), so the files a transaction
// persists never touch this machine's real /etc.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RemoteCommand } from "../../provider/node/commands";
import type { LockProof } from "../../provider/node/lock";
import type { HostSession } from "../../provider/node/session";
import { RUN_DIR } from "../../provider/protocol/run-dir";
import { run, type ScratchNamespace } from "./netns";

const WITH_PRIVATE_ETC =
  'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc && exec sh -c "$2"';

export function netnsSession(ns: ScratchNamespace): HostSession & {
  readonly executions: () => number;
  readonly etcDir: string;
  /** The file the stand-in lock holder records its token in. */
  readonly tokenPath: string;
  dispose(): void;
} {
  let executions = 0;
  const lockName = `netns-${ns.name.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`.slice(0, 64);
  let tail: Promise<unknown> = Promise.resolve();
  const dir = mkdtempSync(path.join(tmpdir(), "dfw-etc-"));
  mkdirSync(path.join(dir, "upper"));
  mkdirSync(path.join(dir, "work"));
  return {
    host: `netns ${ns.name}`,
    etcDir: path.join(dir, "upper"),
    tokenPath: `${RUN_DIR}/${lockName}.token`,
    executions: () => executions,
    run: async (command: RemoteCommand, stdin: string) => {
      executions++;
      return run(
        [
          "ip",
          "netns",
          "exec",
          ns.name,
          "unshare",
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          WITH_PRIVATE_ETC,
          "_",
          dir,
          command,
        ],
        stdin,
      );
    },
    // Stands in for the node lock's holder: records a token (as the holder does under /run/docker-firewall)
    // for the duration of `fn`, and removes it after, as a holder that lets go does.
    locked: <T>(_owner: string, fn: (proof: LockProof) => Promise<T>): Promise<T> => {
      const held = async () => {
        const proof = { name: lockName, token: randomBytes(16).toString("hex") };
        mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
        writeFileSync(`${RUN_DIR}/${lockName}.token`, `${proof.token}\n`, { mode: 0o600 });
        try {
          return await fn(proof);
        } finally {
          rmSync(`${RUN_DIR}/${lockName}.token`, { force: true });
        }
      };
      const next = tail.then(held, held);
      tail = next.catch(() => undefined);
      return next;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
