// A small stand-in for the Pulumi engine's step logic on top of EngineHost: keeps each resource's state
// (inputs, outputs, id) and makes the call sequences `pulumi preview`, `up`, `refresh` and `destroy` make
// (what the dynamic-provider host does with each RPC): check -> diff -> create | update | replace (in the order the provider asks).

import type * as pulumi from "@pulumi/pulumi";
import { type EngineHost, PartialCreate, serializeProvider, urnOf } from "./engine";

type Props = Record<string, unknown>;

export interface Declared {
  readonly type: "DockerUserRule" | "IpSet" | "PersistentRuleset";
  readonly name: string;
  readonly inputs: Props;
}

interface State {
  id: string;
  inputs: Props;
  outputs: Props;
  /** Created partially (the provider's create failed with an id): the next up updates it. */
  initError?: boolean;
}

export type StepKind = "create" | "update" | "replace" | "same" | "delete";

export class EngineStack {
  readonly state = new Map<string, State>();
  private readonly providers = new Map<string, string>();

  constructor(
    private readonly host: EngineHost,
    private readonly shims: Partial<Record<Declared["type"], pulumi.dynamic.ResourceProvider>>,
  ) {}

  private async provider(type: Declared["type"]): Promise<string> {
    let p = this.providers.get(type);
    if (!p) {
      const shim = this.shims[type];
      if (!shim) throw new Error(`no provider shim for ${type}`);
      p = await serializeProvider(shim);
      this.providers.set(type, p);
    }
    return p;
  }

  private async checked(d: Declared, olds: Props): Promise<Props> {
    const urn = urnOf(d.type, d.name);
    const r = await this.host.check(urn, olds, { ...d.inputs, __provider: await this.provider(d.type) });
    if (r.failures.length > 0) throw new Error(`check failed: ${JSON.stringify(r.failures)}`);
    return r.inputs as Props;
  }

  /** `pulumi preview`: check + diff only; never create or update. */
  async preview(d: Declared): Promise<{ step: StepKind; inputs: Props; replaces: string[] }> {
    const key = `${d.type}::${d.name}`;
    const s = this.state.get(key);
    const inputs = await this.checked(d, s?.inputs ?? {});
    if (!s) return { step: "create", inputs, replaces: [] };
    const diff = await this.host.diff(urnOf(d.type, d.name), s.id, s.outputs, inputs);
    const step: StepKind = diff.changes === "none" ? "same" : diff.replaces.length > 0 ? "replace" : "update";
    return { step, inputs, replaces: diff.replaces };
  }

  /** One resource's part of `pulumi up`. */
  async up(d: Declared): Promise<StepKind> {
    const key = `${d.type}::${d.name}`;
    const urn = urnOf(d.type, d.name);
    const s = this.state.get(key);
    const inputs = await this.checked(d, s?.inputs ?? {});
    if (!s) {
      const created = await this.host.create(urn, inputs).catch((e: unknown) => {
        // A partially created resource is kept in state (with its init error), as the engine does.
        if (e instanceof PartialCreate)
          this.state.set(key, { id: e.id, inputs, outputs: e.properties, initError: true });
        throw e;
      });
      this.state.set(key, { id: created.id, inputs, outputs: created.outputs });
      return "create";
    }
    const diff = await this.host.diff(urn, s.id, s.outputs, inputs);
    // The engine updates a resource with init errors even when the provider reports no changes.
    if (diff.changes === "none" && !s.initError) {
      s.inputs = inputs;
      return "same";
    }
    if (diff.replaces.length === 0) {
      s.outputs = await this.host.update(urn, s.id, s.outputs, inputs);
      s.inputs = inputs;
      s.initError = false;
      return "update";
    }
    // Replacement: Check again with no olds, then create-before-delete unless the provider asks otherwise.
    const fresh = await this.checked(d, {});
    if (diff.deleteBeforeReplace) {
      await this.host.delete(urn, s.id, s.outputs);
      const created = await this.host.create(urn, fresh);
      this.state.set(key, { id: created.id, inputs: fresh, outputs: created.outputs });
    } else {
      const created = await this.host.create(urn, fresh);
      await this.host.delete(urn, s.id, s.outputs);
      this.state.set(key, { id: created.id, inputs: fresh, outputs: created.outputs });
    }
    return "replace";
  }

  /** `pulumi refresh` for one resource: read, then the engine's own diff(live outputs, inputs) for the verdict. */
  async refresh(type: Declared["type"], name: string): Promise<"gone" | "in-sync" | "drift"> {
    const key = `${type}::${name}`;
    const s = this.state.get(key);
    if (!s) throw new Error(`${key} is not in the stack`);
    const urn = urnOf(type, name);
    const r = await this.host.read(urn, s.id, s.outputs, s.inputs);
    if (!r.id) {
      this.state.delete(key);
      return "gone";
    }
    s.outputs = r.outputs;
    const diff = await this.host.diff(urn, s.id, s.outputs, s.inputs);
    return diff.changes === "none" ? "in-sync" : "drift";
  }

  async destroy(type: Declared["type"], name: string): Promise<void> {
    const key = `${type}::${name}`;
    const s = this.state.get(key);
    if (!s) return;
    await this.host.delete(urnOf(type, name), s.id, s.outputs);
    this.state.delete(key);
  }
}
