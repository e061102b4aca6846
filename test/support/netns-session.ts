// A HostSession that runs the provider's constant commands inside a scratch namespace, exactly as sshd would
// (`sh -c <command line>`), for kernel tests of the transaction layer without SSH. Lab tests cover SSH.
import type { RemoteCommand } from "../../provider/node/commands";
import type { HostSession } from "../../provider/node/session";
import type { ScratchNamespace } from "./netns";

export function netnsSession(ns: ScratchNamespace): HostSession & { readonly executions: () => number } {
  let executions = 0;
  let tail: Promise<unknown> = Promise.resolve();
  return {
    host: `netns ${ns.name}`,
    executions: () => executions,
    run: async (command: RemoteCommand, stdin: string) => {
      executions++;
      return ns.exec(["sh", "-c", command], stdin);
    },
    locked: <T>(_owner: string, fn: () => Promise<T>): Promise<T> => {
      const next = tail.then(fn, fn);
      tail = next.catch(() => undefined);
      return next;
    },
  };
}
