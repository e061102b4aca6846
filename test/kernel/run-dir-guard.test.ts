// The runtime dir's guard (protocol/run-dir.ts) as the lock script runs it, on this machine's sh and stat: a token
// file the previous holder removes while the next run checks it is no false "hijack" alarm (that race refused
// real locks with exit 67 in full test runs), and a symlink or a file of another user is still refused.
import { execFileSync, spawn } from "node:child_process";
import { chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RUN_DIR, RUN_DIR_GUARD } from "../../provider/protocol/run-dir";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dfw-guard-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The guard with the runtime dir moved to `dir`, then `body`; returns sh's exit code and stderr. */
function guarded(body: string): { code: number; stderr: string } {
  const script = `${RUN_DIR_GUARD.replace(`r=${RUN_DIR}`, `r=${dir}`)}\n${body}`;
  try {
    execFileSync("sh", ["-c", script], { stdio: ["ignore", "ignore", "pipe"] });
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
});
