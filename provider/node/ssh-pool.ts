// One pooled SSH connection per (user, host, port, credentials, bastion) per process. Commands are multiplexed
// as channels, capped below sshd's MaxSessions; dial errors and dropped connections are redialled with backoff.
// An idle connection neither keeps the process alive (its socket is unref'd) nor lingers (closed after a while).
import { createHash } from "node:crypto";
import { type Connection, type Endpoint, endpointIdentity, type Hop, privilegeOf } from "../model/connection";
import { BastionLimit } from "./bastion-limit";
import { commandLine, isDefinedCommand, notifyCommandSent, type RemoteCommand } from "./commands";
import { nodeError } from "./errors";
import { sleep } from "./retry";
import { type RunningCommand, running } from "./running-command";
import { Link, type LinkOwner, MIN_CHANNELS, SlotRetry } from "./ssh-link";
import { answerSudoPrompt } from "./sudo";

export type { CommandEnd, RunningCommand } from "./running-command";

export interface PoolOptions {
  /** Concurrent channels per connection; keep it below the server's MaxSessions (OpenSSH default 10). */
  readonly maxChannels: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  /** Close a connection after this long without an operation; 0 = never. */
  readonly idleCloseMs: number;
  /** A channel that does not open in this time means a dead connection: it is dropped and redialled once. */
  readonly channelOpenTimeoutMs: number;
}

export const DEFAULT_POOL_OPTIONS: PoolOptions = {
  maxChannels: 8,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
  idleCloseMs: 60_000,
  channelOpenTimeoutMs: 15_000,
};

export interface PoolStats {
  /** SSH connections established (bastion hops included). */
  readonly connectionsOpened: number;
  /** Commands started (each one channel). */
  readonly execs: number;
  /** The most channels ever open at once on one connection. */
  readonly peakChannels: number;
  /** Connections that waited for a bastion's `maxConnections` slot. */
  readonly bastionWaits: number;
}

/** Session refusals tolerated per command, waiting 50, 100, 150… ms in between (about 2.7 s in all). */
const MAX_REFUSALS = 10;
const REFUSAL_BACKOFF_MS = 50;

