// A command's output is decoded across chunk boundaries (node/running-command.ts textOf, used by the lock holder
// whose stdout carries the whole state read): a UTF-8 character split between two SSH chunks stays one character.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { textOf } from "../../provider/node/running-command";

describe("textOf", () => {
  it("keeps a multi-byte character split between two chunks whole", async () => {
    const stream = new PassThrough();
    const out = textOf(stream);
    const bytes = Buffer.from('-A DOCKER-USER -m comment --comment "dfw:0100:r-1 café ☕" -j DROP\n', "utf8");
    const cut = bytes.indexOf(Buffer.from("é")) + 1; // between é's two bytes
    const cup = bytes.indexOf(Buffer.from("☕")) + 2; // inside ☕'s three
    stream.write(bytes.subarray(0, cut));
    stream.write(bytes.subarray(cut, cup));
    stream.write(bytes.subarray(cup));
    await new Promise((r) => setImmediate(r));
    expect(out.text()).toBe(bytes.toString("utf8"));
  });
});
