// Runs inside a client namespace: tries each target once, in parallel, and prints the results as JSON.
// TCP: connect and GET /, open on an HTTP 200. UDP: send a token, open when the same token comes back.
// Run: nsenter --net=/var/run/netns/CLIENT node --import tsx lab/probe-agent.ts < targets.json

import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect } from "node:net";

export interface ProbeTarget {
  readonly id: number;
  readonly address: string;
  readonly family: "ipv4" | "ipv6";
  readonly port: number;
  readonly protocol: "tcp" | "udp";
}

export interface ProbeOutcome {
  readonly id: number;
  readonly result: "open" | "blocked";
  readonly detail: string;
  readonly ms: number;
}

function probeTcp(t: ProbeTarget, timeoutMs: number): Promise<Omit<ProbeOutcome, "id" | "ms">> {
  return new Promise((resolve) => {
    const sock = connect({ host: t.address, port: t.port });
    let data = "";
    let settled = false;
    const done = (result: "open" | "blocked", detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ result, detail });
    };
    const timer = setTimeout(() => done("blocked", data === "" ? "timeout" : "timeout after partial reply"), timeoutMs);
    sock.on("connect", () => sock.write(`GET / HTTP/1.0\r\nHost: ${t.address}\r\n\r\n`));
    sock.on("data", (b: Buffer) => {
      data += b.toString();
    });
    sock.on("end", () => {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1];
      const body = data.split("\r\n\r\n")[1]?.trim() ?? "";
      if (status === "200") done("open", body);
      else done("blocked", `unexpected reply: ${data.slice(0, 60)}`);
    });
    sock.on("error", (e: NodeJS.ErrnoException) => done("blocked", e.code ?? e.message));
  });
}

function probeUdp(t: ProbeTarget, timeoutMs: number): Promise<Omit<ProbeOutcome, "id" | "ms">> {
  return new Promise((resolve) => {
    const sock = createSocket(t.family === "ipv6" ? "udp6" : "udp4");
    const token = randomBytes(8).toString("hex");
    let settled = false;
    const done = (result: "open" | "blocked", detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.close();
      resolve({ result, detail });
    };
    const timer = setTimeout(() => done("blocked", "timeout"), timeoutMs);
    sock.on("message", (msg) => (msg.toString() === token ? done("open", "echo") : undefined));
    // A connected UDP socket reports ICMP port/host unreachable as an error.
    sock.on("error", (e: NodeJS.ErrnoException) => done("blocked", e.code ?? e.message));
    sock.connect(t.port, t.address, () => sock.send(token));
  });
}

export async function probeAll(targets: readonly ProbeTarget[], timeoutMs: number): Promise<ProbeOutcome[]> {
  return Promise.all(
    targets.map(async (t) => {
      const start = performance.now();
      const r = t.protocol === "tcp" ? await probeTcp(t, timeoutMs) : await probeUdp(t, timeoutMs);
      return { id: t.id, ...r, ms: Math.round(performance.now() - start) };
    }),
  );
}

async function main() {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const input = JSON.parse(Buffer.concat(chunks).toString()) as { timeoutMs: number; targets: ProbeTarget[] };
  process.stdout.write(JSON.stringify(await probeAll(input.targets, input.timeoutMs)));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
