// FIFO counting semaphore with abortable waits, and a keyed mutex built on it. In-process only.

export type Release = () => void;

export class Semaphore {
  private inUse = 0;
  private readonly waiters: Array<{ grant: () => void; reject: (e: unknown) => void }> = [];

  constructor(private limit: number) {}

  get active(): number {
    return this.inUse;
  }

  get queued(): number {
    return this.waiters.length;
  }

  get capacity(): number {
    return this.limit;
  }

  /** Lowers (or raises) the number of holders allowed; current holders keep their slots. */
  setCapacity(limit: number): void {
    this.limit = Math.max(1, limit);
    this.pump();
  }

  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.inUse < this.limit && this.waiters.length === 0) {
      this.inUse++;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.releaser());
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      this.pump();
    };
  }

  private pump(): void {
    while (this.inUse < this.limit && this.waiters.length > 0) {
      const next = this.waiters.shift();
      if (!next) break;
      this.inUse++;
      next.grant();
    }
  }
}

/** One holder per key at a time; keys are forgotten when nobody holds or waits for them. */
export class KeyedMutex {
  private readonly locks = new Map<string, { sem: Semaphore; users: number }>();

  async lock(key: string, signal?: AbortSignal): Promise<Release> {
    let entry = this.locks.get(key);
    if (!entry) {
      entry = { sem: new Semaphore(1), users: 0 };
      this.locks.set(key, entry);
    }
    entry.users++;
    const done = () => {
      if (entry && --entry.users === 0) this.locks.delete(key);
    };
    try {
      const release = await entry.sem.acquire(signal);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release();
        done();
      };
    } catch (e) {
      done();
      throw e;
    }
  }
}
