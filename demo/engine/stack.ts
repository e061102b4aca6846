// The engine-less driver: `pulumi preview`, `up`, `refresh` and `destroy` of a whole program without the CLI (the
// demo's fallback when the real CLI is not installed). The program runs under mocks (program.ts) and every
// dynamic resource it registers goes through the engine's step logic (steps.ts) on the real dynamic-provider host.
// State (per URN: id, checked inputs, outputs) is kept in memory and can be saved as JSON with credentials removed.
import { readFileSync, writeFileSync } from "node:fs";
import { type Props, type Registration, runProgram, secretValue } from "./program";
import { applyStep, type ProviderHost, planStep, type Recorded, refreshStep, type StepOp } from "./steps";

export { type StepOp, shortType } from "./steps";

export const DYNAMIC_PREFIX = "pulumi-nodejs:dynamic/docker-firewall:";

export interface ResourceState extends Recorded {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly parent?: string;
  readonly dependencies: readonly string[];
}

export interface Step {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly op: StepOp;
  /** The state before the step (absent for a create). */
  readonly old?: ResourceState;
  /** The checked new inputs (absent for a delete). */
  readonly inputs?: Props;
  /** The outputs after the step (absent in a preview, or when it failed). */
  readonly outputs?: Props;
  readonly replaces?: readonly string[];
  readonly error?: string;
  /** Not carried out: an earlier step failed (the engine stops changing things after an error). */
  readonly skipped?: boolean;
  readonly ms: number;
}

export interface Failure {
  readonly urn: string;
  readonly message: string;
}

export interface UpdateResult {
  readonly steps: readonly Step[];
  readonly failures: readonly Failure[];
  readonly outputs: Props;
}

export type RefreshVerdict = "in-sync" | "drift" | "gone" | "error";

export interface RefreshResult {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly verdict: RefreshVerdict;
  readonly before: ResourceState;
  /** Live outputs read back (absent when gone). */
  readonly live?: Props;
  readonly error?: string;
}

export interface StackOptions {
  readonly project: string;
  readonly stack: string;
  /** Runs (requires/imports) the program once; called again for each preview or up. */
  readonly load: () => unknown;
  readonly config?: Readonly<Record<string, string>>;
  readonly secretKeys?: readonly string[];
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The grpc error text without the "2 UNKNOWN: " status prefix. */
const providerMessage = (e: unknown) => message(e).replace(/^\d+ [A-Z_]+: /, "");

/** Order in which resources can be deleted: every resource after those that depend on it. */
export function deletionOrder(resources: readonly ResourceState[]): ResourceState[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const dependents = new Map<string, Set<string>>();
  for (const r of resources) {
    for (const d of r.dependencies)
      if (byUrn.has(d)) (dependents.get(d) ?? dependents.set(d, new Set()).get(d))?.add(r.urn);
  }
  const done = new Set<string>();
  const out: ResourceState[] = [];
  const visit = (r: ResourceState, path: Set<string>) => {
    if (done.has(r.urn) || path.has(r.urn)) return;
    path.add(r.urn);
    for (const d of dependents.get(r.urn) ?? []) visit(byUrn.get(d) as ResourceState, path);
    done.add(r.urn);
    out.push(r);
  };
  for (const r of [...resources].reverse()) visit(r, new Set());
  return out;
}

const CREDENTIALS = ["privateKey", "privateKeyPassword", "password"];

function withoutCredentials(conn: unknown): unknown {
  if (!conn || typeof conn !== "object") return conn;
  const c = Object.fromEntries(Object.entries(conn as Props).filter(([k]) => !CREDENTIALS.includes(k)));
  if (c.proxy) c.proxy = withoutCredentials(c.proxy);
  return c;
}

export class EnginelessStack {
  readonly state = new Map<string, ResourceState>();

  constructor(
    private readonly host: ProviderHost,
    private readonly opts: StackOptions,
  ) {}

  /** `pulumi preview`: check and diff every resource, create or update nothing. */
  preview(): Promise<UpdateResult> {
    return this.run(true);
  }

  /** `pulumi up`: bring the hosts to what the program declares; delete what it no longer declares. */
  up(): Promise<UpdateResult> {
    return this.run(false);
  }

