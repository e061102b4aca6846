// The lock holder's read (node/lock-read.ts readAfterLock) arrives in many chunks for a big host (a 100,000-entry
// set is ≈ 2 MB): it must be found without rescanning everything received at every chunk. Work is counted, not
// timed: how often the whole output so far is asked for.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { readAfterLock } from "../../provider/node/lock-read";
import type { CommandEnd, RunningCommand } from "../../provider/node/running-command";
import { LOCKED } from "../../provider/protocol/lock-script";
import { marker, READ } from "../../provider/protocol/sections";

const NONCE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"; // as the node makes it (/proc/sys/kernel/random/uuid)

function holder() {
  const stdout = new PassThrough();
  let received = "";
  let wholeReads = 0;
  stdout.on("data", (b: Buffer) => {
    received += b.toString();
  });
  const run = { stdout, end: new Promise<CommandEnd>(() => undefined) } as unknown as RunningCommand;
  const out = {
    text: () => {
      wholeReads++;
      return received;
    },
  };
  return { run, out, stdout, wholeReads: () => wholeReads };
}

describe("readAfterLock", () => {
  it("reads a 2,000-chunk answer asking for the whole output a constant number of times", async () => {
    const h = holder();
    h.stdout.write(`${LOCKED} ${NONCE}\n`);
    const read = readAfterLock(h.run, h.out);
    const body = `\n${marker(NONCE, READ.ipset)}\n`;
    const lines: string[] = [body];
    for (let i = 0; i < 2000; i++) {
      const line = `add big 10.0.${i >> 8}.${i & 255}\n`;
      lines.push(line);
      h.stdout.write(line);
    }
    // The end marker split across two chunks is still found.
    const end = `\n${marker(NONCE, READ.end)}\n`;
    h.stdout.write(end.slice(0, 7));
    h.stdout.write(end.slice(7));
    const held = await read;
    expect(held?.nonce).toBe(NONCE);
    const text = held?.text;
    expect(text?.endsWith(end)).toBe(true);
    expect(text).toContain("add big 10.0.7.207\n");
    expect(h.wholeReads()).toBeLessThanOrEqual(4);
  });
});
