// A bastion's `maxConnections`: at most that many hosts reached through it at once (its tunnels), shared by every
// host behind it. A tunnel holds its slot until it closes; when a host waits, an idle host's connection is closed to
// make room (otherwise an idle pooled connection would keep the slot until its idle close).
import { type Release, Semaphore } from "./semaphore";

export interface SlotHolder {
  /** True while no operation uses the connection. */
  idle(): boolean;
  drop(reason: string): void;
}

export class BastionLimit {
  private readonly sem: Semaphore;
  private readonly holders = new Set<SlotHolder>();
  /** Acquisitions that had to wait (for tests and stats). */
  waits = 0;

  constructor(
    readonly bastion: string,
    capacity: number,
  ) {
    this.sem = new Semaphore(capacity);
  }

  /** Several resources may name the same bastion with different limits: the smallest wins. */
  narrow(capacity: number): void {
    if (capacity < this.sem.capacity) this.sem.setCapacity(capacity);
  }

  get wanted(): boolean {
    return this.sem.queued > 0;
  }

  async acquire(holder: SlotHolder, signal?: AbortSignal): Promise<Release> {
    if (this.sem.active >= this.sem.capacity) {
      this.waits++;
      queueMicrotask(() => this.makeRoom());
    }
    const release = await this.sem.acquire(signal);
    this.holders.add(holder);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders.delete(holder);
      release();
    };
  }

  /** Closes one idle holder's connection if someone waits; its slot comes back when its tunnel has closed. */
  makeRoom(): void {
    if (!this.wanted) return;
    for (const h of this.holders) {
      if (h.idle()) {
        this.holders.delete(h); // one holder per waiter: its slot comes back when its tunnel closes
        h.drop(`another host behind bastion ${this.bastion} needs its connection slot (maxConnections)`);
        return;
      }
    }
  }
}
