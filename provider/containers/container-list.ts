// The host's running containers as the read script lists them (protocol/read-script.ts, section `containers`):
// one JSON object per line from `docker inspect`, or `error <why>`. The text is hostile: every line must be exactly
// that shape (names in Docker's charset, ports as `<port>/<proto>` with numeric host ports), or the list is refused.
import { z } from "zod";
import { CONTAINER_NAME, type PublishedPort } from "../model/target";

export interface RunningContainer {
  /** Without the leading `/` the API adds. */
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
  /** Host ports it publishes, one per port (any host address), tcp and udp only. */
  readonly ports: readonly PublishedPort[];
}

/** The list, or why it could not be read (no docker CLI, dockerd down, a line that is not what docker prints). */
export type ContainerList =
  | { readonly ok: true; readonly containers: readonly RunningContainer[] }
  | { readonly ok: false; readonly error: string };

const binding = z.object({ HostIp: z.string().max(64), HostPort: z.string().regex(/^\d{0,5}$/) }).strict();
const inspected = z
  .object({
    name: z
      .string()
      .regex(new RegExp(`^/${CONTAINER_NAME.source.slice(1)}`))
      .max(256),
    ports: z.record(z.string().regex(/^\d{1,5}\/(tcp|udp|sctp)$/), z.array(binding).nullable()).nullable(),
    labels: z.record(z.string().max(1024), z.string().max(65536)).nullable(),
  })
  .strict();

const MAX_CONTAINERS = 10_000;

function portsOf(ports: z.output<typeof inspected>["ports"]): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const protocol = key.slice(key.indexOf("/") + 1);
    if (protocol !== "tcp" && protocol !== "udp") continue; // sctp: no rule protocol matches it
    for (const b of bindings ?? []) {
      const port = Number(b.HostPort);
      // An empty host port is one not bound (yet); 0 or > 65535 is not a port docker prints.
      if (b.HostPort === "") continue;
      if (port < 1 || port > 65535) throw new Error(`host port ${b.HostPort} is out of range`);
      out.push({ protocol, from: port, to: port });
    }
  }
  return out;
}

/** Parses the `containers` section. */
export function parseContainerList(text: string): ContainerList {
  const lines = text.split("\n").filter((l) => l !== "");
  const said = lines.find((l) => l.startsWith("error "));
  if (said) return { ok: false, error: said.slice(6, 306) };
  if (lines.length > MAX_CONTAINERS) return { ok: false, error: `more than ${MAX_CONTAINERS} containers listed` };
  const containers: RunningContainer[] = [];
  for (const [i, line] of lines.entries()) {
    try {
      const c = inspected.parse(JSON.parse(line));
      containers.push({
        name: c.name.slice(1),
        labels: new Map(Object.entries(c.labels ?? {})),
        ports: portsOf(c.ports),
      });
    } catch (e) {
      // Never echo the line: labels may hold anything (tokens included).
      const why =
        e instanceof z.ZodError
          ? `bad ${e.issues[0]?.path.join(".") || "shape"}`
          : e instanceof SyntaxError
            ? "not JSON"
            : (e as Error).message;
      return { ok: false, error: `line ${i + 1} of docker inspect's output is not a container (${why})` };
    }
  }
  return { ok: true, containers };
}
