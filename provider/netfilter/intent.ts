// What resources want of one host in a transaction: rules and sets (created, changed or removed) and the boot
// persistence mode. Planners take these, each tagged with its index (the intent's owner number for blame).
import type { ForeignRulesPolicy } from "../model/foreign-rules";
import type { IpSetSpec } from "../model/ipset";
import type { DockerUserRule } from "../model/rule";
import type { Step } from "../protocol/steps";

/**
 * Boot persistence is on; exclusive: DOCKER-USER holds only managed rules (Docker's RETURN aside); foreign: the
 * host's policy for other tools' rules (kept on the host with the mode, so every transaction plans with it).
 */
export interface PersistenceConfig {
  readonly exclusive: boolean;
  readonly foreign?: ForeignRulesPolicy;
}

export type RuleIntent = {
  readonly kind: "rule";
  readonly id: string;
  readonly priority: number;
  readonly rule: DockerUserRule | null;
};
export type SetIntent = { readonly kind: "set"; readonly name: string; readonly spec: IpSetSpec | null };
/** Turn boot persistence on (with its mode) or off for the node. */
export type PersistenceIntent = { readonly kind: "persistence"; readonly config: PersistenceConfig | null };
export type Intent = RuleIntent | SetIntent | PersistenceIntent;

/** An intent with its index in the transaction. */
export type Owned<T extends Intent> = T & { readonly owner: number };

/** The intents of one kind, each with its index. */
export function ownedOf<K extends Intent["kind"]>(
  intents: readonly Intent[],
  kind: K,
): Array<Owned<Extract<Intent, { kind: K }>>> {
  return intents.flatMap((x, owner) => (x.kind === kind ? [{ ...(x as Extract<Intent, { kind: K }>), owner }] : []));
}

/** A step of a plan with what it carries, for blame when it fails. */
export interface PlannedStep extends Step {
  /** Indexes of the intents whose content the step carries. */
  readonly owners: readonly number[];
  /** For a restore script: the intent owning each line, by 1-based line number (the tool names the line). */
  readonly lineOwners?: ReadonlyMap<number, number>;
}

/** Why intents (by index) are refused before anything runs. */
export type Refusals = ReadonlyMap<number, string>;