  private async run(preview: boolean): Promise<UpdateResult> {
    const steps: Step[] = [];
    const failures: Failure[] = [];
    const seen = new Set<string>();
    const program = await runProgram({
      load: this.opts.load,
      project: this.opts.project,
      stack: this.opts.stack,
      preview,
      config: this.opts.config,
      secretKeys: this.opts.secretKeys,
      register: async (r) => {
        seen.add(r.urn);
        if (!r.custom) return { state: {} };
        if (!r.type.startsWith(DYNAMIC_PREFIX)) {
          failures.push({ urn: r.urn, message: `${r.type} is not a resource this driver can run` });
          return { state: {} };
        }
        const t0 = performance.now();
        try {
          const { step, state } = await this.step(r, preview, failures.length > 0);
          steps.push({ ...step, ms: Math.round(performance.now() - t0) });
          return state;
        } catch (e) {
          const old = this.state.get(r.urn);
          failures.push({ urn: r.urn, message: providerMessage(e) });
          steps.push({
            urn: r.urn,
            type: r.type,
            name: r.name,
            op: old ? "update" : "create",
            ...(old && { old }),
            error: providerMessage(e),
            ms: Math.round(performance.now() - t0),
          });
          return { ...(old && { id: old.id }), state: { ...(old?.outputs ?? {}), ...r.inputs } };
        }
      },
    });
    // What the program no longer declares goes, dependents first; the engine skips this after an error.
    const gone = deletionOrder([...this.state.values()].filter((s) => !seen.has(s.urn)));
    for (const old of gone) {
      if (failures.length > 0) break;
      const t0 = performance.now();
      try {
        if (!preview) {
          await this.host.delete(old.urn, old.id, old.outputs);
          this.state.delete(old.urn);
        }
        steps.push({ urn: old.urn, type: old.type, name: old.name, op: "delete", old, ms: ms(t0) });
      } catch (e) {
        failures.push({ urn: old.urn, message: providerMessage(e) });
        steps.push({
          urn: old.urn,
          type: old.type,
          name: old.name,
          op: "delete",
          old,
          error: providerMessage(e),
          ms: ms(t0),
        });
      }
    }
    return { steps, failures, outputs: program.outputs };
  }

  /** One resource's step. After an earlier failure nothing more is changed (as the engine stops). */
  private async step(
    r: Registration,
    preview: boolean,
    halted: boolean,
  ): Promise<{ step: Omit<Step, "ms">; state: { id?: string; state: Props } }> {
    const old = this.state.get(r.urn);
    const plan = await planStep(this.host, r.urn, old, r.inputs);
    const base = { urn: r.urn, type: r.type, name: r.name, inputs: plan.inputs, op: plan.op, ...(old && { old }) };
    const replaces = plan.replaces.length > 0 ? { replaces: plan.replaces } : {};
    // What the program's Outputs resolve to: the connection stays secret (the engine's additionalSecretOutputs).
    const visible = (id: string | undefined, outputs: Props) => ({
      ...(id && { id }),
      state: { ...outputs, ...(outputs.connection !== undefined && { connection: secretValue(outputs.connection) }) },
    });
    if (plan.op === "same" && old) {
      if (!preview) this.record(r, { ...old, inputs: plan.inputs });
      return { step: base, state: visible(old.id, old.outputs) };
    }
    if (preview || halted) {
      return {
        step: { ...base, ...replaces, ...(halted && { skipped: true }) },
        state: visible(old?.id, { ...(old?.outputs ?? {}), ...plan.inputs }),
      };
    }
    const done = await applyStep(this.host, r.urn, old, plan, (rec) => this.record(r, rec));
    return {
      step: { ...base, inputs: done.inputs, outputs: done.outputs, ...replaces },
      state: visible(done.id, done.outputs),
    };
  }

  private record(r: Registration, rec: Recorded): void {
    this.state.set(r.urn, {
      urn: r.urn,
      type: r.type,
      name: r.name,
      ...(r.parent && { parent: r.parent }),
      dependencies: r.dependencies,
      ...rec,
    });
  }

  /** `pulumi refresh`: read every resource from its host; the verdict is the provider's own diff. */
  async refresh(): Promise<RefreshResult[]> {
    return Promise.all(
      [...this.state.values()].map(async (before): Promise<RefreshResult> => {
        const base = { urn: before.urn, type: before.type, name: before.name, before };
        try {
          const r = await refreshStep(this.host, before.urn, before);
          if (!r.live) {
            this.state.delete(before.urn);
            return { ...base, verdict: "gone" };
          }
          this.state.set(before.urn, { ...before, outputs: r.live.outputs });
          return { ...base, verdict: r.verdict, live: r.live.outputs };
        } catch (e) {
          return { ...base, verdict: "error", error: providerMessage(e) };
        }
      }),
    );
  }

  /** `pulumi destroy`: delete everything, dependents first. */
  async destroy(): Promise<Step[]> {
    const steps: Step[] = [];
    for (const old of deletionOrder([...this.state.values()])) {
      const t0 = performance.now();
      await this.host.delete(old.urn, old.id, old.outputs);
      this.state.delete(old.urn);
      steps.push({ urn: old.urn, type: old.type, name: old.name, op: "delete", old, ms: ms(t0) });
    }
    return steps;
  }

  /** Writes the state as JSON, credentials removed (they come back from stack config or the agent). */
  save(path: string): void {
    const resources = [...this.state.values()].map((s) => ({
      ...s,
      inputs: { ...s.inputs, connection: withoutCredentials(s.inputs.connection) },
      outputs: { ...s.outputs, connection: withoutCredentials(s.outputs.connection) },
    }));
    const text = `${JSON.stringify({ version: 1, stack: this.opts.stack, resources }, null, 2)}\n`;
    if (/PRIVATE KEY/.test(text)) throw new Error("refusing to write state that contains a private key");
    writeFileSync(path, text, { mode: 0o600 });
  }

  load(path: string): void {
    const saved = JSON.parse(readFileSync(path, "utf8")) as { resources: ResourceState[] };
    this.state.clear();
    for (const r of saved.resources) this.state.set(r.urn, r);
  }
}

const ms = (t0: number) => Math.round(performance.now() - t0);
