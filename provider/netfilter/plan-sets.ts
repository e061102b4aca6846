// Set intents + the live sets -> the steps that fill sets before the rules that use them (a temporary set swapped
// in, so readers never see a half-filled set), the steps that destroy sets after the rules that used them are
// gone, the cleanup of temporary sets, the sets as they must read back, and the sets refused before anything runs.
import type { IpFamily } from "../model/address";
import type { IpSetSpec } from "../model/ipset";
import type { Backend, HostFacts, HostState } from "./host-state";
import type { Owned, PlannedStep, RuleIntent, SetIntent } from "./intent";
import type { LiveSet } from "./ipset-text";
import { DOCKER_USER } from "./kernel-rule";
import { planIpSet, staleTempSets } from "./plan-ipset";
import { recreateScript } from "./plan-restore";
import { setReferences, setsUsedBy } from "./set-uses";

export interface SetsPlan {
  /** Before the rules: stale temporary sets removed, then each set created or refilled. */
  readonly fills: readonly PlannedStep[];
  /** After the rules: sets destroyed. */
  readonly deletions: readonly PlannedStep[];
  /** Last: the temporary sets holding the old contents (kept until then for the undo). */
  readonly cleanup: readonly PlannedStep[];
  readonly expectedSets: ReadonlyMap<string, IpSetSpec | null>;
  readonly refused: ReadonlyMap<number, string>;
}

/** Every set intent, and every rule on a set, when the host's ipset tool cannot be used. */
export function ipsetRefusals(
  facts: HostFacts,
  rules: readonly Owned<RuleIntent>[],
  sets: readonly Owned<SetIntent>[],
): Map<number, string> {
  const users = [...sets, ...rules.filter((x) => x.rule && setsUsedBy(x.rule).length > 0)];
  if (facts.ipset || users.length === 0) return new Map();
  const why = facts.ipsetProblem ?? "the ipset tool is not usable on the host";
  return new Map(users.map((x) => [x.owner, why]));
}

/** The family of each set after the transaction: live sets, plus created ones, minus destroyed ones. */
export function setFamiliesAfter(state: HostState, sets: readonly Owned<SetIntent>[]): Map<string, IpFamily> {
  const after = new Map([...state.sets].map(([name, s]) => [name, s.header.family]));
  for (const x of sets) x.spec ? after.set(x.name, x.spec.family) : after.delete(x.name);
  return after;
}

/** The sets our IpSet resources own after the transaction (the node's list, with the intents not refused). */
export function ownedSetsAfter(
  state: HostState,
  sets: readonly Owned<SetIntent>[],
  refused: ReadonlyMap<number, string>,
): Set<string> {
  const owned = new Set(state.persisted.managedSets);
  for (const x of sets) if (!refused.has(x.owner)) x.spec ? owned.add(x.name) : owned.delete(x.name);
  return owned;
}

export function planSets(
  state: HostState,
  backend: Backend,
  sets: readonly Owned<SetIntent>[],
  expectedChains: Readonly<Partial<Record<IpFamily, readonly string[]>>>,
  tempName: (setName: string) => string,
): SetsPlan {
  const refused = new Map<number, string>();
  const expectedSets = new Map<string, IpSetSpec | null>();
  const deletions: PlannedStep[] = [];
  for (const x of sets) {
    if (x.spec) continue;
    const live = state.sets.get(x.name);
    const users = live ? usersAfter(state, backend, x.name, expectedChains) : [];
    if (users.length > 0) {
      refused.set(
        x.owner,
        `set ${x.name} is still used by ${users.length} rule(s): ${users.map((u) => `[${u.family}] ${u.line}`).join("; ")}`,
      );
      continue;
    }
    expectedSets.set(x.name, null);
    // Each deletion can be recreated from what was read.
    if (live)
      deletions.push({
        label: `ipset destroy ${live.name}`,
        run: { tool: "ipset", text: `destroy ${live.name}\n` },
        undo: { tool: "ipset-exist", text: recreateScript(live) },
        owners: [x.owner],
      });
  }
  // Temporary sets left by a crashed apply go first (nothing can reference them).
  const stale = staleTempSets(state.sets);
  const fills: PlannedStep[] = [];
  if (stale.length > 0)
    fills.push({
      label: "stale temporary sets",
      run: { tool: "ipset-exist", text: stale.map((n) => `destroy ${n}\n`).join("") },
      owners: [],
    });
  const swapped: string[] = [];
  for (const x of sets) {
    if (!x.spec) continue;
    const live = state.sets.get(x.name);
    const tmp = tempName(x.name);
    const step = fillStep(x as Owned<SetIntent> & { spec: IpSetSpec }, live, tmp);
    if (typeof step === "string") {
      refused.set(x.owner, step);
      continue;
    }
    expectedSets.set(x.name, x.spec);
    if (!step) continue;
    fills.push(step);
    // A new set's temporary set became the set itself (renamed); a refilled one holds the old contents.
    if (live && step.run.tool === "ipset") swapped.push(tmp);
  }
  const cleanup: PlannedStep[] =
    swapped.length === 0
      ? []
      : [
          {
            label: "temporary sets",
            run: { tool: "ipset-cleanup", text: swapped.map((t) => `destroy ${t}\n`).join("") },
            owners: [],
          },
        ];
  return { fills, deletions, cleanup, expectedSets, refused };
}

/** Rules that use set `name` after the transaction: any but a DOCKER-USER rule the plan removes. */
function usersAfter(
  state: HostState,
  backend: Backend,
  name: string,
  expectedChains: Readonly<Partial<Record<IpFamily, readonly string[]>>>,
) {
  return setReferences(state, backend, name).filter((ref) =>
    ref.line.startsWith(`-A ${DOCKER_USER} `) ? (expectedChains[ref.family] ?? []).includes(ref.line) : true,
  );
}

/** The step that creates or refills a set through `tmp` (undefined: nothing to do), or why it cannot. */
function fillStep(
  x: Owned<SetIntent> & { spec: IpSetSpec },
  live: LiveSet | undefined,
  tmp: string,
): PlannedStep | string | undefined {
  let p: ReturnType<typeof planIpSet>;
  try {
    p = planIpSet(x.spec, live, tmp);
  } catch (e) {
    return (e as Error).message;
  }
  if (!p.script) return undefined;
  if (p.inPlace)
    return {
      label: `ipset ${x.name}`,
      run: { tool: "ipset-exist", text: p.script },
      // If the set vanished under us, the script's first line failed and nothing changed.
      abort: { tool: "ipset-revert", text: p.rollback },
      undo: { tool: "ipset-exist", text: p.rollback },
      owners: [x.owner],
    };
  // The old contents stay in the temporary set until the cleanup step, for the undo.
  return {
    label: `ipset ${x.name}`,
    run: { tool: "ipset", text: p.script.replace(`destroy ${tmp}\n`, "") },
    abort: { tool: "ipset-exist", text: p.rollback },
    undo: {
      tool: "ipset-exist",
      text: live ? `swap ${tmp} ${x.name}\ndestroy ${tmp}\n` : `destroy ${x.name}\n`,
    },
    owners: [x.owner],
  };
}
