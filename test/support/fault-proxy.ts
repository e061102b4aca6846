// A TCP proxy on 127.0.0.1 in front of one upstream (a lab node's SSH forwarder port) that can sever every
// connection through it on cue: after N more bytes (either direction, counted together) or after a delay. Severing
// destroys both sockets of each connection, as a dropped link would; the proxy keeps accepting new connections
// (a blip, not an outage), so a client's redial goes through.
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export interface CutReport {
  /** Milliseconds since `arm` when the cut happened. */
  readonly atMs: number;
  /** Bytes relayed since `arm`, both directions together, when the cut happened. */
  readonly atBytes: number;
  /** Connections severed. */
  readonly severed: number;
}

export type CutTrigger = { readonly afterBytes: number } | { readonly afterMs: number };

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

export class FaultProxy {
  private readonly pairs = new Set<Pair>();
  private armed: { trigger: CutTrigger; t0: number; bytes: number; timer?: NodeJS.Timeout } | undefined;
  private lastCut: CutReport | undefined;
  private waiters: Array<(r: CutReport) => void> = [];
  /** Bytes relayed since the proxy started or since `resetCounters`, per direction. */
  upBytes = 0;
  downBytes = 0;
  connections = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 (a free port) and relays every connection to 127.0.0.1:upstreamPort. */
  static async start(upstreamPort: number): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, upstreamPort));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === "string") throw new Error("fault proxy: no port");
    proxy = new FaultProxy(server, addr.port);
    return proxy;
  }

  private accept(client: Socket, upstreamPort: number) {
    this.connections++;
    client.setNoDelay(true);
    const upstream = tcpConnect({ host: "127.0.0.1", port: upstreamPort });
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    // Byte-exact: a chunk that crosses the cut point is split, and the part after it is never delivered.
    const relay = (from: Socket, to: Socket, dir: "up" | "down") => {
      from.on("data", (chunk: Buffer) => {
        let out = chunk;
        const a = this.armed;
        if (a && "afterBytes" in a.trigger) {
          const room = a.trigger.afterBytes - a.bytes;
          if (room < out.length) out = out.subarray(0, Math.max(0, room));
        }
        if (out.length > 0 && !to.destroyed) {
          to.write(out);
          if (dir === "up") this.upBytes += out.length;
          else this.downBytes += out.length;
          if (a) a.bytes += out.length;
        }
        if (out.length < chunk.length) this.cut();
      });
    };
    relay(client, upstream, "up");
    relay(upstream, client, "down");
  }

  /** Cuts every connection once `trigger` is reached (counting from now). Replaces an earlier arming. */
  arm(trigger: CutTrigger): void {
    this.disarm();
    this.lastCut = undefined;
    this.armed = { trigger, t0: performance.now(), bytes: 0 };
    if ("afterMs" in trigger) this.armed.timer = setTimeout(() => this.cut(), trigger.afterMs);
    else if (trigger.afterBytes <= 0) this.cut();
  }

  disarm(): void {
    if (this.armed?.timer) clearTimeout(this.armed.timer);
    this.armed = undefined;
  }

  /** The cut of the current arming, or undefined if it has not happened (yet). */
  get cutReport(): CutReport | undefined {
    return this.lastCut;
  }

  /** Resolves with the next cut. */
  nextCut(): Promise<CutReport> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
    });
  }

  /** Severs every connection now: both sockets destroyed, nothing more relayed. */
  cut(): CutReport {
    const a = this.armed;
    const report: CutReport = {
      atMs: a ? performance.now() - a.t0 : 0,
      atBytes: a ? a.bytes : 0,
      severed: this.pairs.size,
    };
    this.disarm();
    for (const p of [...this.pairs]) {
      p.client.destroy();
      p.upstream.destroy();
      this.pairs.delete(p);
    }
    this.lastCut = report;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(report);
    return report;
  }

  resetCounters(): void {
    this.upBytes = 0;
    this.downBytes = 0;
    this.connections = 0;
  }

  async close(): Promise<void> {
    this.disarm();
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
