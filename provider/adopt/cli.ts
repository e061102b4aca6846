#!/usr/bin/env node
// `pulumi-docker-firewall adopt`: the thin shell around adopt-plan.ts. Reads a host's netfilter state over the
// provider's SSH layer (one read, no lock, nothing written on the host), writes the generated program, and
// says on stderr what it could not adopt. Credentials are used to connect and never printed or written.
import { readFileSync, writeFileSync } from "node:fs";
import { type Connection, type ConnectionArgs, describeConnection, parseConnection } from "../model/connection";
import { isNftFacts } from "../netfilter/host-state";
import { DOCKER_USER } from "../netfilter/kernel-rule";
import { chainRules } from "../netfilter/parse-iptables-save";
import { observedHostKey } from "../node/host-key";
import { type HostSession, sshSession } from "../node/session";
import { defaultPool } from "../node/ssh-pool";
import { readHostState } from "../node/transaction";
import { type AdoptPlan, planAdoption } from "./adopt-plan";
import { renderProgram, tsString } from "./program-text";

export const USAGE = `usage: pulumi-docker-firewall adopt --host HOST [--user USER] [--port PORT] [--ssh-key FILE]
       [--sudo] [--host-key KEY] [--name NAME] [--out FILE]

Reads the host's DOCKER-USER chains (IPv4 and IPv6) and ipsets over SSH and writes a Pulumi TypeScript program
that declares the same policy (stdout, or --out FILE). Without --ssh-key the ssh agent (SSH_AUTH_SOCK) is used.
--host-key pins the host's key ("ssh-ed25519 AAAA..." or "SHA256:..."); without it the key seen is written.`;

export interface AdoptOptions {
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
  readonly sshKey?: string;
  readonly sudo: boolean;
  readonly hostKey?: string;
  readonly name: string;
  readonly out?: string;
}

const VALUED = ["--host", "--user", "--port", "--ssh-key", "--host-key", "--name", "--out"] as const;

/** argv (after the command name) -> options, or an error naming the argument. */
export function parseAdoptArgs(argv: readonly string[]): { options: AdoptOptions } | { error: string } {
  const args = argv[0] === "adopt" ? argv.slice(1) : [...argv];
  const v: Record<string, string> = {};
  let sudo = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const [flag, inline] =
      a.startsWith("--") && a.includes("=")
        ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]
        : [a, undefined];
    if (flag === "--sudo") sudo = true;
    else if ((VALUED as readonly string[]).includes(flag)) {
      const value = inline ?? args[++i];
      if (value === undefined || value === "") return { error: `${flag} needs a value` };
      v[flag] = value;
    } else return { error: `unknown argument ${tsString(a)}` };
  }
  if (!v["--host"]) return { error: "--host is required" };
  let port: number | undefined;
  if (v["--port"] !== undefined) {
    port = Number(v["--port"]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return { error: "--port must be 1-65535" };
  }
  const name = v["--name"] ?? "adopted";
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/.test(name))
    return { error: "--name must be 1-40 letters, digits, '_', '.', '-' (it prefixes resource names)" };
  return {
    options: {
      host: v["--host"],
      ...(v["--user"] !== undefined && { user: v["--user"] }),
      ...(port !== undefined && { port }),
      ...(v["--ssh-key"] !== undefined && { sshKey: v["--ssh-key"] }),
      sudo,
      ...(v["--host-key"] !== undefined && { hostKey: v["--host-key"] }),
      name,
      ...(v["--out"] !== undefined && { out: v["--out"] }),
    },
  };
}

/** The connection used to read (with the key's contents); only its public part reaches the program. */
export function connectionOf(o: AdoptOptions, env: NodeJS.ProcessEnv): Connection {
  const args: ConnectionArgs = {
    host: o.host,
    ...(o.port !== undefined && { port: o.port }),
    ...(o.user !== undefined && { user: o.user }),
    ...(o.sudo && { sudo: true }),
    ...(o.hostKey !== undefined && { hostKey: o.hostKey }),
    ...(o.sshKey !== undefined
      ? { privateKey: readFileSync(o.sshKey, "utf8") }
      : env.SSH_AUTH_SOCK && { agentSocketPath: env.SSH_AUTH_SOCK }),
  };
  return parseConnection(args);
}

/** Text for a terminal: anything but printable ASCII and newlines is shown escaped. */
export const printable = (s: string) =>
  s.replace(/[^\x20-\x7e\n]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** One line per flagged rule, escaped: host text must not drive the terminal. */
export function summary(plan: AdoptPlan, host: string): string {
  const lines = [
    `adopt ${printable(host)}: ${plan.rules.length} rule(s) and ${plan.sets.length} set(s) adopted, ${plan.flagged.length} line(s) not adopted, ${plan.skipped.length} left to their owner.`,
    ...plan.flagged.map((f) => `  not adopted [${f.family}] ${tsString(f.line)}\n    why: ${tsString(f.reason)}`),
    ...(plan.rules.length === 0 && plan.skipped.some((x) => x.reason.startsWith("already managed"))
      ? ["  WARNING: every rule here is already managed by a stack; do not `up` this program in that stack."]
      : []),
    plan.exclusive
      ? "  exclusive mode is on: the first `pulumi up` replaces the untagged rules by the tagged ones."
      : "  exclusive mode is off: the untagged rules stay until the lines above are reworked and adopted.",
  ];
  return `${lines.join("\n")}\n`;
}

/** One read of the host (no lock: nothing is written) -> the adoption plan and the host's backend. */
export async function readAndPlan(session: HostSession): Promise<{ plan: AdoptPlan; backend: string }> {
  const { state, facts } = await readHostState(session);
  // Adoption reads DOCKER-USER: a host whose Docker runs nftables has none (our table starts empty there).
  if (isNftFacts(facts))
    throw new Error(`${session.host}: Docker runs its nftables backend here: there is no DOCKER-USER chain to adopt`);
  const chains = Object.fromEntries(
    facts.families.map((f) => {
      const save = state.saves[facts.backend][f];
      return [f, save ? chainRules(save, DOCKER_USER) : []];
    }),
  );
  const plan = planAdoption({ chains, sets: state.sets, setsKnown: state.ipsetError === undefined });
  return { plan, backend: facts.backend };
}

/** Reads the host over SSH and returns the program text and the plan. */
export async function adopt(o: AdoptOptions, env: NodeJS.ProcessEnv): Promise<{ program: string; plan: AdoptPlan }> {
  const conn = connectionOf(o, env);
  const { plan, backend } = await readAndPlan(sshSession(conn));
  const hostKey = o.hostKey ?? observedHostKey(conn);
  const program = renderProgram(plan, {
    name: o.name,
    connection: {
      host: conn.host,
      port: conn.port,
      user: conn.user,
      sudo: o.sudo,
      ...(hostKey !== undefined && { hostKey }),
    },
    source: `${describeConnection(conn)}, iptables-${backend}`,
  });
  return { program, plan };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const parsed = parseAdoptArgs(argv);
  if ("error" in parsed) {
    process.stderr.write(`${parsed.error}\n\n${USAGE}\n`);
    return 2;
  }
  const o = parsed.options;
  try {
    const { program, plan } = await adopt(o, env);
    if (o.out) writeFileSync(o.out, program);
    else process.stdout.write(program);
    process.stderr.write(summary(plan, o.host));
    return 0;
  } catch (e) {
    // Errors of the SSH layer name the host and never carry a credential; other bytes must not drive the terminal.
    process.stderr.write(`adopt ${printable(o.host)}: ${printable((e as Error).message)}\n`);
    return 1;
  } finally {
    defaultPool.closeAll();
  }
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
