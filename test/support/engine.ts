// The tests' way into the engine-less driver (demo/engine: the engine's step logic, EngineStack for resources
// declared one by one, the real dynamic-provider host), plus the providers in this process behind the driver's
// host interface, for tests that hook the provider's internals (onCommandSent, the SSH pool).
import { readFileSync } from "node:fs";
import type * as pulumi from "@pulumi/pulumi";
import { EngineHost, PartialCreate } from "../../demo/engine/host";
import { type Declared, EngineStack, type ProviderHost, shortType } from "../../demo/engine/steps";
import type { LabNode } from "../../lab/index";
import { ipSetProvider } from "../../provider/resources/ipset-provider";
import { persistentProvider } from "../../provider/resources/persistent-provider";
import { ruleProvider } from "../../provider/resources/rule-provider";

export { type DiffReply, EngineHost, PartialCreate, serializeProvider, UNKNOWN } from "../../demo/engine/host";
export { type Declared, EngineStack, type ResourceCalls, type StepKind, urnOf } from "../../demo/engine/steps";

export type Props = Record<string, unknown>;

/** The dynamic-provider host with a lab node's root key as the provider's stack config (never in any input). */
export function engineFor(node: LabNode): Promise<EngineHost> {
  const privateKey = readFileSync(node.privateKeyPath, "utf8");
  return EngineHost.start({ cwd: process.cwd(), config: { "docker-firewall:privateKey": privateKey } });
}

/** A resource's `connection` to a lab node as root, pinned to its host key (the key comes from stack config). */
export const rootConnection = (node: LabNode, port = node.ssh.port) => ({
  host: port === node.ssh.port ? node.ssh.host : "127.0.0.1",
  port,
  user: "root",
  hostKey: node.ssh.hostKey,
});

const PROVIDERS: Record<Declared["type"], pulumi.dynamic.ResourceProvider> = {
  DockerUserRule: ruleProvider,
  IpSet: ipSetProvider,
  PersistentRuleset: persistentProvider,
};

/** The providers of this process, called as the dynamic-provider host calls them (by the resource's URN type). */
export function inProcessHost(): ProviderHost {
  const of = (urn: string) => {
    const type = shortType(urn.slice(0, urn.lastIndexOf("::"))) as Declared["type"];
    const p = PROVIDERS[type];
    if (!p) throw new Error(`no provider for ${urn}`);
    return p as Required<pulumi.dynamic.ResourceProvider>;
  };
  return {
    async check(urn, olds, news) {
      const r = await of(urn).check(olds, news);
      return { ...(r.inputs && { inputs: r.inputs }), failures: [...(r.failures ?? [])] };
    },
    async diff(urn, id, olds, news) {
      const r = await of(urn).diff(id, olds, news);
      return {
        changes: r.changes === undefined ? "unknown" : r.changes ? "some" : "none",
        replaces: [...(r.replaces ?? [])],
        deleteBeforeReplace: r.deleteBeforeReplace === true,
      };
    },
    async create(urn, inputs) {
      try {
        const r = await of(urn).create(inputs);
        return { id: r.id, outputs: r.outs ?? {} };
      } catch (e) {
        // The host's reading of a provider error with `id` and `properties` (ErrorResourceInitFailed).
        const partial = e as Error & { id?: string; properties?: Props };
        if (typeof partial.id === "string" && partial.properties) {
          throw Object.assign(new PartialCreate(partial.message, partial.id, partial.properties), { cause: e });
        }
        throw e;
      }
    },
    async read(urn, id, outputs) {
      const r = await of(urn).read(id, outputs);
      return { id: r.id ?? "", outputs: r.props ?? {} };
    },
    async update(urn, id, olds, news) {
      return (await of(urn).update(id, olds, news)).outs ?? {};
    },
    async delete(urn, id, outputs) {
      await of(urn).delete(id, outputs);
    },
  };
}

/** The bare provider calls for one resource, in this process: what the fault and trust tests drive. */
export const inProcess = (type: Declared["type"], name: string) => new EngineStack(inProcessHost()).calls(type, name);

/** A promise's outcome as a value. */
export type Outcome = { readonly ok: true } | { readonly ok: false; readonly error: Error };
export const settle = (p: Promise<unknown>): Promise<Outcome> =>
  p.then(
    (): Outcome => ({ ok: true }),
    (e: unknown): Outcome => ({ ok: false, error: e instanceof Error ? e : new Error(String(e)) }),
  );

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
