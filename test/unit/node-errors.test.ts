import { describe, expect, it } from "vitest";
import {
  commandLine,
  defineCommands,
  isDefinedCommand,
  recordCommands,
  simpleCommandProblem,
} from "../../provider/node/commands";
import { isNodeError, isPermanent, nodeError } from "../../provider/node/errors";
import { Semaphore } from "../../provider/node/semaphore";
import { classifySudoFailure } from "../../provider/node/sudo";

describe("node errors", () => {
  it("are Errors with a kind, context and a readable message", () => {
    const e = nodeError({
      kind: "CommandFailed",
      host: "root@10.0.0.5:22",
      command: "iptables-restore -w 5 --noflush",
      code: 2,
      stderr: "iptables-restore: line 3 failed\n",
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("CommandFailed");
    expect(e.message).toBe(
      "command failed on root@10.0.0.5:22 (exit 2): iptables-restore -w 5 --noflush\niptables-restore: line 3 failed",
    );
    expect([e.kind, e.code, e.host]).toEqual(["CommandFailed", 2, "root@10.0.0.5:22"]);
  });

  it("are recognised by brand, also when made by another copy of the module", () => {
    const e = nodeError({ kind: "LockTimeout", host: "h", holder: "ci-7 pid 42", waitedSeconds: 30 });
    expect(isNodeError(e)).toBe(true);
    expect(isNodeError(e, "LockTimeout")).toBe(true);
    expect(isNodeError(e, "Timeout")).toBe(false);
    // A structurally identical object from another copy (no shared prototype or class) still counts.
    const foreign = Object.assign(new Error("x"), { kind: "Timeout", brand: "pulumi-docker-firewall/node-error" });
    expect(isNodeError(foreign, "Timeout")).toBe(true);
    expect(isNodeError(new Error("plain"))).toBe(false);
    expect(isNodeError({ kind: "Timeout" })).toBe(false);
  });

  it("warn loudly about a changed host key", () => {
    const e = nodeError({
      kind: "HostKeyMismatch",
      host: "root@h:22",
      expected: "SHA256:aaa",
      seen: "SHA256:bbb",
      source: "pinned",
    });
    expect(e.message).toMatch(/^HOST KEY MISMATCH for root@h:22: expected SHA256:aaa \(pinned in connection.hostKey\)/);
    expect(e.message).toMatch(/presented SHA256:bbb/);
    expect(e.message).toMatch(/man-in-the-middle/);
    expect(isPermanent(e)).toBe(true);
    expect(isPermanent(nodeError({ kind: "Unreachable", host: "h", attempts: 3, reason: "refused" }))).toBe(false);
  });

  it("name the holder of a lock and clip long stderr", () => {
    expect(
      nodeError({ kind: "LockTimeout", host: "root@h:22", holder: "ci-7 pid 42", waitedSeconds: 30 }).message,
    ).toBe(
      "the node lock on root@h:22 is held by ci-7 pid 42; gave up after 30 s. Another pulumi run or tool is changing " +
        "this node's firewall: retry when it has finished.",
    );
    const long = nodeError({ kind: "CommandFailed", host: "h", command: "c", code: 1, stderr: "x".repeat(5000) });
    expect(long.message.length).toBeLessThan(2200);
    expect(long.message).toMatch(/3000 more characters/);
  });
});

describe("sudo failure classification", () => {
  it.each([
    [1, "sudo: a password is required\n", { kind: "password-required" }],
    [
      1,
      "sudo: unable to resolve host n1: Name or service not known\nsudo: a password is required\n",
      { kind: "password-required" },
    ],
    [
      1,
      "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\n",
      { kind: "password-required" },
    ],
    [1, "Sorry, user deploy is not allowed to execute '/usr/sbin/iptables-save' as root on n1.\n", { kind: "denied" }],
    [1, "deploy is not in the sudoers file.  This incident will be reported.\n", { kind: "denied" }],
    [1, "sudo: sorry, you must have a tty to run sudo\n", { kind: "denied" }],
    [127, "bash: line 1: sudo: command not found\n", { kind: "denied", reason: "sudo is not installed on the node" }],
    [127, "sh: 1: sudo: not found\n", { kind: "denied" }],
  ])("exit %i with %j is sudo's refusal", (code, stderr, expected) => {
    expect(classifySudoFailure(code, stderr)).toMatchObject(expected);
  });

  it.each([
    // The command ran and failed; its message merely quotes sudo's (e.g. from a rule comment): not sudo's refusal.
    [1, "iptables-restore v1.8.9 (nf_tables): line 2 failed: comment 'sudo: a password is required'\n"],
    [1, "sudo: a password is required\niptables-restore: line 2 failed\n"],
    [2, "sudo: a password is required\n"],
    [0, ""],
    [1, ""],
    [127, "sh: 1: iptables-nft-restore: not found\n"],
    [null, "sudo: a password is required\n"],
  ])("exit %j with %j is an ordinary command failure", (code, stderr) => {
    expect(classifySudoFailure(code, stderr)).toBeUndefined();
  });
});

describe("remote commands", () => {
  it("are constant simple commands", () => {
    expect(simpleCommandProblem("iptables-nft-save -t filter")).toBeUndefined();
    expect(simpleCommandProblem("sh -c 'a | b; c > /dev/null'")).toBeUndefined();
    expect(simpleCommandProblem("a | b")).toMatch(/shell syntax "\|"/);
    expect(simpleCommandProblem("a; b")).toMatch(/shell syntax/);
    expect(simpleCommandProblem("echo $HOME")).toMatch(/shell syntax "\$"/);
    expect(simpleCommandProblem("echo 'x")).toMatch(/unbalanced/);
    expect(simpleCommandProblem("sudo iptables")).toMatch(/sudo/);
    expect(simpleCommandProblem(" x")).toMatch(/spaces/);
  });

  it("get the sudo prefix when asked", () => {
    const c = defineCommands({ save: "iptables-nft-save -t filter" });
    expect(commandLine(c.save, false)).toBe("iptables-nft-save -t filter");
    expect(commandLine(c.save, true)).toBe("sudo -n iptables-nft-save -t filter");
    expect(isDefinedCommand("iptables-nft-save -t filter")).toBe(true);
    expect(isDefinedCommand("rm -rf /")).toBe(false);
  });

  it("refuse lines built from data, at compile time and at run time", () => {
    const name: string = "x; reboot";
    // @ts-expect-error a `string` is not a literal: commands cannot be built from data
    expect(() => defineCommands({ bad: `ipset list ${name}` })).toThrow(/shell syntax ";"/);
    expect(() => defineCommands({ bad: "a && b" })).toThrow(/command bad: shell syntax "&"/);
  });

  it("can be recorded", () => {
    const rec = recordCommands();
    expect(rec.sent).toEqual([]);
    rec.stop();
  });
});

describe("semaphore", () => {
  it("grants in order up to its capacity and lets waiters abort", async () => {
    const s = new Semaphore(2);
    const a = await s.acquire();
    const b = await s.acquire();
    const order: string[] = [];
    const c = s.acquire().then((r) => {
      order.push("c");
      return r;
    });
    const ctl = new AbortController();
    const d = s.acquire(ctl.signal).catch(() => order.push("d aborted"));
    const e = s.acquire().then((r) => {
      order.push("e");
      return r;
    });
    expect([s.active, s.queued]).toEqual([2, 3]);
    ctl.abort(new Error("stop"));
    await d;
    a();
    a(); // releasing twice is harmless
    (await c)();
    b();
    (await e)();
    expect(order).toEqual(["d aborted", "c", "e"]);
    expect([s.active, s.queued]).toEqual([0, 0]);
  });
});
