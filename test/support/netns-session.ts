// A HostSession that runs the provider's constant commands inside a scratch namespace, exactly as sshd would
// (`sh -c <command line>`), for kernel tests of the transaction layer without SSH. Lab tests cover SSH.
// Each command sees a private /etc (an overlay whose writes land in a temp dir), so the files a transaction
// persists never touch this machine's real /etc.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RemoteCommand } from "../../provider/node/commands";
import type { HostSession } from "../../provider/node/session";
import { run, type ScratchNamespace } from "./netns";

const WITH_PRIVATE_ETC =
  'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc && exec sh -c "$2"';

export function netnsSession(
  ns: ScratchNamespace,
): HostSession & { readonly executions: () => number; readonly etcDir: string; dispose(): void } {
  let executions = 0;
  let tail: Promise<unknown> = Promise.resolve();
  const dir = mkdtempSync(path.join(tmpdir(), "dfw-etc-"));
  mkdirSync(path.join(dir, "upper"));
  mkdirSync(path.join(dir, "work"));
  return {
    host: `netns ${ns.name}`,
    etcDir: path.join(dir, "upper"),
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
    locked: <T>(_owner: string, fn: () => Promise<T>): Promise<T> => {
      const next = tail.then(fn, fn);
      tail = next.catch(() => undefined);
      return next;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
