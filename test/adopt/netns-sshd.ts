// A throwaway sshd (test/support/sshd.ts) whose root sessions run inside a scratch network namespace, over a
// private /etc overlay (writes land in `etcUpper`, never in this machine's /etc): the provider's real SSH layer
// and remote scripts then meet a real kernel holding only what a test put there.
import { appendFile, chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ScratchNamespace } from "../support/netns";
import { TestSshd } from "../support/sshd";

export async function sshdInto(ns: ScratchNamespace): Promise<{ sshd: TestSshd; etcUpper: string }> {
  const sshd = await TestSshd.start();
  const etcUpper = path.join(sshd.dir, "etc-upper");
  const work = path.join(sshd.dir, "etc-work");
  await mkdir(etcUpper);
  await mkdir(work);
  const wrapper = path.join(sshd.dir, "into-netns.sh");
  // A work dir per session: overlayfs resets its work dir when it mounts, so two sessions mounting at once with one
  // (the node lock's and the apply's channel opened ahead) race, and one fails with ENOENT ("special device overlay
  // does not exist"). The upper dir is shared, as the sessions of a real host share /etc.
  const inner = `w=$(mktemp -d ${work}/s.XXXXXX) && mount -t overlay overlay -o "lowerdir=/etc,upperdir=${etcUpper},workdir=$w" /etc && exec ip netns exec ${ns.name} sh -c "$SSH_ORIGINAL_COMMAND"`;
  await writeFile(wrapper, `#!/bin/sh\nexec unshare -m --propagation private sh -c '${inner}'\n`);
  await chmod(wrapper, 0o755);
  await appendFile(path.join(sshd.dir, "sshd_config"), `Match User root\n  ForceCommand ${wrapper}\n`);
  await sshd.restart();
  return { sshd, etcUpper };
}