function digest(parts: readonly (string | string[] | number | undefined)[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

/** Pool key: who logs in where, through which bastion, with which credentials and host key expectation. */
function linkKey(e: Endpoint): string {
  const secretPart = digest([
    e.privateKey,
    e.privateKeyPassword,
    e.password,
    e.agentSocketPath,
    e.hostKey,
    e.knownHosts,
  ]);
  const self = `${e.user}@${e.host}:${e.port}#${secretPart}`;
  return "proxy" in e && e.proxy ? `${self} via ${linkKey(e.proxy)}` : self;
}

/** The number of bastions an endpoint is reached through. */
const hopsOf = (e: Endpoint): number => ("proxy" in e && e.proxy ? 1 + hopsOf(e.proxy) : 0);

export class SshPool implements LinkOwner {
  readonly options: PoolOptions;
  private readonly links = new Map<string, Link>();
  /** Bastion connection limits, by the bastion's identity (shared by every way of logging in to it). */
  private readonly limits = new Map<string, BastionLimit>();
  private counters = { connectionsOpened: 0, execs: 0, peakChannels: 0 };

  constructor(options: Partial<PoolOptions> = {}) {
    this.options = { ...DEFAULT_POOL_OPTIONS, ...options };
  }

  /**
   * Starts `command` on the node. Resolves once the channel is open; waits for a free channel slot first.
   * Every exit path frees the slot: the command's end (exit, signal or connection loss).
   */
  async start(conn: Connection, command: RemoteCommand, opts: StartOptions = {}): Promise<RunningCommand> {
    if (!isDefinedCommand(command)) throw new Error("refusing a command line that was not made by defineCommands");
    const privilege = privilegeOf(conn);
    const run = await this.open(conn, commandLine(command, privilege), opts);
    if (privilege.tool !== "sudo" || privilege.password === undefined) return run;
    // The command ends (freeing its slot) if sudo refuses; a caller's abort kills it.
    const onAbort = () => run.kill();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await answerSudoPrompt(run, privilege.password, conn);
    } catch (e) {
      throw opts.signal?.aborted ? opts.signal.reason : e;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  private async open(conn: Connection, line: string, opts: StartOptions): Promise<RunningCommand> {
    const link = this.linkFor(conn);
    link.retain();
    try {
      for (let refusals = 0; ; refusals++) {
        const releaseSlot = await link.slots.acquire(opts.signal);
        try {
          const opened = await link.openChannel(line, opts.signal);
          this.counters.execs++;
          this.counters.peakChannels = Math.max(this.counters.peakChannels, link.slots.active);
          if (!opts.ahead) notifyCommandSent({ host: link.host, line });
          return running(
            link.host,
            line,
            opened,
            (l) => link.onLoss(l),
            () => {
              releaseSlot();
              link.release();
            },
          );
        } catch (e) {
          releaseSlot();
          if (!(e instanceof SlotRetry)) throw e;
          if (refusals >= MAX_REFUSALS) {
            const reason = `the server refused ${refusals + 1} session channels (${e.message}); ${MIN_CHANNELS} sessions per connection are needed (sshd MaxSessions)`;
            throw nodeError({ kind: "Unreachable", host: link.host, attempts: refusals + 1, reason });
          }
          await sleep(REFUSAL_BACKOFF_MS * (refusals + 1), opts.signal);
        }
      }
    } catch (e) {
      link.release();
      throw e;
    }
  }

  stats(): PoolStats {
    let bastionWaits = 0;
    for (const l of this.limits.values()) bastionWaits += l.waits;
    return { ...this.counters, bastionWaits };
  }

  resetStats(): void {
    this.counters = { connectionsOpened: 0, execs: 0, peakChannels: 0 };
    for (const l of this.limits.values()) l.waits = 0;
  }

  /** Closes the pooled connection to `conn` (the next operation redials). */
  drop(conn: Connection, reason = "dropped by caller"): void {
    this.links.get(linkKey(conn))?.drop(reason);
  }

  /** Closes every pooled connection. */
  closeAll(): void {
    for (const link of this.links.values()) link.drop("pool closed");
  }

  /** @internal */
  limitOf(link: Link): BastionLimit | undefined {
    const max = (link.conn as Hop).maxConnections;
    if (max === undefined) return undefined;
    const id = endpointIdentity(link.conn);
    let limit = this.limits.get(id);
    if (!limit) {
      limit = new BastionLimit(link.host, max);
      this.limits.set(id, limit);
    }
    limit.narrow(max);
    return limit;
  }

  /** @internal */
  noteConnection(): void {
    this.counters.connectionsOpened++;
  }

  /** `bastions`: how many hops the user's `proxy` list has (the first is index 0, reached first). */
  private linkFor(e: Endpoint, field = "connection", bastions = hopsOf(e)): Link {
    const key = linkKey(e);
    let link = this.links.get(key);
    if (!link) {
      const below = "proxy" in e && e.proxy ? e.proxy : undefined;
      const index = below ? hopsOf(below) : 0;
      const parent = below
        ? this.linkFor(below, bastions === 1 ? "connection.proxy" : `connection.proxy.${index}`, bastions)
        : undefined;
      link = new Link(e, parent, this, field);
      this.links.set(key, link);
    }
    return link;
  }
}

export interface StartOptions {
  readonly signal?: AbortSignal;
  /** Opened ahead of its work: the command waits for its stdin and is announced to onCommandSent (commands.ts)
   * when that is given (exec.ts execStarted), the moment it can take effect. */
  readonly ahead?: boolean;
}

/** The process-wide pool every resource shares (module state: every shim requires this one package by name). */
export const defaultPool = new SshPool();
