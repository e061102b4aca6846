// Where the examples point. Stack config names real hosts; without it, the examples target the local lab
// (`npm run lab -- up`, or the one `npm run demo` brings up), so each example runs as is.
//
//   pulumi config set docker-firewall:hosts '[{"name":"web1","host":"203.0.113.10","user":"deploy","sudo":true,
//                                            "hostKey":"ssh-ed25519 AAAA…","wanInterface":"eth0","ipv6":true}]'
//   pulumi config set --secret docker-firewall:privateKey "$(cat ~/.ssh/id_ed25519)"   # or use the ssh agent
//
// The private key never enters a resource's inputs when it comes from stack config or the agent: the provider
// reads it in `configure`. Only for the lab default, with no key configured, is the lab's key file read into the
// connection, which the resources keep secret (encrypted in state).
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import type { ConnectionArgs } from "pulumi-docker-firewall";
import { z } from "zod";
import { dockerLineOf, type LabInventory, loadInventory } from "../../lab/inventory";
import { inventoryPath } from "../../lab/paths";

export const CONFIG_NAMESPACE = "docker-firewall";

const hostEntry = z
  .object({
    /** A short name for the host: it prefixes the host's resource names, so keep it stable. */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/, {
      message: "must be 1-40 letters, digits, '_', '.', '-' (it prefixes resource names)",
    }),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    sudo: z.boolean().optional(),
    /** The host's SSH key ("ssh-ed25519 AAAA…" or "SHA256:…"); without it the first key seen is trusted. */
    hostKey: z.string().optional(),
    agentSocketPath: z.string().optional(),
    /** The Internet-facing interface (rules scoped to WAN traffic use it). */
    wanInterface: z.string().default("eth0"),
    /** The host's Docker manages ip6tables (it has an IPv6 DOCKER-USER): IPv6-only rules are added for it. */
    ipv6: z.boolean().default(false),
  })
  .strict();

export interface TargetHost {
  readonly name: string;
  readonly connection: pulumi.Input<ConnectionArgs>;
  readonly wanInterface: string;
  readonly ipv6: boolean;
}

/** Addresses of the lab's clients, so the examples' policies have something real to allow and refuse. */
export interface LabAddresses {
  /** The "load balancer" range: the lab's `allowed` client is inside it, `denied` outside. */
  readonly loadBalancers: string[];
  readonly loadBalancers6: string[];
  /** One client address (the lab's `allowed` client). */
  readonly trustedClient: string;
  /** Another client outside the load-balancer range (the lab's `denied` client): the examples' admin workstation. */
  readonly otherClient: string;
  /** The other client's IPv6 address, when the lab has IPv6. */
  readonly otherClient6?: string;
  /** The published TCP web port and UDP port of every lab node. */
  readonly webPort: number;
  readonly udpPort: number;
}

export interface Target {
  readonly hosts: readonly TargetHost[];
  /** Set when the target is the local lab (no `docker-firewall:hosts` in stack config). */
  readonly lab?: LabAddresses;
}

