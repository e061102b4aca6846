// The container image: a busybox-static rootfs (web server via `httpd`) plus socat and the shared libraries it
// needs (Debian's static busybox has no UDP server applet). No registry exists here: nodes `docker import` it.
import { chmodSync, copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { mustRun } from "./spawn";

export const IMAGE_NAME = "dfwlab/busybox:lab";
const BUSYBOX = "/bin/busybox";
const SOCAT = "/usr/bin/socat";
const APPLETS = ["sh", "cat", "echo", "ls", "sleep", "httpd", "mkdir", "printf", "id", "ps", "wget"];

/** PURE. Absolute library paths in `ldd` output ("libc.so.6 => /lib/... (0x..)" and "/lib64/ld-linux... (0x..)"). */
export function lddLibraries(lddOutput: string): string[] {
  const libs = new Set<string>();
  for (const line of lddOutput.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs].sort();
}

/** Writes the rootfs tarball once per lab; every node imports the same file. */
export async function buildImageTar(imageDir: string, tarPath: string): Promise<void> {
  const root = join(imageDir, "rootfs");
  rmSync(root, { recursive: true, force: true });
  const put = (src: string, dst = src) => {
    mkdirSync(dirname(join(root, dst)), { recursive: true });
    copyFileSync(src, join(root, dst));
    chmodSync(join(root, dst), 0o755);
  };
  put(BUSYBOX);
  for (const a of APPLETS) symlinkSync("busybox", join(root, "bin", a));
  put(SOCAT);
  for (const lib of lddLibraries(await mustRun(["ldd", SOCAT]))) put(lib);
  for (const d of ["www", "tmp", "etc", "proc", "sys", "dev"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "www", "index.html"), "dfwlab web\n");
  await mustRun(["tar", "-C", root, "--numeric-owner", "--owner=0", "--group=0", "-cf", tarPath, "."]);
  rmSync(root, { recursive: true, force: true });
}
