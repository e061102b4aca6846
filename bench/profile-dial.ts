// The SSH handshake of bench/profile.ts: raw ssh2 dials to a lab node with each algorithm set, timing TCP, the
// server's first byte and "ready", and recording what was negotiated.
import { readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { Client } from "ssh2";
import type { LabNode } from "../lab/index";

export const ALGORITHM_SETS: Record<string, Record<string, string[]> | undefined> = {
  "ssh2 defaults": undefined,
  "curve25519 + aes128-gcm": {
    kex: ["curve25519-sha256"],
    cipher: ["aes128-gcm@openssh.com"],
    serverHostKey: ["ssh-ed25519"],
  },
  "curve25519 + chacha20-poly1305": {
    kex: ["curve25519-sha256"],
    cipher: ["chacha20-poly1305@openssh.com"],
    serverHostKey: ["ssh-ed25519"],
  },
  "ecdh-p256 + aes128-ctr/hmac-sha2-256": {
    kex: ["ecdh-sha2-nistp256"],
    cipher: ["aes128-ctr"],
    hmac: ["hmac-sha2-256"],
    serverHostKey: ["ssh-ed25519"],
  },
  "dh-group14-sha256 + aes256-ctr": {
    kex: ["diffie-hellman-group14-sha256"],
    cipher: ["aes256-ctr"],
    hmac: ["hmac-sha2-256"],
    serverHostKey: ["ssh-ed25519"],
  },
};

export interface Dial {
  tcpMs: number;
  /** The server's version line arrived (for the lab: its forwarder spawned nsenter + socat, sshd forked). */
  identMs: number;
  readyMs: number;
  negotiated: unknown;
}

export function rawDial(node: LabNode, algorithms: Record<string, string[]> | undefined): Promise<Dial> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let tcpMs = 0;
    let identMs = 0;
    let negotiated: unknown;
    const sock = tcpConnect({ host: node.ssh.host, port: node.ssh.port }, () => {
      tcpMs = performance.now() - t0;
    });
    sock.setNoDelay(true);
    sock.once("data", () => {
      identMs = performance.now() - t0;
    });
    const client = new Client();
    client
      .on("handshake", (n) => {
        negotiated = n;
      })
      .on("ready", () => {
        const readyMs = performance.now() - t0;
        client.end();
        resolve({ tcpMs, identMs, readyMs, negotiated });
      })
      .on("error", reject)
      .connect({
        sock,
        username: "root",
        privateKey: readFileSync(node.privateKeyPath),
        hostVerifier: () => true,
        ...(algorithms && { algorithms: algorithms as never }),
      });
  });
}
