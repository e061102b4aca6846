// Drives the real dynamic-provider host of @pulumi/pulumi over gRPC, the way the Pulumi engine does: spawn the
// host, Configure with the stack config, then Check/Diff/Create/Read/Update/Delete with the engine's argument
// conventions (secrets unwrapped: the host does not accept them).
// The demo's engine-less driver and the engine-protocol tests both use it (test/support/engine.ts re-exports it).
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import * as readline from "node:readline";
import * as pulumi from "@pulumi/pulumi";

const req = createRequire(__filename);
const pulumiDir = path.dirname(req.resolve("@pulumi/pulumi/package.json"));
const fromPulumi = (m: string) => req(req.resolve(m, { paths: [pulumiDir] }));
const grpc = fromPulumi("@grpc/grpc-js");
const { Struct } = fromPulumi("google-protobuf/google/protobuf/struct_pb");
const provrpc = req("@pulumi/pulumi/proto/provider_grpc_pb");
const provproto = req("@pulumi/pulumi/proto/provider_pb");
const statusproto = req("@pulumi/pulumi/proto/status_pb");

export { UNKNOWN } from "../../provider/model/unknown";
/** Pulumi's secret envelope: `{ [SECRET_SIG]: SECRET_VALUE, value }`. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export type Props = Record<string, unknown>;

/** What the engine does with secrets before calling a provider that does not accept them: unwrap. */
export function stripSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripSecrets);
  if (v && typeof v === "object") {
    const o = v as Props;
    if (o[SECRET_SIG] !== undefined) return stripSecrets(o.value);
    return Object.fromEntries(
      Object.entries(o)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, stripSecrets(x)]),
    );
  }
  return v;
}

/** A create the provider reported as partially done (ErrorResourceInitFailed): the engine keeps id and properties. */
export class PartialCreate extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly properties: Props,
  ) {
    super(message);
  }
}

/** The engine's reading of a failed Create: the init-failure detail in `grpc-status-details-bin`, if any. */
function partialOf(e: unknown): PartialCreate | undefined {
  const md = (e as { metadata?: { get(k: string): unknown[] } }).metadata;
  const bin = md?.get("grpc-status-details-bin")[0];
  if (!(bin instanceof Uint8Array)) return undefined;
  for (const any of statusproto.Status.deserializeBinary(bin).getDetailsList()) {
    if (any.getTypeName() !== "pulumirpc.ErrorResourceInitFailed") continue;
    const d = provproto.ErrorResourceInitFailed.deserializeBinary(any.getValue_asU8());
    return new PartialCreate((e as Error).message, d.getId(), d.getProperties()?.toJavaScript() ?? {});
  }
  return undefined;
}

export interface DiffReply {
  changes: "none" | "some" | "unknown";
  replaces: string[];
  deleteBeforeReplace: boolean;
}

export class EngineHost {
  private constructor(
    private readonly child: ChildProcess,
    private readonly client: { [m: string]: (r: unknown, cb: (e: Error | null, v: unknown) => void) => void } & {
      close(): void;
    },
    readonly logs: string[],
  ) {}

