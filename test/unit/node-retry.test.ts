import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { nodeError } from "../../provider/node/errors";
import {
  DEFAULT_BACKOFF,
  isRetriesExhausted,
  type RetryOptions,
  retryDelayMs,
  withRetry,
} from "../../provider/node/retry";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Runs withRetry on the fake clock; records when each attempt started (ms since start). */
async function run(opts: RetryOptions, succeedOn?: number) {
  const start = Date.now();
  const attempts: number[] = [];
  const p = withRetry("dial test", opts, async () => {
    attempts.push(Date.now() - start);
    if (attempts.length === succeedOn) return "ok";
    throw new Error("connect ECONNREFUSED");
  });
  const settled = p.then(
    (value) => ({ value, error: undefined as unknown }),
    (error: unknown) => ({ value: undefined, error }),
  );
  await vi.runAllTimersAsync();
  const result = await settled;
  const delays = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
  return { ...result, attempts, delays, elapsed: Date.now() - start };
}

describe("withRetry", () => {
  it("backs off 100 ms ×1.5 up to 5 s, like @pulumi/command", async () => {
    const r = await run({ limit: 12, perAttemptTimeoutMs: 0 });
    expect(r.delays).toEqual([100, 150, 225, 337, 506, 759, 1139, 1708, 2562, 3844, 5000, 5000]);
    expect(r.attempts).toHaveLength(13); // limit = failures tolerated, so limit + 1 attempts
    expect(r.attempts[0]).toBe(0); // the first attempt does not wait
    expect(r.elapsed).toBe(r.attempts.at(-1)); // and nothing waits after the last one
    expect(isRetriesExhausted(r.error)).toBe(true);
    expect((r.error as Error).message).toBe("dial test: after 13 failed attempts: connect ECONNREFUSED");
    expect((r.error as { attempts: number }).attempts).toBe(13);
  });

  it("computes the schedule purely", () => {
    expect([1, 2, 3, 4, 11, 50].map((n) => retryDelayMs(DEFAULT_BACKOFF, n))).toEqual([100, 150, 225, 337, 5000, 5000]);
    expect(retryDelayMs({ initialMs: 2000, factor: 1, maxMs: 5000 }, 7)).toBe(2000);
  });

  it("limit 0 makes a single attempt", async () => {
    const r = await run({ limit: 0, perAttemptTimeoutMs: 0 });
    expect(r.attempts).toEqual([0]);
    expect((r.error as Error).message).toMatch(/after 1 failed attempts/);
  });

  it("stops retrying on success", async () => {
    const r = await run({ limit: 3, perAttemptTimeoutMs: 0, backoff: { initialMs: 2000, factor: 1, maxMs: 2000 } }, 3);
    expect(r.value).toBe("ok");
    expect(r.delays).toEqual([2000, 2000]);
  });

  it("-1 retries without limit", async () => {
    const r = await run(
      { limit: -1, perAttemptTimeoutMs: 0, backoff: { initialMs: 1000, factor: 1, maxMs: 1000 } },
      40,
    );
    expect(r.value).toBe("ok");
    expect(r.attempts).toHaveLength(40);
  });

  it("does not retry permanent errors and rethrows them unwrapped", async () => {
    const auth = nodeError({ kind: "AuthFailed", host: "root@h:22", reason: "refused" });
    let calls = 0;
    const p = withRetry("dial", { limit: 5, perAttemptTimeoutMs: 0, isPermanent: (e) => e === auth }, async () => {
      calls++;
      throw auth;
    });
    await expect(p).rejects.toBe(auth);
    expect(calls).toBe(1);
  });

  it("times out a hanging attempt, aborts its signal, and retries", async () => {
    const signals: AbortSignal[] = [];
    const p = withRetry("dial", { limit: 1, perAttemptTimeoutMs: 500 }, (signal) => {
      signals.push(signal);
      return new Promise<never>(() => undefined);
    });
    const settled = p.catch((e: Error) => e);
    await vi.runAllTimersAsync();
    expect((await settled).message).toBe("dial: after 2 failed attempts: attempt timed out after 500 ms");
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
  });

  it("can be aborted while waiting to retry", async () => {
    const ctl = new AbortController();
    let calls = 0;
    const p = withRetry("dial", { limit: -1, perAttemptTimeoutMs: 0, signal: ctl.signal }, async () => {
      calls++;
      throw new Error("refused");
    });
    const settled = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    ctl.abort(new Error("cancelled"));
    expect(((await settled) as Error).message).toBe("cancelled");
    expect(calls).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("reports each retry", async () => {
    const seen: string[] = [];
    await run({
      limit: 2,
      perAttemptTimeoutMs: 0,
      onRetry: (i) => seen.push(`${i.label} ${i.attempt}/${i.maxAttempts} in ${i.delayMs} ms`),
    });
    expect(seen).toEqual(["dial test 1/3 in 100 ms", "dial test 2/3 in 150 ms"]);
  });
});
