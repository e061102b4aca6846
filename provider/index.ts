// pulumi-docker-firewall: manage the DOCKER-USER chain and ipsets of Docker hosts over SSH.
export type { IpFamily } from "./model/address";
export type { ConnectionArgs } from "./model/connection";
export type { ForeignMatcher, ForeignRulesInput } from "./model/foreign-rules";
export type { IpSetInput } from "./model/ipset";
export type { DockerUserRuleInput } from "./model/rule";
export { DockerUserRule, type DockerUserRuleArgs } from "./resources/docker-user-rule";
export {
  DockerHostFirewall,
  type DockerHostFirewallArgs,
  type HostRuleArgs,
  type HostSetArgs,
} from "./resources/host-firewall";
export type { ConnectionInput } from "./resources/inputs";
export { IpSet, type IpSetArgs } from "./resources/ip-set";
export { PersistentRuleset, type PersistentRulesetArgs } from "./resources/persistent-ruleset";