  /** Spawns the host with `cwd` as the program directory (where `require("pulumi-docker-firewall/…")` resolves). */
  static async start(opts: {
    cwd: string;
    config?: Record<string, string>;
    project?: string;
    /** Each line the provider prints (its warnings, error stacks), as it arrives. */
    onLog?: (line: string) => void;
  }): Promise<EngineHost> {
    const child = spawn(process.execPath, [req.resolve("@pulumi/pulumi/cmd/dynamic-provider"), "127.0.0.1:1"], {
      cwd: opts.cwd,
      env: { ...process.env, PULUMI_NODEJS_PROJECT: opts.project ?? "fw" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const logs: string[] = [];
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const port = await new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      child.once("exit", (code) => reject(new Error(`dynamic-provider host exited (${code})`)));
    });
    const log = (l: string) => {
      logs.push(l);
      opts.onLog?.(l);
    };
    lines.on("line", log);
    readline.createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", log);
    const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const host = new EngineHost(child, client, logs);
    const cfg = new provproto.ConfigureRequest();
    cfg.setArgs(Struct.fromJavaScript(opts.config ?? {}));
    await host.call("configure", cfg);
    return host;
  }

  private call<T>(method: string, request: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = this.client[method] as (r: unknown, cb: (e: Error | null, v: unknown) => void) => void;
      fn.call(this.client, request, (e, v) => (e ? reject(e) : resolve(v as T)));
    });
  }

  async check(
    urn: string,
    olds: Props,
    news: Props,
  ): Promise<{ inputs?: Props; failures: Array<{ property: string; reason: string }> }> {
    const r = new provproto.CheckRequest();
    r.setUrn(urn);
    r.setOlds(Struct.fromJavaScript(stripSecrets(olds)));
    r.setNews(Struct.fromJavaScript(stripSecrets(news)));
    const res = await this.call<{
      getInputs(): { toJavaScript(): Props } | undefined;
      getFailuresList(): Array<{ getProperty(): string; getReason(): string }>;
    }>("check", r);
    const failures = res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() }));
    const inputs = res.getInputs()?.toJavaScript();
    return { ...(inputs && { inputs }), failures };
  }

  async diff(urn: string, id: string, olds: Props, news: Props): Promise<DiffReply> {
    const r = new provproto.DiffRequest();
    r.setId(id);
    r.setUrn(urn);
    r.setOlds(Struct.fromJavaScript(stripSecrets(olds)));
    r.setNews(Struct.fromJavaScript(stripSecrets(news)));
    const res = await this.call<{
      getChanges(): number;
      getReplacesList(): string[];
      getDeletebeforereplace(): boolean;
    }>("diff", r);
    return {
      changes: (["unknown", "none", "some"] as const)[res.getChanges()] ?? "unknown",
      replaces: res.getReplacesList(),
      deleteBeforeReplace: res.getDeletebeforereplace(),
    };
  }

  async create(urn: string, inputs: Props): Promise<{ id: string; outputs: Props }> {
    const r = new provproto.CreateRequest();
    r.setUrn(urn);
    r.setProperties(Struct.fromJavaScript(stripSecrets(inputs)));
    const res = await this.call<{ getId(): string; getProperties(): { toJavaScript(): Props } }>("create", r).catch(
      (e: unknown) => {
        throw partialOf(e) ?? e;
      },
    );
    return { id: res.getId(), outputs: res.getProperties().toJavaScript() };
  }

  async read(urn: string, id: string, outputs: Props, inputs: Props): Promise<{ id: string; outputs: Props }> {
    const r = new provproto.ReadRequest();
    r.setId(id);
    r.setUrn(urn);
    r.setProperties(Struct.fromJavaScript(stripSecrets(outputs)));
    r.setInputs(Struct.fromJavaScript(stripSecrets(inputs)));
    const res = await this.call<{ getId(): string; getProperties(): { toJavaScript(): Props } | undefined }>("read", r);
    return { id: res.getId(), outputs: res.getProperties()?.toJavaScript() ?? {} };
  }

  async update(urn: string, id: string, olds: Props, news: Props): Promise<Props> {
    const r = new provproto.UpdateRequest();
    r.setId(id);
    r.setUrn(urn);
    r.setOlds(Struct.fromJavaScript(stripSecrets(olds)));
    r.setNews(Struct.fromJavaScript(stripSecrets(news)));
    const res = await this.call<{ getProperties(): { toJavaScript(): Props } }>("update", r);
    return res.getProperties().toJavaScript();
  }

  async delete(urn: string, id: string, outputs: Props): Promise<void> {
    const r = new provproto.DeleteRequest();
    r.setId(id);
    r.setUrn(urn);
    r.setProperties(Struct.fromJavaScript(stripSecrets(outputs)));
    await this.call("delete", r);
  }

  stop(): void {
    this.client.close();
    this.child.kill("SIGTERM");
  }
}

/** The `__provider` text `new pulumi.dynamic.Resource(shim, …)` stores: the real closure serializer's output. */
export async function serializeProvider(provider: pulumi.dynamic.ResourceProvider): Promise<string> {
  const r = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  return r.text;
}
