// PURE. The files that make a node's managed rules and sets survive a reboot without a Docker restart: an
// ipset restore file, one iptables-restore body per family, an idempotent restore script, and a systemd unit
// ordered before docker.service. Only managed state is written (never Docker's or foreign rules), so the
// restore neither duplicates rules nor fights Docker. The same paths on Debian and RHEL families. Fails closed:
// docker.service requires the unit (RequiredBy=), so a restore that fails keeps Docker from starting unprotected.
import { createHash } from "node:crypto";
import type { IpFamily } from "../model/address";
import {
  type Backend,
  DOCKER_USER,
  type LiveSet,
  type PersistenceConfig,
  renderAdd,
  renderCreate,
  TAGGED_LINE_ERE,
} from "../netfilter";
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

function restoreScript(state: ManagedState, config: PersistenceConfig): string {
  // Non-exclusive: remove our tagged rules still present (a re-run), then insert ours at the top, in one atomic
  // restore. Exclusive: we own the chain wholly, so declaring it (which flushes it) is right.
  const clear = config.exclusive
    ? '  echo ":DOCKER-USER - [0:0]"'
    : `  "$1" -t filter | grep -E '^-A ${DOCKER_USER} .*${TAGGED_LINE_ERE}' | sed 's/^-A /-D /'`;
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
    clear,
    '  cat "$3"',
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
    config: `${JSON.stringify({ version: 1, backend: state.backend, exclusive: config.exclusive })}\n`,
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
