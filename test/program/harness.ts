// Program tests: run a Pulumi program under `pulumi.runtime.setMocks` (demo/engine/program.ts) with a mock that
// runs each dynamic resource's real `check` (pure: validation and the rendered iptables lines, no SSH), so a
// test sees the resource graph the engine would get and the lines a preview would show.
import { type Props, type Registration, runProgram, unwrapSecrets } from "../../demo/engine/program";
import { ipSetProvider } from "../../provider/resources/ipset-provider";
import { persistentProvider } from "../../provider/resources/persistent-provider";
import { priorityLedgerProvider } from "../../provider/resources/priority-ledger";
import { ruleProvider } from "../../provider/resources/rule-provider";

export const DYNAMIC = "pulumi-nodejs:dynamic/docker-firewall";
export const RULE = `${DYNAMIC}:DockerUserRule`;
export const IPSET = `${DYNAMIC}:IpSet`;
export const PERSISTENT = `${DYNAMIC}:PersistentRuleset`;
export const PRIORITIES = `${DYNAMIC}:RulePriorities`;
export const COMPONENT = "docker-firewall:index:DockerHostFirewall";

type Check = (news: Props, olds?: Props) => Promise<{ inputs?: Props; failures?: readonly unknown[] }>;

function checkOf(provider: { check?: (olds: never, news: never) => Promise<unknown> }): Check {
  const check = provider.check;
  if (!check) throw new Error("provider without check");
  return (news, olds = {}) => check(olds as never, news as never) as ReturnType<Check>;
}

const checks: Record<string, Check> = {
  [RULE]: checkOf(ruleProvider),
  [IPSET]: checkOf(ipSetProvider),
  [PERSISTENT]: checkOf(persistentProvider),
  [PRIORITIES]: checkOf(priorityLedgerProvider),
};

export interface Resource extends Registration {
  /** What the provider's check made of the inputs (secrets unwrapped), e.g. with `rendered` lines. */
  readonly checked: Props;
  readonly failures: readonly unknown[];
}

export interface Graph {
  readonly resources: readonly Resource[];
  readonly outputs: Props;
  byType(type: string): Resource[];
  /** The one resource of that type and name (throws otherwise). */
  get(type: string, name: string): Resource;
}

export async function runMocked(
  load: () => unknown,
  config: Record<string, string> = {},
  secretKeys: string[] = [],
  /** An earlier run of the program: each resource's check gets its checked inputs there as `olds` (a later `up`). */
  previous?: Graph,
): Promise<Graph> {
  const resources: Resource[] = [];
  const run = await runProgram({
    load,
    project: "docker-firewall",
    stack: "test",
    preview: false,
    config,
    secretKeys,
    register: async (r) => {
      const check = checks[r.type];
      if (!r.custom || !check) {
        resources.push({ ...r, checked: {}, failures: [] });
        return { state: {} };
      }
      const olds = previous?.resources.find((x) => x.type === r.type && x.name === r.name)?.checked;
      const result = await check(unwrapSecrets(r.inputs) as Props, olds);
      const checked = result.inputs ?? {};
      resources.push({ ...r, checked, failures: result.failures ?? [] });
      // Outputs as the engine would store them: the checked inputs, the connection still secret.
      return { id: `${r.name}-id`, state: { ...checked, connection: r.inputs.connection } };
    },
  });
  const get = (type: string, name: string) => {
    const found = resources.filter((x) => x.type === type && x.name === name);
    if (found.length !== 1) throw new Error(`${found.length} resources ${type} ${name}`);
    return found[0] as Resource;
  };
  return {
    resources,
    outputs: run.outputs,
    byType: (type) => resources.filter((x) => x.type === type),
    get,
  };
}

/** The ipv4 lines a rule renders to (from its real check). */
export function ipv4Lines(r: Resource): string[] {
  return (r.checked.rendered as { ipv4: string[] } | undefined)?.ipv4 ?? [];
}

/** A line with its random rule-id suffix replaced by "<id>", so it can be compared literally. */
export function stableLine(line: string): string {
  return line.replace(/(dfw:\d{4}:[A-Za-z0-9_.-]+)-[0-9a-f]{8}/g, "$1-<id>");
}
