// Every path the remote scripts read or write on a node outside the runtime dir: the persisted boot files (by the
// fixed name a persist step uses, never a path from data), the boot unit's enabling links, the list of sets our
// IpSet resources own, and other tools' saved rulesets that we only read.
import { words } from "./words";

export const PERSIST_DIR = "/etc/docker-firewall";
export const UNIT_NAME = "docker-firewall.service";
const SYSTEMD = "/etc/systemd/system";

/** Our nftables table, on hosts where Docker runs its nftables backend (provider/nftables/ builds it). */
export const NFT_FAMILY = "inet";
export const NFT_TABLE = "docker-firewall";
/** The libnftables batch that rebuilds our table at boot (nftables hosts only). */
export const NFT_BOOT_PATH = `${PERSIST_DIR}/nftables.json` as const;

/** The boot files, by fixed name. */
export const PERSISTED_PATHS = {
  config: `${PERSIST_DIR}/persistence.json`,
  ipsets: `${PERSIST_DIR}/ipsets.restore`,
  "rules-ipv4": `${PERSIST_DIR}/rules-ipv4.restore`,
  "rules-ipv6": `${PERSIST_DIR}/rules-ipv6.restore`,
  restore: `${PERSIST_DIR}/restore`,
  unit: `${SYSTEMD}/${UNIT_NAME}`,
} as const;
export type PersistedName = keyof typeof PERSISTED_PATHS;

/** The list of sets our IpSet resources own on the node (kept whether or not persistence is on). */
export const MANAGED_SETS_PATH = `${PERSIST_DIR}/managed-sets` as const;

/** The boot files of an nftables host beyond the unit and config it shares with iptables hosts. */
export const NFT_PERSISTED_PATHS = { nftables: NFT_BOOT_PATH } as const;

/** Every file a persist step may write, by the fixed name its `files` use. */
export const STEP_FILE_PATHS = {
  ...PERSISTED_PATHS,
  ...NFT_PERSISTED_PATHS,
  "managed-sets": MANAGED_SETS_PATH,
} as const;
export type StepFileName = keyof typeof STEP_FILE_PATHS;

/** The enabling symlinks `systemctl enable` would make for the unit's WantedBy= and RequiredBy=. */
export const UNIT_LINKS = [
  `${SYSTEMD}/multi-user.target.wants/${UNIT_NAME}`,
  `${SYSTEMD}/docker.service.requires/${UNIT_NAME}`,
] as const;
/** The link an older release made (WantedBy=docker.service): removed whenever the unit is enabled or removed. */
export const OLD_UNIT_LINK = `${SYSTEMD}/docker.service.wants/${UNIT_NAME}` as const;

/** Saved rulesets netfilter-persistent or iptables-services restore at boot (read only, for warnings). */
export const OTHER_PERSISTERS = [
  "/etc/iptables/rules.v4",
  "/etc/iptables/rules.v6",
  "/etc/sysconfig/iptables",
  "/etc/sysconfig/ip6tables",
] as const;

// Shell word lists of the above, for the scripts.
export const PERSISTED_PATH_WORDS = words([
  PERSISTED_PATHS.config,
  PERSISTED_PATHS.ipsets,
  PERSISTED_PATHS["rules-ipv4"],
  PERSISTED_PATHS["rules-ipv6"],
  PERSISTED_PATHS.restore,
  PERSISTED_PATHS.unit,
]);
export const PERSISTED_NAME_WORDS = words(["config", "ipsets", "rules-ipv4", "rules-ipv6", "restore", "unit"]);
/** Every boot file of either backend: hashed by the read, removed when persistence is switched off. */
export const BOOT_PATH_WORDS = `${PERSISTED_PATH_WORDS} ${words([NFT_BOOT_PATH])}` as const;
export const BOOT_NAME_WORDS = `${PERSISTED_NAME_WORDS} ${words(["nftables"])}` as const;
export const STEP_FILE_NAME_WORDS = `${BOOT_NAME_WORDS} managed-sets` as const;
export const UNIT_LINK_WORDS = words(UNIT_LINKS);
export const OTHER_PERSISTER_WORDS = words(OTHER_PERSISTERS);
