// A command started on a node: its streams, how it ended, and a way to stop it.
import type { Readable, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type { ClientChannel } from "ssh2";

/** How a started command ended. `lost`: the connection dropped, so whether it took effect is unknown. */
export type CommandEnd =
  | { readonly kind: "exited"; readonly code: number }
  | { readonly kind: "signalled"; readonly signal: string }
  | { readonly kind: "lost"; readonly reason: string };

/** A command running on a node. Its stdout must be consumed; the channel slot is freed when it ends. */
export interface RunningCommand {
  readonly host: string;
  readonly line: string;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly end: Promise<CommandEnd>;
  /** Sends KILL (where the server supports signals) and closes the channel. */
  kill(): void;
}

/** A channel whose exit status is being watched. */
export interface OpenChannel {
  readonly channel: ClientChannel;
  exit(): CommandEnd | undefined;
}

/**
 * Must run synchronously in ssh2's exec callback: ssh2 parses a whole TCP read at once, so a quick command's
 * exit status can be emitted before any awaiting code gets to listen.
 */
export function watch(channel: ClientChannel): OpenChannel {
  let exit: CommandEnd | undefined;
  // Errors on a channel (e.g. writing after the peer closed) surface as its end; never as an unhandled event.
  channel.on("error", () => undefined);
  channel.stderr.on("error", () => undefined);
  channel.on("exit", (code: number | null, signal?: string) => {
    exit = typeof code === "number" ? { kind: "exited", code } : { kind: "signalled", signal: signal ?? "?" };
  });
  return { channel, exit: () => exit };
}

/**
 * Wraps an open channel as a RunningCommand. `onLoss` subscribes to the connection going down; `onEnd` runs once,
 * when the command has ended one way or another (it frees the channel slot).
 */
export function running(
  host: string,
  line: string,
  opened: OpenChannel,
  onLoss: (listener: (reason: string) => void) => () => void,
  onEnd: () => void,
): RunningCommand {
  const { channel } = opened;
  let resolveEnd: (end: CommandEnd) => void = () => undefined;
  const end = new Promise<CommandEnd>((r) => {
    resolveEnd = r;
  });
  let ended = false;
  const finish = (result: CommandEnd) => {
    if (ended) return;
    ended = true;
    unsubscribe();
    onEnd();
    resolveEnd(result);
  };
  const unsubscribe = onLoss((reason) => finish({ kind: "lost", reason }));
  channel.on("close", () => {
    finish(opened.exit() ?? { kind: "lost", reason: "the channel closed without an exit status" });
  });
  return {
    host,
    line,
    stdin: channel,
    stdout: channel,
    stderr: channel.stderr,
    end,
    kill: () => {
      sendSignal(channel, "KILL");
      channel.close();
    },
  };
}

/**
 * ssh2's `channel.signal()` does nothing once stdin is closed (it checks `writable`), yet the protocol allows a
 * signal until the channel closes, and a command that got its stdin usually has EOF by then. Hence the internals.
 */
function sendSignal(channel: ClientChannel, name: string): void {
  const internals = channel as unknown as {
    outgoing?: { id?: number; state?: string };
    _client?: { _protocol?: { signal?: (id: number, signal: string) => void } };
  };
  const { id, state } = internals.outgoing ?? {};
  try {
    if (typeof id === "number" && (state === "open" || state === "eof"))
      internals._client?._protocol?.signal?.(id, name);
    else channel.signal(name);
  } catch {
    // the channel or connection is already gone
  }
}

/** A stream's text so far, decoded across chunk boundaries (a UTF-8 character split between two chunks — a rule
 * comment, a label — stays one character instead of two replacement marks). */
export function textOf(stream: Readable): { text(): string } {
  const decoder = new StringDecoder("utf8");
  let text = "";
  stream.on("data", (b: Buffer | string) => {
    text += typeof b === "string" ? b : decoder.write(b);
  });
  return { text: () => text };
}