function fromConfig(cfg: pulumi.Config, entries: unknown): TargetHost[] {
  const parsed = z.array(hostEntry).min(1).safeParse(entries);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  - hosts.${i.path.join(".")}: ${i.message}`).join("\n");
    throw new Error(`stack config ${CONFIG_NAMESPACE}:hosts is not a list of hosts:\n${issues}`);
  }
  const names = parsed.data.map((h) => h.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`stack config ${CONFIG_NAMESPACE}:hosts names ${dup} twice`);
  const defaultUser = cfg.get("user");
  const defaultSudo = cfg.getBoolean("sudo");
  return parsed.data.map((h) => ({
    name: h.name,
    connection: {
      host: h.host,
      ...(h.port !== undefined && { port: h.port }),
      ...((h.user ?? defaultUser) !== undefined && { user: h.user ?? defaultUser }),
      ...((h.sudo ?? defaultSudo) !== undefined && { sudo: h.sudo ?? defaultSudo }),
      ...(h.hostKey !== undefined && { hostKey: h.hostKey }),
      ...(h.agentSocketPath !== undefined && { agentSocketPath: h.agentSocketPath }),
    },
    wanInterface: h.wanInterface,
    ipv6: h.ipv6,
  }));
}

function fromLab(cfg: pulumi.Config, inventory: LabInventory): Target {
  // A key in stack config (or the agent) wins; otherwise the lab's key file, kept secret by the resources.
  const keyConfigured = cfg.getSecret("privateKey") !== undefined || cfg.getBoolean("useAgent") === true;
  const hosts = inventory.nodes.map((node): TargetHost => {
    const connection = { host: node.ssh.host, port: node.ssh.port, user: node.rootUser, hostKey: node.ssh.hostKey };
    return {
      name: node.name,
      connection: keyConfigured
        ? connection
        : pulumi.secret({ ...connection, privateKey: readFileSync(node.privateKeyPath, "utf8") }),
      wanInterface: node.wan.interface,
      // Docker 28 nodes have an IPv6 DOCKER-USER, Docker 29 on nftables our inet table; 20.10 publishes over IPv6
      // but makes no IPv6 DOCKER-USER to filter in.
      ipv6: node.docker.ipv6 && ["28", "29"].includes(dockerLineOf(node)),
    };
  });
  const client = (name: string) => inventory.clients.find((c) => c.name === name);
  const web = inventory.nodes[0]?.published.find((p) => p.protocol === "tcp");
  const udp = inventory.nodes[0]?.published.find((p) => p.protocol === "udp");
  return {
    hosts,
    lab: {
      loadBalancers: [inventory.lbCidr],
      loadBalancers6: inventory.lbCidr6 ? [inventory.lbCidr6] : [],
      trustedClient: client("allowed")?.ipv4 ?? "198.51.100.10",
      otherClient: client("denied")?.ipv4 ?? "198.51.100.200",
      otherClient6: client("denied")?.ipv6,
      webPort: web?.port ?? 8080,
      udpPort: udp?.port ?? 5353,
    },
  };
}

/**
 * The hosts of `docker-firewall:hosts`, or every node of the local lab (its inventory at
 * `docker-firewall:labInventory`, else where `npm run lab` keeps it: DFW_LAB_ID / DFW_LAB_DIR).
 */
export function target(cfg = new pulumi.Config(CONFIG_NAMESPACE)): Target {
  const entries = cfg.getObject<unknown>("hosts");
  if (entries !== undefined) return { hosts: fromConfig(cfg, entries) };
  const path = cfg.get("labInventory") ?? inventoryPath();
  let inventory: LabInventory;
  try {
    inventory = loadInventory(path);
  } catch (e) {
    throw new Error(
      `no hosts configured (stack config ${CONFIG_NAMESPACE}:hosts) and no local lab at ${path} ` +
        `(${(e as Error).message.split("\n")[0]}): set ${CONFIG_NAMESPACE}:hosts, or run: npm run lab -- up`,
    );
  }
  return fromLab(cfg, inventory);
}

/** The first target host: what the single-host examples manage. */
export function firstHost(t: Target): TargetHost {
  const host = t.hosts[0];
  if (!host) throw new Error("no target host");
  return host;
}

function missing(key: string): never {
  throw new Error(`set stack config ${CONFIG_NAMESPACE}:${key} (pulumi config set ${CONFIG_NAMESPACE}:${key} …)`);
}

/** A string from stack config, else the lab's, else an error naming the config key to set. */
export function configuredString(cfg: pulumi.Config, key: string, labValue: string | undefined): string {
  return cfg.get(key) ?? labValue ?? missing(key);
}

/** A JSON value (a list, an object) from stack config, else the lab's, else an error naming the key to set. */
export function configuredObject<T>(cfg: pulumi.Config, key: string, labValue: T | undefined): T {
  return cfg.getObject<T>(key) ?? labValue ?? missing(key);
}
