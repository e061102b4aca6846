// Round trips the SSH handshake does not need (ssh2 has no options for them: its Protocol is wrapped). Each keeps
// the messages and their order valid for any server; only when they are sent changes.
import type { Client } from "ssh2";
import { type OpenChannel, watch } from "./running-command";

type SignCallback = (data: Buffer, done: (signature: Buffer) => void) => void;
type AuthPK = (user: string, key: unknown, algo?: string, sign?: SignCallback) => void;
type Handler = (proto: unknown, ...args: unknown[]) => void;
interface Protocol {
  authPK?: AuthPK;
  service?(name: string): void;
  _handlers?: Record<string, Handler>;
}
interface PrivateKey {
  isPrivateKey(): boolean;
  sign(data: Buffer, hash?: string): Buffer | Error;
}
const RSA_HASH: Record<string, string> = { "rsa-sha2-256": "sha256", "rsa-sha2-512": "sha512", "ssh-rsa": "sha1" };

const protocolOf = (client: Client) => (client as unknown as { _protocol?: Protocol })._protocol;

/** ssh2 asks whether the server would take a key (a round trip) before sending the signed request; the signed
 * request is as valid a first message (RFC 4252 §7), so a private key signs at once. An agent's keys, or a key
 * that cannot sign, go ssh2's way. `onSigned` is called once a signed request is on its way. */
export function signFirst(client: Client, onSigned?: () => void): void {
  const proto = protocolOf(client);
  if (!proto || typeof proto.authPK !== "function") return;
  const authPK = proto.authPK.bind(proto);
  proto.authPK = (user, key, algo, sign) => {
    const k = key as Partial<PrivateKey> | undefined;
    if (sign || typeof algo === "function" || typeof k?.sign !== "function" || !k.isPrivateKey?.())
      return authPK(user, key, algo, sign);
    const signature = (data: Buffer) => (k as PrivateKey).sign(data, algo ? RSA_HASH[algo] : undefined);
    // Signing needs the session id, known only now: sign here, or fall back to ssh2's query if it cannot.
    let signed: Buffer | Error | undefined;
    authPK(user, key, algo, (data, done) => {
      signed = signature(data);
      if (!(signed instanceof Error)) done(signed);
    });
    if (signed instanceof Error) authPK(user, key, algo);
    else onSigned?.();
  };
}

/** ssh2 sends its first authentication request when the server has accepted the `ssh-userauth` service; a server
 * handles messages in order (OpenSSH installs its userauth handler when it takes the service request), so the
 * request can follow the service request at once: one round trip less. Only for a private ed25519/ECDSA key (an RSA
 * key's signature algorithm comes from the server-sig-algs sent just before the acceptance): the acceptance is
 * answered when the service is requested, and the real one passed over. */
export function authWithService(client: Client): void {
  const proto = protocolOf(client);
  const handlers = proto?._handlers;
  if (!proto || typeof proto.service !== "function" || !handlers) return;
  const service = proto.service.bind(proto);
  proto.service = (name: string) => {
    service(name);
    const accepted = handlers.SERVICE_ACCEPT;
    if (name !== "ssh-userauth" || typeof accepted !== "function") return;
    handlers.SERVICE_ACCEPT = (p, n) => {
      handlers.SERVICE_ACCEPT = accepted;
      if (n !== "ssh-userauth") accepted(p, n);
    };
    accepted(proto, "ssh-userauth");
  };
}

/**
 * Opens the first command's channel right behind the signed authentication request, not after its success: "any
 * non-authentication messages sent by the client after the request that resulted in SSH_MSG_USERAUTH_SUCCESS being
 * sent MUST be passed to the service" (RFC 4252 §5.1), so the channel opens one round trip sooner. The exec request
 * itself still waits for the channel's confirmation, which comes after the success. Resolves undefined (open the
 * channel the usual way) if the server answered that request with a failure: OpenSSH then refuses the early open
 * as unimplemented and never answers it, and a channel confirmed anyway is closed at once. The channel is watched
 * in ssh2's callback, as every exec's is (running-command.ts watch).
 */
export function openEarly(client: Client, line: string): Promise<OpenChannel | undefined> {
  return new Promise((resolve) => {
    let refused = false;
    const handlers = protocolOf(client)?._handlers;
    const failure = handlers?.USERAUTH_FAILURE;
    if (!handlers || typeof failure !== "function") return resolve(undefined);
    handlers.USERAUTH_FAILURE = (...args) => {
      handlers.USERAUTH_FAILURE = failure;
      refused = true;
      resolve(undefined);
      failure(...args);
    };
    try {
      client.exec(line, (err, ch) => {
        if (refused) return ch?.close();
        resolve(err ? undefined : watch(ch));
      });
    } catch {
      resolve(undefined);
    }
  });
}
