// One retry loop for everything that dials: exponential backoff, a failure limit with @pulumi/command's
// `dialErrorLimit` meaning (N failures tolerated, so at most N+1 attempts; -1 = unlimited), per-attempt timeouts
// and cancellation.

export interface Backoff {
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
}

/** pulumi-command's schedule: 100 ms, ×1.5 each time, capped at 5 s. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 100, factor: 1.5, maxMs: 5000 };

export interface RetryInfo {
  readonly label: string;
  /** 1-based number of the attempt that just failed. */
  readonly attempt: number;
  /** Attempts allowed in total, or undefined when unlimited. */
  readonly maxAttempts: number | undefined;
  readonly delayMs: number;
  readonly error: unknown;
}

export interface RetryOptions {
  /** Failed attempts tolerated before giving up; -1 = unlimited; 0 = a single attempt. */
  readonly limit: number;
  /** Time allowed for one attempt; 0 = no limit. The attempt's signal is aborted when it runs out. */
  readonly perAttemptTimeoutMs: number;
  readonly backoff?: Backoff;
  readonly signal?: AbortSignal;
  /** Errors that retrying cannot fix: rethrown at once, unwrapped. */
  readonly isPermanent?: (error: unknown) => boolean;
  readonly onRetry?: (info: RetryInfo) => void;
}

/** Wait after the `failures`-th consecutive failure (1-based), in whole milliseconds. */
export function retryDelayMs(backoff: Backoff, failures: number): number {
  return Math.floor(Math.min(backoff.initialMs * backoff.factor ** (failures - 1), backoff.maxMs));
}

const EXHAUSTED = "RetriesExhausted" as const;

/** Thrown when the limit is reached; the message reads "<label>: after N failed attempts: <last error>". */
export interface RetriesExhausted extends Error {
  readonly kind: typeof EXHAUSTED;
  readonly attempts: number;
  readonly lastError: unknown;
}

export function isRetriesExhausted(e: unknown): e is RetriesExhausted {
  return typeof e === "object" && e !== null && (e as { kind?: unknown }).kind === EXHAUSTED;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function exhausted(label: string, attempts: number, lastError: unknown): RetriesExhausted {
  const err = new Error(`${label}: after ${attempts} failed attempts: ${messageOf(lastError)}`, { cause: lastError });
  err.name = EXHAUSTED;
  return Object.assign(err, { kind: EXHAUSTED, attempts, lastError });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error("aborted");
}

/** Waits `ms`; rejects with the signal's reason if it is aborted first. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Runs one attempt; settles on its result, its timeout, or the caller's abort, whichever comes first. */
function attemptOnce<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  outer: AbortSignal | undefined,
): Promise<T> {
  const ctl = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const settle = () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      settle();
      const reason = abortReason(outer as AbortSignal);
      ctl.abort(reason);
      reject(reason);
    };
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            settle();
            const err = new Error(`attempt timed out after ${timeoutMs} ms`);
            ctl.abort(err);
            reject(err);
          }, timeoutMs)
        : undefined;
    if (outer?.aborted) return onAbort();
    outer?.addEventListener("abort", onAbort, { once: true });
    fn(ctl.signal).then(
      (v) => {
        settle();
        resolve(v);
      },
      (e) => {
        settle();
        reject(e);
      },
    );
  });
}

export async function withRetry<T>(
  label: string,
  opts: RetryOptions,
  fn: (signal: AbortSignal, attempt: number) => Promise<T>,
): Promise<T> {
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const maxAttempts = opts.limit < 0 ? undefined : opts.limit + 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce((s) => fn(s, attempt), opts.perAttemptTimeoutMs, opts.signal);
    } catch (error) {
      if (opts.signal?.aborted || opts.isPermanent?.(error)) throw error;
      if (maxAttempts !== undefined && attempt >= maxAttempts) throw exhausted(label, attempt, error);
      const delayMs = retryDelayMs(backoff, attempt);
      opts.onRetry?.({ label, attempt, maxAttempts, delayMs, error });
      await sleep(delayMs, opts.signal);
    }
  }
}
