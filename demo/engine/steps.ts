// The engine's step logic for one resource, on the real dynamic-provider host (host.ts): check against the last
// inputs, then create, or diff and then update, replace (create before delete unless the provider asks otherwise)
// or nothing; refresh is read, then diff. The engine-less driver runs every resource through it: whole programs
// (stack.ts, the demo's fallback) and resources declared one by one (EngineStack below, for the engine tests).
import type * as pulumi from "@pulumi/pulumi";
import { type EngineHost, PartialCreate, serializeProvider } from "./host";
import type { Props } from "./program";

/**
 * How the driver reaches the providers: the real dynamic-provider host (EngineHost, what the CLI starts), or,
 * for tests that hook the provider's internals, the providers in the test's own process (test/support/engine.ts).
 */
export type ProviderHost = Pick<EngineHost, "check" | "diff" | "create" | "read" | "update" | "delete">;

/** What the driver keeps of a resource between steps. */
export interface Recorded {
  readonly id: string;
  /** Checked inputs, as the provider returned them from check. */
  readonly inputs: Props;
  readonly outputs: Props;
  /** Created partially (the provider's create failed with an id): the engine updates it at the next up. */
  readonly initError?: boolean;
}

export type StepOp = "create" | "update" | "replace" | "same" | "delete";

export interface Planned {
  readonly op: Exclude<StepOp, "delete">;
  /** The checked new inputs. */
  readonly inputs: Props;
  readonly replaces: string[];
  readonly deleteBeforeReplace: boolean;
}

/** `Type` of a dynamic resource type token: "pulumi-nodejs:dynamic/docker-firewall:IpSet" -> "IpSet". */
export const shortType = (type: string) => type.slice(type.lastIndexOf(":") + 1);

/** The URN of a resource the tests declare one by one (no parent). */
export const urnOf = (type: string, name: string) =>
  `urn:pulumi:test::fw::pulumi-nodejs:dynamic/docker-firewall:${type}::${name}`;

const nameOf = (urn: string) =>
  `${shortType(urn.slice(0, urn.lastIndexOf("::")))} ${urn.slice(urn.lastIndexOf("::") + 2)}`;

/** Check, as the engine calls it; failures become one error naming the resource and each field. */
export async function checked(host: ProviderHost, urn: string, olds: Props, news: Props): Promise<Props> {
  const res = await host.check(urn, olds, news);
  if (res.failures.length > 0) {
    const fields = res.failures.map((f) => `  - ${f.property}: ${f.reason}`).join("\n");
    throw new Error(`${nameOf(urn)}: invalid arguments:\n${fields}`);
  }
  return res.inputs ?? {};
}

/** What the engine would do with a resource (a preview step): check, then diff against its last outputs. */
export async function planStep(
  host: ProviderHost,
  urn: string,
  old: Recorded | undefined,
  news: Props,
): Promise<Planned> {
  const inputs = await checked(host, urn, old?.inputs ?? {}, news);
  if (!old) return { op: "create", inputs, replaces: [], deleteBeforeReplace: false };
  const diff = await host.diff(urn, old.id, old.outputs, inputs);
  // The engine updates a resource with init errors even when the provider reports no changes.
  const changed = diff.changes !== "none" || old.initError === true;
  const op = !changed ? "same" : diff.replaces.length > 0 ? "replace" : "update";
  return { op, inputs, replaces: diff.replaces, deleteBeforeReplace: diff.deleteBeforeReplace === true };
}

/**
 * Carries a planned step out and returns the resource's new record. A partial create is recorded (with its init
 * error, as the engine keeps it) through `record` before the error is thrown on.
 */
export async function applyStep(
  host: ProviderHost,
  urn: string,
  old: Recorded | undefined,
  plan: Planned,
  record: (r: Recorded) => void,
): Promise<Recorded> {
  const create = async (inputs: Props): Promise<Recorded> => {
    try {
      const made = await host.create(urn, inputs);
      return { id: made.id, inputs, outputs: made.outputs };
    } catch (e) {
      if (e instanceof PartialCreate) record({ id: e.id, inputs, outputs: e.properties, initError: true });
      throw e;
    }
  };
  let done: Recorded;
  if (!old || plan.op === "create") done = await create(plan.inputs);
  else if (plan.op === "same") done = { ...old, inputs: plan.inputs };
  else if (plan.op === "update") {
    done = { id: old.id, inputs: plan.inputs, outputs: await host.update(urn, old.id, old.outputs, plan.inputs) };
  } else {
    // A replacement is checked afresh (no olds), then created before the old one is deleted unless asked otherwise.
    const fresh = await checked(host, urn, {}, plan.inputs);
    if (plan.deleteBeforeReplace) await host.delete(urn, old.id, old.outputs);
    done = await create(fresh);
    if (!plan.deleteBeforeReplace) await host.delete(urn, old.id, old.outputs);
  }
  record(done);
  return done;
}

