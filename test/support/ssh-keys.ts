// Key pairs for the SSH tests, made by OpenSSH's own ssh-keygen (ed25519, optionally with a passphrase), and
// ssh-keygen's fingerprint of a key to check ours against.
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface KeyPair {
  readonly path: string;
  readonly privateKey: string;
  /** OpenSSH public key line. */
  readonly publicKey: string;
}

export async function generateKey(path: string, passphrase = ""): Promise<KeyPair> {
  await rm(path, { force: true });
  await rm(`${path}.pub`, { force: true });
  await execFileAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "pdf-test", "-f", path]);
  return {
    path,
    privateKey: await readFile(path, "utf8"),
    publicKey: (await readFile(`${path}.pub`, "utf8")).trim(),
  };
}

/** OpenSSH's own "SHA256:…" fingerprint of a key file, to check ours against. */
export async function sshKeygenFingerprint(pubPath: string): Promise<string> {
  const { stdout } = await execFileAsync("ssh-keygen", ["-l", "-E", "sha256", "-f", pubPath]);
  const fp = stdout.split(/\s+/)[1];
  if (!fp?.startsWith("SHA256:")) throw new Error(`unexpected ssh-keygen -l output: ${stdout}`);
  return fp;
}
