// PURE. The files that make a node's managed rules and sets survive a reboot without a Docker restart: an
// ipset restore file, one iptables-restore body per family, an idempotent restore script, and a systemd unit
// ordered before docker.service. Only managed state is written (never Docker's or foreign rules), so the
// restore neither duplicates rules nor fights Docker. The same paths on Debian and RHEL families. Fails closed:
// docker.service requires the unit (RequiredBy=), so a restore that fails keeps Docker from starting unprotected.
// With a foreign-rules policy, our rules go right after the kept-above foreign rules present at boot, as the
// planner places them (netfilter/foreign.ts renders the same matchers for awk).
import { createHash } from "node:crypto";
import type { IpFamily } from "../model/address";
import { isEmptyPolicy } from "../model/foreign-rules";
import {
  type Backend,
  DOCKER_USER,
  type LiveSet,
  type PersistenceConfig,
  renderAdd,
  renderCreate,
  TAGGED_LINE_ERE,
} from "../netfilter";
import { awkCondition } from "../netfilter/foreign";
import { PERSIST_DIR, PERSISTED_PATHS, type PersistedName } from "../protocol/paths";

// resources/persistent-provider.ts reads the paths from here.
export { PERSISTED_PATHS };
/** Units that load whole firewall tables at boot (iptables/ip6tables.service: RHEL's, and Debian's aliases). */
export const TABLE_RESTORERS = [
  "netfilter-persistent.service",
  "iptables.service",
  "ip6tables.service",
  "nftables.service",
  "firewalld.service",
  "ufw.service",
] as const;

export interface ManagedState {
  readonly backend: Backend;
  readonly families: readonly IpFamily[];
  /** Managed `-A DOCKER-USER …` lines per family, in chain order. */
  readonly rules: Readonly<Partial<Record<IpFamily, readonly string[]>>>;
  readonly sets: readonly LiveSet[];
}

const tools = (backend: Backend, family: IpFamily) => {
  const base = family === "ipv4" ? "iptables" : "ip6tables";
  return { save: `${base}-${backend}-save`, restore: `${base}-${backend}-restore` };
};

/**
 * The lines of `rules()` that clear the chain and insert the body ($3). Non-exclusive: remove our tagged rules still
 * present (a re-run), then insert ours at the top, in one atomic restore. Exclusive: we own the chain wholly, so
 * declaring it (which flushes it) is right. With a policy, the foreign rules it names stay (exclusive removes
 * only the others, Docker's RETURN aside) and ours go after the last kept-above one before Docker's RETURN:
 * fail2ban and CrowdSec insert their jumps at the top when they start, after this unit, so at boot that is
 * only what a table restorer (netfilter-persistent…) put back before us.
 */
function clearAndInsert(config: PersistenceConfig): string[] {
  const tagged = `grep -E '^-A ${DOCKER_USER} .*${TAGGED_LINE_ERE}'`;
  const policy = config.foreign;
  if (!policy || isEmptyPolicy(policy))
    return [
      config.exclusive ? '  echo ":DOCKER-USER - [0:0]"' : `  "$1" -t filter | ${tagged} | sed 's/^-A /-D /'`,
      '  cat "$3"',
    ];
  const keep = awkCondition(policy.keepAbove);
  const kept = config.exclusive ? `(${keep}) || (${awkCondition(policy.ignore)}) || $0 == ret` : "1";
  return [
    `  cur=$("$1" -t filter 2>/dev/null | grep '^-A ${DOCKER_USER} ')`,
    `  printf '%s\\n' "$cur" | ${tagged} | sed 's/^-A /-D /'`,
    `  foreign=$(printf '%s\\n' "$cur" | grep -v -E -e '${TAGGED_LINE_ERE}' | grep '^-A ')`,
    `  printf '%s\\n' "$foreign" | awk -v ret='-A ${DOCKER_USER} -j RETURN' 'NF && !(${kept}) { sub(/^-A /, "-D "); print }'`,
    `  off=$(printf '%s\\n' "$foreign" | awk -v ret='-A ${DOCKER_USER} -j RETURN' '!NF { next } $0 == ret { exit } !(${kept}) { next } { n++ } ${keep} { off = n } END { print off + 0 }')`,
    `  awk -v o="$off" '{ n = $3 + o; sub(/^-I ${DOCKER_USER} [0-9]+ /, ""); print "-I ${DOCKER_USER} " n " " $0 }' "$3"`,
  ];
}

