// The three dynamic providers called in-process the way the engine calls them (check, then create / update /
// delete with the checked inputs and the last outputs), with the optional methods made total for tests.
import { ipSetProvider } from "../../provider/resources/ipset-provider";
import { persistentProvider } from "../../provider/resources/persistent-provider";
import { ruleProvider } from "../../provider/resources/rule-provider";

export type Props = Record<string, unknown>;

interface AnyProvider {
  check?(olds: never, news: never): Promise<{ inputs?: unknown; failures?: readonly unknown[] }>;
  create(inputs: never): Promise<{ id: string; outs?: unknown }>;
  update?(id: string, olds: never, news: never): Promise<{ outs?: unknown }>;
  delete?(id: string, props: never): Promise<void>;
}

export class InProcess {
  constructor(private readonly p: AnyProvider) {}

  async check(olds: Props, news: Props): Promise<Props> {
    if (!this.p.check) return news;
    const r = await this.p.check(olds as never, news as never);
    if (r.failures && r.failures.length > 0) throw new Error(`check failed: ${JSON.stringify(r.failures)}`);
    return r.inputs as Props;
  }

  async create(inputs: Props): Promise<{ id: string; outs: Props }> {
    const r = await this.p.create(inputs as never);
    return { id: r.id, outs: (r.outs ?? {}) as Props };
  }

  async update(id: string, olds: Props, news: Props): Promise<Props> {
    if (!this.p.update) throw new Error("provider without update");
    return ((await this.p.update(id, olds as never, news as never)).outs ?? {}) as Props;
  }

  async delete(id: string, props: Props): Promise<void> {
    if (!this.p.delete) throw new Error("provider without delete");
    await this.p.delete(id, props as never);
  }
}

export const rules = new InProcess(ruleProvider as unknown as AnyProvider);
export const ipsets = new InProcess(ipSetProvider as unknown as AnyProvider);
export const persistence = new InProcess(persistentProvider as unknown as AnyProvider);

/** A promise's outcome as a value. */
export type Outcome = { readonly ok: true } | { readonly ok: false; readonly error: Error };
export const settle = (p: Promise<unknown>): Promise<Outcome> =>
  p.then(
    (): Outcome => ({ ok: true }),
    (e: unknown): Outcome => ({ ok: false, error: e instanceof Error ? e : new Error(String(e)) }),
  );

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
