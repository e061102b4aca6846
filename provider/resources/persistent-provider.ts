// The PersistentRuleset dynamic provider: one per host. Turns boot persistence on (files under /etc plus a
// systemd unit before docker.service); every later transaction of any of our resources on the host keeps the
// files in step. Refresh reports files or the unit that no longer match, and in exclusive mode unmanaged rules.
import { z } from "zod";
import { canonicalJson } from "../model/canonical-json";
import { type ForeignRulesPolicy, foreignRulesPolicy, isEmptyPolicy } from "../model/foreign-rules";
import { orUnknown } from "../model/unknown";
import { type HostState, isNftFacts, type NodeFacts } from "../netfilter/host-state";
import { nftPersistenceDrift } from "../nftables/status";
import { PERSISTED_PATHS } from "../persistence/files";
import { type PersistenceDrift, persistenceDrift } from "../persistence/managed-state";
import { NFT_BOOT_PATH } from "../protocol/paths";
import { type BaseProps, makeProvider } from "./provider-factory";

export type { PersistenceDrift };

export const PERSISTENT_TYPE = "PersistentRuleset";
const COMPUTED = ["backend", "files", "drift"];

const fields = {
  /** DOCKER-USER holds only managed rules (and Docker's RETURN): others are drift, removed by the next up. */
  exclusive: z.boolean({ message: "must be true or false" }),
  /** Which foreign DOCKER-USER rules stay above ours, and which exclusive mode leaves alone (fail2ban, CrowdSec…). */
  foreignRules: foreignRulesPolicy,
};
const persistenceArgs = z.strictObject({
  exclusive: fields.exclusive.default(false),
  foreignRules: fields.foreignRules.optional(),
});
const persistencePreview = z.strictObject({
  exclusive: orUnknown(fields.exclusive).default(false),
  foreignRules: orUnknown(fields.foreignRules).optional(),
});
export type PersistentRulesetInput = z.input<typeof persistenceArgs>;
type PersistenceSpec = z.output<typeof persistenceArgs>;

export interface PersistenceProps extends BaseProps {
  exclusive?: boolean;
  foreignRules?: unknown;
  drift?: PersistenceDrift;
}

/** The mode with its default applied (UNKNOWN at preview while it depends on another output). */
const exclusiveOf = (props: PersistenceProps) => persistencePreview.parse({ exclusive: props.exclusive }).exclusive;

/** The policy with its defaults applied, undefined when it names nothing, UNKNOWN at preview. */
function policyOf(props: PersistenceProps): ForeignRulesPolicy | undefined | string {
  const p = persistencePreview.parse({ foreignRules: props.foreignRules }).foreignRules;
  return typeof p === "string" || !isEmptyPolicy(p) ? p : undefined;
}

/** The mode and policy as the host keeps them (persistence.json). */
function configOf(props: PersistenceProps) {
  const foreign = policyOf(props);
  return { exclusive: exclusiveOf(props) === true, ...(typeof foreign === "object" && { foreign }) };
}

function outputs(props: PersistenceProps, state: HostState, facts: NodeFacts): Partial<PersistenceProps> {
  const config = configOf(props);
  const nft = isNftFacts(facts);
  const drift = nft ? nftPersistenceDrift(state, config) : persistenceDrift(state, facts, config);
  return {
    backend: facts.backend,
    files: nft ? [PERSISTED_PATHS.config, NFT_BOOT_PATH, PERSISTED_PATHS.unit] : Object.values(PERSISTED_PATHS),
    drift,
    warnings: [...facts.warnings, ...drift.warnings],
  };
}

export const persistentProvider = makeProvider<PersistenceSpec, PersistenceProps>({
  type: PERSISTENT_TYPE,
  previewSchema: persistencePreview,
  schema: persistenceArgs,
  computed: COMPUTED,
  label: (props, id) => id ?? (typeof props.host === "string" ? `persistence:${props.host}` : "persistence"),
  withId: (props) => props,

  async compare(olds, news) {
    const d = olds.drift;
    const drifted =
      d !== undefined && (d.staleFiles.length > 0 || !d.unitEnabled || (d.exclusive && d.unmanagedRules.length > 0));
    const policy = policyOf(news);
    // Unknown at preview: it may change.
    const policyChanged =
      typeof policy === "string" || canonicalJson(policy ?? null) !== canonicalJson(policyOf(olds) ?? null);
    return {
      changes: drifted || exclusiveOf(news) !== exclusiveOf(olds) || policyChanged,
      replaces: [],
      deleteBeforeReplace: true,
    };
  },

  intent: (_props, spec) => ({
    kind: "persistence",
    config: spec && {
      exclusive: spec.exclusive,
      ...(spec.foreignRules && !isEmptyPolicy(spec.foreignRules) && { foreign: spec.foreignRules }),
    },
  }),

  outputs,

  live(_id, props, state, facts) {
    const live = outputs(props, state, facts);
    // Persistence switched off by hand (the config file is gone): the resource is gone.
    return live.drift?.enabled ? live : undefined;
  },

  create: { id: (_inputs, outs) => `persistence:${String(outs.host)}` },
});
