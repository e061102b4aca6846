// One pooled SSH connection (a "link"): dialled with retries (through its bastion link, if any, holding a slot of that
// bastion's maxConnections while its tunnel is open), kept alive with keepalives, redialled after a drop, closed
// when idle, and unref'd while no operation needs it.
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Client } from "ssh2";
import { describeConnection, type Endpoint, redactSecrets } from "../model/connection";
import type { BastionLimit, SlotHolder } from "./bastion-limit";
import { isNodeError, nodeError } from "./errors";
import { startKeepalive } from "./keepalive";
import { isRetriesExhausted, messageOf, withRetry } from "./retry";
import { type OpenChannel, watch } from "./running-command";
import { Semaphore } from "./semaphore";
import { dialSsh } from "./ssh-dial";

/** A held node lock occupies one channel; its commands need another. */
export const MIN_CHANNELS = 2;

/** What a link needs from its pool. */
export interface LinkOwner {
  readonly options: {
    readonly maxChannels: number;
    readonly keepaliveIntervalMs: number;
    readonly keepaliveCountMax: number;
    readonly idleCloseMs: number;
    readonly channelOpenTimeoutMs: number;
  };
  noteConnection(): void;
  /** The `maxConnections` limit of the bastion `link`, if it has one. */
  limitOf(link: Link): BastionLimit | undefined;
}

type LinkState =
  | { readonly kind: "down" }
  | { readonly kind: "dialing"; readonly ready: Promise<Client> }
  | { readonly kind: "up"; readonly client: Client; readonly stopKeepalive: () => void };

/** One pooled connection. `busy` counts operations in flight here or through it (as a bastion). */
export class Link implements SlotHolder {
  state: LinkState = { kind: "down" };
  busy = 0;
  readonly slots: Semaphore;
  readonly host: string;
  private socket: Socket | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly lossListeners = new Set<(reason: string) => void>();
  /** The channel the dial opened for the command it was made for, until that command takes it. */
  private early: { readonly line: string; readonly channel: Promise<OpenChannel | undefined> } | undefined;

  constructor(
    readonly conn: Endpoint,
    readonly parent: Link | undefined,
    private readonly pool: LinkOwner,
    /** The argument naming this hop in errors: "connection", or a bastion's "connection.proxy.0". */
    readonly field = "connection",
  ) {
    this.slots = new Semaphore(pool.options.maxChannels);
    this.host = describeConnection(conn);
  }

