// The public surface of netfilter/ for the layers above it (persistence/, plan/): what they may use of the host
// state, the sets' text, the chain reader and the planners' types. Its other modules are internals.
export { type Backend, dockerUserRules, type HostFacts, type HostState } from "./host-state";
export type { Intent, Owned, PersistenceConfig, PersistenceIntent, PlannedStep, RuleIntent, SetIntent } from "./intent";
export { ownedOf } from "./intent";
export { headerOf, type LiveSet, renderAdd, renderCreate } from "./ipset-text";
export { DOCKER_USER } from "./kernel-rule";
export { chainRules } from "./parse-iptables-save";
export { planRules } from "./plan-rules";
export { ipsetRefusals, ownedSetsAfter, planSets, setFamiliesAfter } from "./plan-sets";
export { setsMatchedBy } from "./set-uses";
export { TAGGED_LINE, TAGGED_LINE_ERE } from "./tag";