export type Verdict = "in-sync" | "drift" | "gone";

/** `pulumi refresh` of one resource: read it from its host; the verdict is the provider's own diff. */
export async function refreshStep(
  host: ProviderHost,
  urn: string,
  old: Recorded,
): Promise<{ verdict: Verdict; live?: Recorded }> {
  const read = await host.read(urn, old.id, old.outputs, old.inputs);
  if (!read.id) return { verdict: "gone" };
  const live = { ...old, outputs: read.outputs };
  const diff = await host.diff(urn, old.id, read.outputs, old.inputs);
  return { verdict: diff.changes === "none" ? "in-sync" : "drift", live };
}

// ---- resources declared one by one (the engine tests) ----------------------------------------------------------

export interface Declared {
  readonly type: "DockerUserRule" | "IpSet" | "PersistentRuleset";
  readonly name: string;
  readonly inputs: Props;
}

export type StepKind = Exclude<StepOp, "delete">;

/** The provider calls the engine makes for one resource, one at a time (the fault and trust tests drive them). */
export interface ResourceCalls {
  check(olds: Props, news: Props): Promise<Props>;
  create(inputs: Props): Promise<{ id: string; outs: Props }>;
  update(id: string, olds: Props, news: Props): Promise<Props>;
  delete(id: string, props: Props): Promise<void>;
}

/** Resources without a program: each given by type, name and inputs, with its provider serialized as the SDK does. */
export class EngineStack {
  /** Keyed `Type::name`. */
  readonly state = new Map<string, Recorded>();
  private readonly providers = new Map<string, Promise<string>>();

  constructor(
    private readonly host: ProviderHost,
    /** Providers to serialize into `__provider`, as the SDK does (the dynamic-provider host needs them). */
    private readonly shims: Partial<Record<Declared["type"], pulumi.dynamic.ResourceProvider>> = {},
  ) {}

  private async news(type: Declared["type"], inputs: Props): Promise<Props> {
    const shim = this.shims[type];
    if (!shim) return inputs;
    const p = this.providers.get(type) ?? serializeProvider(shim);
    this.providers.set(type, p);
    return { ...inputs, __provider: await p };
  }

  /** `pulumi preview` of one resource: check and diff only. */
  async preview(d: Declared): Promise<{ step: StepKind; inputs: Props; replaces: string[] }> {
    const old = this.state.get(`${d.type}::${d.name}`);
    const plan = await planStep(this.host, urnOf(d.type, d.name), old, await this.news(d.type, d.inputs));
    return { step: plan.op, inputs: plan.inputs, replaces: plan.replaces };
  }

  /** One resource's part of `pulumi up`. */
  async up(d: Declared): Promise<StepKind> {
    const key = `${d.type}::${d.name}`;
    const urn = urnOf(d.type, d.name);
    const old = this.state.get(key);
    const plan = await planStep(this.host, urn, old, await this.news(d.type, d.inputs));
    await applyStep(this.host, urn, old, plan, (r) => this.state.set(key, r));
    return plan.op;
  }

  /** `pulumi refresh` for one resource. */
  async refresh(type: Declared["type"], name: string): Promise<Verdict> {
    const key = `${type}::${name}`;
    const old = this.state.get(key);
    if (!old) throw new Error(`${key} is not in the stack`);
    const r = await refreshStep(this.host, urnOf(type, name), old);
    if (r.live) this.state.set(key, r.live);
    else this.state.delete(key);
    return r.verdict;
  }

  async destroy(type: Declared["type"], name: string): Promise<void> {
    const key = `${type}::${name}`;
    const old = this.state.get(key);
    if (!old) return;
    await this.host.delete(urnOf(type, name), old.id, old.outputs);
    this.state.delete(key);
  }

  /** The bare provider calls for resource `name` of `type`, outside the stack's state. */
  calls(type: Declared["type"], name: string): ResourceCalls {
    const urn = urnOf(type, name);
    return {
      check: async (olds, news) => checked(this.host, urn, olds, await this.news(type, news)),
      create: async (inputs) => {
        const r = await this.host.create(urn, inputs);
        return { id: r.id, outs: r.outputs };
      },
      update: (id, olds, news) => this.host.update(urn, id, olds, news),
      delete: (id, props) => this.host.delete(urn, id, props),
    };
  }
}
