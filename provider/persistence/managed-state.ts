// PURE. The managed part of a node's state (our tagged rules and our registered sets), from which the persisted
// files are rendered, and the comparison of what is persisted on the node against what should be.
import type { IpFamily } from "../model/address";
import type { IpSetSpec } from "../model/ipset";
import {
  DOCKER_USER,
  dockerUserRules,
  type HostFacts,
  type HostState,
  headerOf,
  type LiveSet,
  type PersistenceConfig,
  TAGGED_LINE,
} from "../netfilter";
import { foreignRole } from "../netfilter/foreign";
import { PERSISTED_PATHS, type PersistedName, UNIT_LINKS } from "../protocol/paths";
import { type ManagedState, renderPersistedFiles, sha256 } from "./files";

export function liveSetOf(spec: IpSetSpec): LiveSet {
  return {
    name: spec.name,
    header: headerOf(spec),
    entries: new Map(spec.entries.map((e) => [e.entry, e.comment])),
  };
}

export function managedStateOf(
  facts: HostFacts,
  chains: Readonly<Partial<Record<IpFamily, readonly string[]>>>,
  sets: readonly LiveSet[],
): ManagedState {
  const rules: Partial<Record<IpFamily, string[]>> = {};
  for (const f of facts.families) rules[f] = (chains[f] ?? []).filter((l) => TAGGED_LINE.test(l));
  return { backend: facts.backend, families: facts.families, rules, sets };
}

/** The managed state as the node holds it now (for drift checks of the persisted files). */
export function liveManagedState(state: HostState, facts: HostFacts): ManagedState {
  const chains: Partial<Record<IpFamily, string[]>> = {};
  for (const f of facts.families) {
    chains[f] = dockerUserRules(state, facts.backend, f).map((r) => r.line);
  }
  const sets = state.persisted.managedSets.flatMap((n) => state.sets.get(n) ?? []);
  return managedStateOf(facts, chains, sets);
}

/** Files whose content on the node differs from `files` (missing included), and whether the unit links exist. */
export function staleFiles(
  state: HostState,
  files: Record<PersistedName, string>,
): { stale: PersistedName[]; linksMissing: boolean } {
  const stale = (Object.keys(files) as PersistedName[]).filter(
    (n) => state.persisted.hashes.get(PERSISTED_PATHS[n]) !== sha256(files[n]),
  );
  return { stale, linksMissing: UNIT_LINKS.some((l) => !state.persisted.links.includes(l)) };
}

export interface PersistenceDrift {
  readonly enabled: boolean;
  readonly exclusive: boolean;
  /** Persisted files (paths) that no longer match the managed state, missing ones included. */
  readonly staleFiles: readonly string[];
  readonly unitEnabled: boolean;
  /** Unmanaged DOCKER-USER rules (exclusive mode removes them on the next apply). */
  readonly unmanagedRules: readonly string[];
  readonly warnings: readonly string[];
}

/** Warnings about other tools that restore a whole saved ruleset at boot (and with it, stale DOCKER-USER rules). */
export function otherPersisterWarnings(state: HostState): string[] {
  return [...state.persisted.otherPersisters]
    .filter(([, dockerLines]) => dockerLines > 0)
    .map(
      ([path, n]) =>
        `${path} (restored at boot by netfilter-persistent or iptables-services) holds ${n} Docker line(s): restoring it duplicates or resurrects DOCKER-USER rules. Remove the DOCKER* lines from it; docker-firewall.service restores the managed ones.`,
    );
}

export function persistenceDrift(
  state: HostState,
  facts: HostFacts,
  config: PersistenceConfig | undefined,
): PersistenceDrift {
  const live = liveManagedState(state, facts);
  const cfg = config ?? state.persisted.config ?? { exclusive: false };
  const files = renderPersistedFiles(live, { exclusive: cfg.exclusive, ...(cfg.foreign && { foreign: cfg.foreign }) });
  const { stale, linksMissing } = staleFiles(state, files);
  const unmanagedRules = facts.families.flatMap((f) => {
    return (
      dockerUserRules(state, facts.backend, f)
        // Rules the policy keeps above ours or ignores are not drift either.
        .filter((r) => !r.tag && r.line !== `-A ${DOCKER_USER} -j RETURN` && !foreignRole(r, cfg.foreign))
        .map((r) => `[${f}] ${r.line}`)
    );
  });
  return {
    enabled: state.persisted.config !== undefined,
    exclusive: cfg.exclusive,
    staleFiles: stale.map((n) => PERSISTED_PATHS[n]),
    unitEnabled: !linksMissing,
    unmanagedRules,
    warnings: otherPersisterWarnings(state),
  };
}
