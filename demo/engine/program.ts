// Runs a Pulumi program without the Pulumi CLI: under `pulumi.runtime.setMocks`, with every resource
// registration handed to a callback together with what the engine would know about it (URN, parent,
// dependencies). The program tests pass a pure mock; the demo's driver forwards each registration to the real
// dynamic-provider host. The resource serializer runs for real either way.
import * as pulumi from "@pulumi/pulumi";

export type Props = Record<string, unknown>;

export interface Registration {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** False for component resources (no provider behind them). */
  readonly custom: boolean;
  readonly parent?: string;
  /** URNs this resource depends on (through its inputs or `dependsOn`). */
  readonly dependencies: readonly string[];
  /** Per input property, the URNs its value came from. */
  readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
  /** The inputs as the engine receives them: secrets as envelopes, `__provider` as the serialized provider text. */
  readonly inputs: Props;
}

export interface RegistrationResult {
  readonly id?: string;
  /** The resource's outputs (what its Output properties resolve to). */
  readonly state: Props;
}

export interface ProgramOptions {
  /** Imports (or requires) the program, which registers its resources as it runs. */
  readonly load: () => unknown;
  readonly project: string;
  readonly stack: string;
  /** Whether the program sees `pulumi.runtime.isDryRun()` (a preview). */
  readonly preview: boolean;
  /** Stack config, namespaced ("docker-firewall:hosts"); the listed keys are secrets. */
  readonly config?: Readonly<Record<string, string>>;
  readonly secretKeys?: readonly string[];
  readonly register: (r: Registration) => Promise<RegistrationResult>;
}

export interface ProgramRun {
  readonly registrations: readonly Registration[];
  /** The program's exports, resolved. */
  readonly outputs: Props;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(cb: (v: { getUrnsList(): string[] }, k: string) => void): void };
}

interface MockMonitorLike {
  registerResource(req: RegisterRequest, cb: (...a: unknown[]) => void): void;
  newUrn(parent: string, type: string, name: string): string;
}

// Internal to @pulumi/pulumi but stable across 3.x: the active monitor, and the wait for pending registrations.
const settings = require("@pulumi/pulumi/runtime/settings") as {
  getMonitor(): MockMonitorLike | undefined;
  waitForRPCs(): Promise<void>;
};

/** Resolves an Output-bearing value (a module's exports) to plain data. */
function resolved(value: unknown): Promise<unknown> {
  return new Promise((resolve) => {
    (pulumi.output(value) as unknown as pulumi.Output<unknown>).apply((v) => {
      resolve(v);
      return v;
    });
  });
}

/** Runs one program to completion: every registration handled, every export resolved. */
export async function runProgram(opts: ProgramOptions): Promise<ProgramRun> {
  pulumi.runtime.setAllConfig({ ...(opts.config ?? {}) }, [...(opts.secretKeys ?? [])]);
  const meta = new Map<string, Omit<Registration, "inputs">>();
  const registrations: Registration[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: async (args) => {
        const m = meta.get(`${args.type}::${args.name}`);
        if (!m) throw new Error(`registration of ${args.type} ${args.name} was not seen by the monitor`);
        const r: Registration = { ...m, inputs: args.inputs as Props };
        registrations.push(r);
        const result = await opts.register(r);
        return { id: result.id, state: result.state };
      },
      call: async (args) => {
        throw new Error(`this program calls ${args.token}, which the engine-less driver does not provide`);
      },
    },
    opts.project,
    opts.stack,
    opts.preview,
  );
  const monitor = settings.getMonitor();
  if (!monitor) throw new Error("setMocks installed no monitor");
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const propertyDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((v, k) => {
      if (v.getUrnsList().length > 0) propertyDependencies[k] = v.getUrnsList();
    });
    const parent = req.getParent() || undefined;
    meta.set(`${req.getType()}::${req.getName()}`, {
      urn: monitor.newUrn(req.getParent(), req.getType(), req.getName()),
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      ...(parent && { parent }),
      dependencies: req.getDependenciesList(),
      propertyDependencies,
    });
    original(req, cb);
  };
  const exported = (await opts.load()) as Props | undefined;
  const outputs: Props = {};
  for (const [k, v] of Object.entries(exported ?? {})) {
    if (k === "default" || k === "__esModule") continue;
    outputs[k] = await resolved(v);
  }
  await settings.waitForRPCs();
  return { registrations, outputs };
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** True for a value the engine would keep encrypted (a secret envelope). */
export function isSecretValue(v: unknown): boolean {
  return typeof v === "object" && v !== null && SECRET_SIG in v;
}

/** The value inside secret envelopes, at any depth. */
export function unwrapSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === "object") {
    const o = v as Props;
    if (SECRET_SIG in o) return unwrapSecrets(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** A value wrapped the way the engine marks an output secret. */
export function secretValue(value: unknown): Props {
  return { [SECRET_SIG]: "1b47061264138c4ac30d75fd1eb44270", value };
}
