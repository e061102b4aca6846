// A lab inventory on disk that no lab stands behind: enough for programs that target "the local lab" to run
// under mocks (nothing is dialled).
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LabInventory } from "../../lab/inventory";
import { fakePrivateKey } from "../support/fake-key";

/** An OpenSSH public key line with a well-formed ed25519 blob (random key material). */
export function fakeHostKey(): string {
  const type = Buffer.from("ssh-ed25519");
  const len = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const blob = Buffer.concat([len(type.length), type, len(32), randomBytes(32)]);
  return `ssh-ed25519 ${blob.toString("base64")}`;
}

export const FAKE_KEY = fakePrivateKey();

export interface FakeLab {
  readonly inventory: LabInventory;
  readonly inventoryPath: string;
}

export function fakeLab(nodes = 3): FakeLab {
  const dir = mkdtempSync(join(tmpdir(), "dfw-program-"));
  const keyPath = join(dir, "id_ed25519");
  writeFileSync(keyPath, FAKE_KEY, { mode: 0o600 });
  const inventory: LabInventory = {
    labId: "dfwfake",
    stateDir: dir,
    rttMs: 0,
    createdAt: new Date(0).toISOString(),
    lbCidr: "198.51.100.0/26",
    ipv6: false,
    upMs: 0,
    nodes: Array.from({ length: nodes }, (_, k) => ({
      name: `node${k + 1}`,
      netns: `dfwfake-node${k + 1}`,
      hostname: `dfwfake-node${k + 1}`,
      ssh: { host: "127.0.0.1", port: 40001 + k, hostKey: fakeHostKey(), hostKeyFingerprint: "SHA256:fake" },
      privateKeyPath: keyPath,
      rootUser: "root" as const,
      sudoUser: "labsudo",
      nosudoUser: "labpwsudo",
      wan: { interface: "eth0", ipv4: `198.51.100.${101 + k}` },
      lan: { interface: "eth1", ipv4: `192.0.2.${1 + k}` },
      docker: {
        socketPath: "/run/docker.sock",
        bridgeSubnet: `198.18.${k + 1}.0/24`,
        version: "20.10.24",
        ipv6: false,
      },
      published: [
        { port: 8080, protocol: "tcp" as const, containerPort: 80, container: "web" },
        { port: 5353, protocol: "udp" as const, containerPort: 7, container: "echo" },
      ],
      iptablesBackend: "nft" as const,
    })),
    clients: [
      { name: "allowed", netns: "dfwfake-allowed", segment: "wan", ipv4: "198.51.100.10" },
      { name: "denied", netns: "dfwfake-denied", segment: "wan", ipv4: "198.51.100.200" },
      { name: "lanpeer", netns: "dfwfake-lanpeer", segment: "lan", ipv4: "192.0.2.200" },
    ],
  };
  const inventoryPath = join(dir, "inventory.json");
  writeFileSync(inventoryPath, JSON.stringify(inventory, null, 2));
  return { inventory, inventoryPath };
}