function restoreScript(state: ManagedState, config: PersistenceConfig): string {
  const calls = state.families.map((f) => {
    const t = tools(state.backend, f);
    return `rules ${t.save} ${t.restore} "$dir/rules-${f}.restore" || fail "restoring the ${f} rules"`;
  });
  return [
    "#!/bin/sh",
    "# Written by pulumi-docker-firewall; do not edit (the next `pulumi up` rewrites it).",
    "# Restores the ipsets and DOCKER-USER rules it manages, before Docker starts. Idempotent: running it again",
    "# never duplicates a rule and never touches rules or sets it does not manage.",
    "set -u",
    `dir=${PERSIST_DIR}`,
    "# A failure exits non-zero: docker.service requires this unit, so Docker then stays down rather than unprotected.",
    'fail() { echo "docker-firewall: $1 failed: Docker is kept from starting (see the README, Reliability)" >&2; exit 1; }',
    'if [ -s "$dir/ipsets.restore" ]; then ipset -exist restore <"$dir/ipsets.restore" || fail "restoring the ipsets"; fi',
    "rules() {",
    '  [ -f "$3" ] || return 0',
    `  if ! "$1" -t filter 2>/dev/null | grep -q '^:${DOCKER_USER} '; then`,
    `    printf '*filter\\n:${DOCKER_USER} - [0:0]\\nCOMMIT\\n' | "$2" -w 10 --noflush || return 1`,
    "  fi",
    "  {",
    "  echo '*filter'",
    ...clearAndInsert(config),
    "  echo COMMIT",
    '  } | "$2" -w 10 --noflush',
    "}",
    ...calls,
    "",
  ].join("\n");
}

/** The boot unit: loads what `execStart` restores after every table restorer and before Docker, failing closed. */
export function bootUnit(description: string, execStart: string): string {
  return [
    "[Unit]",
    `Description=${description}`,
    "DefaultDependencies=no",
    "Wants=network-pre.target",
    "After=local-fs.target systemd-modules-load.service",
    // Tools that restore whole tables (or `flush ruleset`) at boot would erase ours if they ran later.
    `After=${TABLE_RESTORERS.join(" ")}`,
    "Before=network-pre.target docker.service shutdown.target",
    "Conflicts=shutdown.target",
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    `ExecStart=${execStart}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "RequiredBy=docker.service",
    "",
  ].join("\n");
}

const unitFile = () =>
  bootUnit(
    "Restore the DOCKER-USER rules and ipsets managed by pulumi-docker-firewall",
    `/bin/sh ${PERSISTED_PATHS.restore}`,
  );

function rulesBody(lines: readonly string[]): string {
  const prefix = `-A ${DOCKER_USER} `;
  return lines.map((l, i) => `-I ${DOCKER_USER} ${i + 1} ${l.slice(prefix.length)}\n`).join("");
}

function ipsetsFile(sets: readonly LiveSet[]): string {
  return [...sets]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((s) => [
      renderCreate(s.name, s.header),
      ...[...s.entries]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([entry, comment]) => renderAdd(s.name, comment === undefined ? { entry } : { entry, comment })),
    ])
    .map((l) => `${l}\n`)
    .join("");
}

export function renderPersistedFiles(state: ManagedState, config: PersistenceConfig): Record<PersistedName, string> {
  return {
    // Without a policy the file reads as it always did (hosts persisted before it keep their hash).
    config: `${JSON.stringify({
      version: 1,
      backend: state.backend,
      exclusive: config.exclusive,
      ...(config.foreign && !isEmptyPolicy(config.foreign) && { foreignRules: config.foreign }),
    })}\n`,
    ipsets: ipsetsFile(state.sets),
    "rules-ipv4": rulesBody(state.rules.ipv4 ?? []),
    "rules-ipv6": state.families.includes("ipv6") ? rulesBody(state.rules.ipv6 ?? []) : "",
    restore: restoreScript(state, config),
    unit: unitFile(),
  };
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
