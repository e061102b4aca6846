// An exec request and its stdin in one flight. ssh2's `exec` hands the channel out only after the server has
// answered the exec request, so stdin written then costs one more round trip per execution (50 ms at 50 ms RTT,
// bench/results/profile.md). A server handles a channel's messages in order (RFC 4254 §5.2), so data sent right
// after the request reaches the command. ssh2 has no option for it: this opens the session channel with its
// channel manager and protocol writer (ssh2 1.x internals, as ssh-dial.ts's signFirst does); without them it falls
// back to `exec` and writes stdin after the answer. test/ssh/exec-flight.test.ts fails if the internals move.
import type { Client, ClientChannel } from "ssh2";

/** The window and packet size ssh2's Channel assumes for what it receives (its MAX_WINDOW and PACKET_SIZE). */
export const SSH2_WINDOW = 2 * 1024 * 1024;
export const SSH2_PACKET = 32 * 1024;

/** What goes to the command's stdin with the request; `close` ends stdin after it. */
export interface ExecInput {
  readonly data: string | Buffer;
  readonly close: boolean;
}

export interface ExecHandlers {
  /** The channel is open; the exec request goes out when this returns (listen for the exit status here). */
  opened(channel: ClientChannel): void;
  /** The server answered: `err` if it refused the channel or the command. `sent`: the request (and input) went
   * out, so the command may have run even if the answer never came. */
  answered(err: Error | undefined, channel: ClientChannel | undefined, sent: boolean): void;
}

export interface ChannelOptions {
  readonly signal?: AbortSignal | undefined;
  /** Sent right behind the exec request. */
  readonly input?: ExecInput | undefined;
  /** Runs just before the request goes out. */
  readonly sending?: () => void;
  /** The command as errors name it. */
  readonly what?: string;
  /** Running it twice is harmless (the node lock: a holder whose connection died has let go), so a request that
   * went out unanswered is sent once more on a new connection. */
  readonly repeatable?: boolean;
}

interface Internals {
  _chanMgr?: { add(cb: (err: Error | undefined, channel?: ClientChannel) => void): number };
  _protocol?: {
    session(id: number, window: number, packet: number): void;
    exec(remoteId: number, line: string, wantReply: boolean): void;
  };
}

interface ChannelInternals {
  outgoing: { id: number; state: string };
  _callbacks: ((failed: boolean) => void)[];
  subtype?: string;
}

/** Whether this ssh2 client can send stdin with the exec request. */
export function canSendInOneFlight(client: Client): boolean {
  const c = client as unknown as Internals;
  return typeof c._chanMgr?.add === "function" && typeof c._protocol?.session === "function";
}

/** Opens a session channel and runs `line` on it, `input` (if any) sent right behind the request. */
export function execWithInput(client: Client, line: string, input: ExecInput | undefined, on: ExecHandlers): void {
  if (!canSendInOneFlight(client)) {
    execThenWrite(client, line, input, on);
    return;
  }
  const c = client as unknown as Required<Internals>;
  const local = c._chanMgr.add((err, channel) => {
    if (err || !channel) {
      on.answered(err ?? new Error("no channel"), undefined, false);
      return;
    }
    const ch = channel as unknown as ChannelInternals;
    on.opened(channel);
    if (ch.outgoing.state !== "open") {
      on.answered(new Error("Channel is not open"), undefined, false);
      return;
    }
    ch._callbacks.push((failed) => {
      if (failed) channel.close();
      on.answered(failed ? new Error("Unable to exec") : undefined, failed ? undefined : channel, true);
    });
    ch.subtype = "exec";
    c._protocol.exec(ch.outgoing.id, line, true);
    send(channel, input);
  });
  if (local === -1) on.answered(new Error("No free channels available"), undefined, false);
  else c._protocol.session(local, SSH2_WINDOW, SSH2_PACKET);
}

function execThenWrite(client: Client, line: string, input: ExecInput | undefined, on: ExecHandlers): void {
  client.exec(line, (err, channel) => {
    if (err) {
      on.answered(err, undefined, false);
      return;
    }
    on.opened(channel);
    send(channel, input);
    on.answered(undefined, channel, true);
  });
}

function send(channel: ClientChannel, input: ExecInput | undefined): void {
  if (!input) return;
  if (input.close) channel.end(input.data);
  else channel.write(input.data);
}
