// A pipe that holds every chunk for a fixed time before writing it on, in order: half of a simulated round trip.
// (This kernel has no netem, so latency is added where the lab's SSH traffic enters the node.)
import type { Readable, Writable } from "node:stream";

interface Pending {
  readonly due: number;
  readonly chunk?: Buffer; // undefined: the end of the stream
}

export function delayedPipe(src: Readable, dst: Writable, delayMs: number, now: () => number = Date.now): void {
  if (delayMs <= 0) {
    src.pipe(dst);
    return;
  }
  const queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    timer = undefined;
    const t = now();
    while (queue.length > 0 && (queue[0] as Pending).due <= t) {
      const item = queue.shift() as Pending;
      if (dst.destroyed || dst.writableEnded) continue;
      if (item.chunk) dst.write(item.chunk);
      else dst.end();
    }
    if (queue.length > 0) timer = setTimeout(pump, Math.max(0, (queue[0] as Pending).due - now()));
  };
  const push = (item: Pending) => {
    queue.push(item);
    if (!timer) timer = setTimeout(pump, Math.max(0, (queue[0] as Pending).due - now()));
  };
  src.on("data", (chunk: Buffer) => push({ due: now() + delayMs, chunk }));
  src.on("end", () => push({ due: now() + delayMs }));
}
