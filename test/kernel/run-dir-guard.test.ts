// The runtime dir's guard (protocol/run-dir.ts) as the lock script runs it, on this machine's sh and stat: a token
// file the previous holder removes while the next run checks it is no false "hijack" alarm (that race refused
// real locks with exit 67 in full test runs), and a symlink or a file of another user is still refused.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RUN_DIR, RUN_DIR_GUARD } from "../../provider/protocol/run-dir";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dfw-guard-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The guard with the runtime dir moved to `dir`, then `body`; returns sh's exit code and stderr. `as`: run by
 * that uid (and gid) instead of root. */
function guarded(body: string, as?: number): { code: number; stderr: string } {
  const script = `${RUN_DIR_GUARD.replace(`r=${RUN_DIR}`, `r=${dir}`)}\n${body}`;
  const argv =
    as === undefined
      ? ["sh", "-c", script]
      : ["setpriv", `--reuid=${as}`, `--regid=${as}`, "--clear-groups", "sh", "-c", script];
  try {
    execFileSync(argv[0] as string, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
    return { code: 0, stderr: "" };
  } catch (e) {
    const err = e as { status: number; stderr: Buffer };
    return { code: err.status, stderr: err.stderr.toString() };
  }
}

describe("the runtime dir's guard", () => {
  it("never calls a token that vanishes during the check unsafe", async () => {
    const token = join(dir, "x.token");
    // Another holder creating and removing its token as fast as it can, while 3,000 checks run.
    const churn = spawn("sh", ["-c", `while :; do : >"${token}"; rm -f "${token}"; done`], { stdio: "ignore" });
    try {
      const r = guarded(`i=0; while [ $i -lt 3000 ]; do owned "${token}" || unsafe "${token}"; i=$((i+1)); done`);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    } finally {
      churn.kill("SIGKILL");
    }
  });

  it("refuses a symlink and a file another user owns", () => {
    symlinkSync("/etc/passwd", join(dir, "link.token"));
    expect(guarded(`owned "${dir}/link.token" || unsafe link`).code).toBe(67);
    writeFileSync(join(dir, "theirs.token"), "");
    chownSync(join(dir, "theirs.token"), 65534, 65534);
    expect(guarded(`owned "${dir}/theirs.token" || unsafe theirs`).code).toBe(67);
    expect(guarded(`owned "${dir}/absent.token" || unsafe absent`).code).toBe(0);
  });

  it("takes one stat for the dir and none for root's files", () => {
    for (const f of ["a.lock", "a.owner", "a.token"]) writeFileSync(join(dir, f), "");
    const calls = join(tmpdir(), `dfw-stat-calls-${process.pid}`);
    const counted = `stat() { echo >>"${calls}"; command stat "$@"; }\n`;
    const body = `for f in a.lock a.owner a.token absent.token; do owned "${dir}/$f" || unsafe "$f"; done`;
    const script = `${counted}${RUN_DIR_GUARD.replace(`r=${RUN_DIR}`, `r=${dir}`)}\n${body}`;
    try {
      expect(spawnSync("sh", ["-c", script], { encoding: "utf8" }).status).toBe(0);
      expect(readFileSync(calls, "utf8")).toBe("\n");
    } finally {
      rmSync(calls, { force: true });
    }
  });

  it("refuses a runtime dir another user owns or others may write", () => {
    chownSync(dir, 65534, 65534);
    expect(guarded("true")).toEqual({ code: 67, stderr: expect.stringContaining("not a directory owned by root") });
    chownSync(dir, 0, 0);
    chmodSync(dir, 0o770);
    expect(guarded("true")).toEqual({ code: 67, stderr: expect.stringContaining("writable by group or others") });
  });

  it("run by another user, never takes that user's own file for root's", () => {
    // A root dir others may enter (not write): the run's uid owns neither it nor, so, root's place.
    chmodSync(dir, 0o711);
    writeFileSync(join(dir, "theirs.token"), "");
    chownSync(join(dir, "theirs.token"), 65534, 65534);
    writeFileSync(join(dir, "root.token"), "");
    expect(guarded(`owned "${dir}/theirs.token" || unsafe theirs`, 65534).code).toBe(67);
    expect(guarded(`owned "${dir}/root.token" || unsafe root`, 65534).code).toBe(0);
  });
});