  retain(): void {
    if (++this.busy === 1) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.socket?.ref();
      this.parent?.retain();
    }
  }

  release(): void {
    if (--this.busy > 0) return;
    this.socket?.unref();
    this.parent?.release();
    this.armIdleClose();
    if (this.parent) this.pool.limitOf(this.parent)?.makeRoom();
  }

  idle(): boolean {
    return this.busy === 0 && this.state.kind === "up";
  }

  private armIdleClose(): void {
    const idleMs = this.pool.options.idleCloseMs;
    if (idleMs > 0 && this.busy === 0 && this.state.kind === "up") {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => this.drop("idle"), idleMs);
      this.idleTimer.unref();
    }
  }

  /** Calls `listener` if the connection goes down; returns the unsubscribe function. */
  onLoss(listener: (reason: string) => void): () => void {
    this.lossListeners.add(listener);
    return () => this.lossListeners.delete(listener);
  }

  /** The connection, dialled if need be; `first`: the command line the dial is for (see DialOptions.first). */
  ready(first?: string): Promise<Client> {
    if (this.state.kind === "up") return Promise.resolve(this.state.client);
    if (this.state.kind === "dialing") return this.state.ready;
    const ready = this.dial(first);
    this.state = { kind: "dialing", ready };
    ready.catch(() => {
      if (this.state.kind === "dialing" && this.state.ready === ready) this.state = { kind: "down" };
    });
    return ready;
  }

  /** Closes the connection (if any); operations on it see a loss. */
  drop(reason: string): void {
    if (this.state.kind !== "up") return;
    const { client } = this.state;
    this.goDown(reason);
    client.end(); // polite SSH disconnect; destroy if the peer does not close in time
    setTimeout(() => client.destroy(), 1000).unref();
  }

  private async dial(first: string | undefined): Promise<Client> {
    const c = this.conn;
    // The bastion first, with its own retries and errors, so it does not use up this hop's attempts; then a slot
    // of its connection limit, outside the per-attempt timeout (waiting for another host is not a dial failure).
    if (this.parent) await this.parent.ready();
    const releaseSlot = this.parent ? await this.pool.limitOf(this.parent)?.acquire(this) : undefined;
    let tunnel: Duplex | undefined;
    try {
      const dialed = await withRetry(
        `dial ${this.host}`,
        {
          limit: c.dialErrorLimit,
          perAttemptTimeoutMs: c.perDialTimeout * 1000,
          // Classified failures (auth, host key, an unreachable bastion that already retried) are final.
          isPermanent: isNodeError,
        },
        async (signal) => {
          tunnel = this.parent ? await this.tunnel(signal) : undefined;
          return dialSsh(c, { signal, sock: tunnel, field: this.field, ...(first !== undefined && { first }) });
        },
      );
      this.up(dialed.client, dialed.socket);
      if (first !== undefined && dialed.first) this.early = { line: first, channel: dialed.first };
      // The slot is the bastion's tunnel: free once the bastion has closed it (or the bastion itself is gone).
      if (releaseSlot && tunnel) {
        const stop = this.parent?.onLoss(() => releaseSlot());
        tunnel.once("close", () => {
          stop?.();
          releaseSlot();
        });
      }
      return dialed.client;
    } catch (e) {
      releaseSlot?.();
      if (isRetriesExhausted(e)) {
        throw nodeError({ kind: "Unreachable", host: this.host, attempts: e.attempts, reason: messageOf(e.lastError) });
      }
      throw e;
    }
  }

  /** A direct-tcpip channel through the bastion to this hop's host:port. */
  private async tunnel(signal: AbortSignal): Promise<Duplex> {
    const parent = this.parent as Link;
    const client = await parent.ready();
    return new Promise((resolve, reject) => {
      // Not a reason to drop the bastion: other nodes may be reached through it (keepalive finds a dead one).
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      client.forwardOut("127.0.0.1", 0, this.conn.host, this.conn.port, (err, stream) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) return stream?.destroy();
        if (err) return reject(new Error(`bastion ${parent.host} could not open a tunnel: ${err.message}`));
        stream.on("error", () => undefined);
        resolve(stream);
      });
    });
  }

  private up(client: Client, socket: Socket | undefined): void {
    this.socket = socket;
    if (this.busy === 0) socket?.unref();
    const stopKeepalive = startKeepalive(
      client,
      { intervalMs: this.pool.options.keepaliveIntervalMs, countMax: this.pool.options.keepaliveCountMax },
      (reason) => this.drop(reason),
    );
    this.state = { kind: "up", client, stopKeepalive };
    this.pool.noteConnection();
    this.armIdleClose();
    let lastError = "";
    client.on("error", (err: Error) => {
      lastError = redactSecrets(err.message, this.conn);
    });
    client.on("close", () => {
      if (this.state.kind === "up" && this.state.client === client) this.goDown(lastError || "connection closed");
    });
  }

  private goDown(reason: string): void {
    if (this.state.kind === "up") this.state.stopKeepalive();
    this.state = { kind: "down" };
    this.socket = undefined;
    this.takeEarly(undefined);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const l of [...this.lossListeners]) l(reason);
  }

  /** Opens an exec channel; on a stale connection (the command certainly did not start) redials once. */
  async openChannel(line: string, signal: AbortSignal | undefined): Promise<OpenChannel> {
    for (let attempt = 1; ; attempt++) {
      // A redial opens its channels the usual way: a server that left the early one unanswered gets no second.
      const client = await abortable(this.ready(attempt === 1 ? line : undefined), signal);
      try {
        return await this.execOn(client, line, signal, this.takeEarly(line));
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        // An open failure (it carries a reason code) comes from a live server refusing a session, usually because
        // of MaxSessions; anything else (no answer, closed socket) means a stale connection.
        const refused = typeof (e as { reason?: unknown }).reason === "number";
        if (refused) {
          // The server allows fewer sessions than our cap: adopt its limit (never below what a held lock plus
          // one command needs). A refusal can also be brief: sshd frees a closed session a moment after the close.
          if (this.slots.active > 1 && this.slots.capacity > MIN_CHANNELS) {
            this.slots.setCapacity(Math.max(MIN_CHANNELS, this.slots.active - 1));
          }
          throw new SlotRetry(messageOf(e));
        }
        if (attempt === 1) {
          this.drop(`channel could not be opened: ${messageOf(e)}`);
          continue;
        }
        throw nodeError({ kind: "Unreachable", host: this.host, attempts: attempt, reason: messageOf(e) });
      }
    }
  }

  /** The early channel if it was opened for `line`; any other is closed (its command waits for input it will
   * never get). */
  private takeEarly(line: string | undefined): Promise<OpenChannel | undefined> | undefined {
    const early = this.early;
    this.early = undefined;
    if (early?.line === line) return early?.channel;
    void early?.channel.then((opened) => opened?.channel.close());
    return undefined;
  }

  private execOn(
    client: Client,
    line: string,
    signal: AbortSignal | undefined,
    early: Promise<OpenChannel | undefined> | undefined,
  ): Promise<OpenChannel> {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err: unknown, opened?: OpenChannel) => {
        if (done) {
          opened?.channel.close();
          return;
        }
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (opened) resolve(opened);
        else reject(err);
      };
      const onAbort = () => finish(signal?.reason);
      const timer = setTimeout(
        () => finish(new Error(`no answer to a channel request within ${this.pool.options.channelOpenTimeoutMs} ms`)),
        this.pool.options.channelOpenTimeoutMs,
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      const exec = () => {
        try {
          client.exec(line, (err, ch) => (err ? finish(err) : finish(undefined, watch(ch))));
        } catch (e) {
          finish(e);
        }
      };
      if (early) void early.then((opened) => (opened ? finish(undefined, opened) : done || exec()));
      else exec();
    });
  }
}

/** The server refused a session channel: wait for a free slot and try again. */
export class SlotRetry extends Error {
  readonly slotRetry = true;
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
