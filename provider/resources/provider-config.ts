// Credentials may come from stack config instead of resource inputs, so no secret enters resource state:
//   pulumi config set --secret docker-firewall:privateKey "$(cat ~/.ssh/id_ed25519)"
// `configure` (called by the dynamic-provider host before any CRUD call) stores them here, synchronously.
import type { ConnectionArgs } from "../model/connection";

export const CONFIG_NAMESPACE = "docker-firewall";
const KEYS = ["privateKey", "privateKeyPassword", "password", "sudoPassword"] as const;
type Key = (typeof KEYS)[number];

let stackCredentials: Partial<Record<Key, string>> = {};

export function storeStackConfig(get: (key: string) => string | undefined): void {
  const found: Partial<Record<Key, string>> = {};
  for (const k of KEYS) {
    const v = get(`${CONFIG_NAMESPACE}:${k}`);
    if (v) found[k] = v;
  }
  stackCredentials = found;
}

/** The connection with stack-config credentials filled in where the resource gave none (and no agent socket). */
export function withStackCredentials(conn: ConnectionArgs): ConnectionArgs {
  const { privateKey, privateKeyPassword, password, sudoPassword } = stackCredentials;
  // sudo's password goes to connections that use sudo and have none of their own (it is sent only if sudo asks).
  const usesSudo = conn.become === "sudo" || (conn.sudo === true && conn.become === undefined);
  const sudo = sudoPassword && usesSudo && conn.sudoPassword === undefined ? { ...conn, sudoPassword } : conn;
  if (conn.privateKey || conn.password) return sudo;
  return {
    ...sudo,
    ...(privateKey && { privateKey, ...(privateKeyPassword && { privateKeyPassword }) }),
    ...(password && { password }),
  };
}
