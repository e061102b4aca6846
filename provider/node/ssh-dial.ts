// One SSH handshake: TCP (or a bastion tunnel), host key check, authentication. Failures come out classified:
// HostKeyMismatch and AuthFailed as NodeErrors (never worth retrying), anything else as a plain Error to retry.
import { type Socket, connect as tcpConnect } from "node:net";
import type { Duplex } from "node:stream";
import { type AnyAuthMethod, Client, utils } from "ssh2";
import { describeConnection, type Endpoint, redactSecrets } from "../model/connection";
import { nodeError } from "./errors";
import { type HostKeyVerdict, hostKeyAlgorithmsFor, rememberHostKey, verifyHostKey } from "./host-key";

/** ssh2 1.17's default host key algorithms, in its order of preference. */
const SSH2_HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

export interface DialedSsh {
  readonly client: Client;
  /** The TCP socket, when this hop owns one (not when tunnelled through a bastion). */
  readonly socket: Socket | undefined;
  /** Fingerprint of the host key that was accepted. */
  readonly hostKey: string;
}

export type AuthPlan =
  | {
      readonly methods: AnyAuthMethod[];
      /** The first method is a private key whose signature algorithm does not depend on the server (not RSA). */
      readonly keyFirst: boolean;
    }
  | { readonly problem: string };

/** Which methods to offer, in @pulumi/command's order: key, password (and keyboard-interactive), agent. */
export function planAuth(e: Endpoint, envAgentSocket: string | undefined): AuthPlan {
  const methods: AnyAuthMethod[] = [];
  const username = e.user;
  let keyFirst = false;
  if (e.privateKey !== undefined) {
    const parsed = utils.parseKey(e.privateKey, e.privateKeyPassword);
    if (parsed instanceof Error) {
      const hint = e.privateKeyPassword === undefined ? "" : " (is privateKeyPassword right?)";
      return { problem: `privateKey could not be read${hint}: ${redactSecrets(parsed.message, e)}` };
    }
    methods.push({ type: "publickey", username, key: e.privateKey, passphrase: e.privateKeyPassword });
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    keyFirst = /^(ssh-ed25519|ecdsa-sha2-)/.test(key?.type ?? "");
  }
  if (e.password !== undefined) {
    const password = e.password;
    methods.push({ type: "password", username, password });
    methods.push({
      type: "keyboard-interactive",
      username,
      prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)),
    });
  }
  const agent = e.agentSocketPath ?? envAgentSocket;
  if (agent) methods.push({ type: "agent", username, agent });
  if (methods.length === 0) {
    return { problem: "no credentials: set privateKey, password or agentSocketPath (or run an ssh-agent)" };
  }
  return { methods, keyFirst };
}

export interface DialOptions {
  /** A stream to the server (a bastion tunnel); when absent a TCP connection is opened. */
  readonly sock?: Duplex;
  /** Aborting destroys the half-made connection. */
  readonly signal: AbortSignal;
  /** The argument naming this hop in errors (a bastion's "connection.proxy.0"); "connection" when absent. */
  readonly field?: string;
  /** ssh2's protocol trace (tests and benches: which message went when). */
  readonly debug?: (line: string) => void;
}

export function dialSsh(e: Endpoint, opts: DialOptions): Promise<DialedSsh> {
  const host = describeConnection(e);
  const field = opts.field === undefined ? {} : { field: opts.field };
  const auth = planAuth(e, process.env.SSH_AUTH_SOCK);
  if ("problem" in auth) return Promise.reject(nodeError({ kind: "AuthFailed", host, reason: auth.problem }));

  return new Promise<DialedSsh>((resolve, reject) => {
    const socket = opts.sock ? undefined : tcpConnect({ host: e.host, port: e.port });
    socket?.setNoDelay(true);
    socket?.setKeepAlive(true, 15_000);
    const client = new Client();
    let presented: Buffer | undefined;
    let mismatch: Extract<HostKeyVerdict, { ok: false }> | undefined;
    let settled = false;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener("abort", onAbort);
      client.destroy();
      socket?.destroy();
      opts.sock?.destroy();
      reject(err);
    };
    const onAbort = () => fail(opts.signal.reason);
    // ssh2 emits 'error' for every failure; a listener must exist for the client's whole life or Node throws.
    client.on("error", (err: Error & { level?: string }) => {
      if (mismatch) return fail(nodeError({ kind: "HostKeyMismatch", host, ...mismatch, ...field }));
      if (err.level === "client-authentication" || /authentication failures/i.test(err.message)) {
        const tried = auth.methods.map((m) => m.type).join(", ");
        return fail(
          nodeError({ kind: "AuthFailed", host, reason: `the server refused every method tried (${tried})` }),
        );
      }
      // Only redacted text leaves here: the raw ssh2 error is not attached as a cause.
      fail(Object.assign(new Error(redactSecrets(err.message, e)), { code: (err as { code?: unknown }).code }));
    });
    client.on("close", () => fail(new Error("connection closed during the SSH handshake")));
    client.once("ready", () => {
      if (settled) return;
      // Only now (key exchange signed, authentication done) is the key worth remembering for the endpoint.
      const verdict = presented ? rememberHostKey(e, presented) : undefined;
      if (!verdict?.ok) {
        if (verdict) return fail(nodeError({ kind: "HostKeyMismatch", host, ...verdict, ...field }));
        return fail(new Error("the server presented no host key"));
      }
      settled = true;
      opts.signal.removeEventListener("abort", onAbort);
      client.removeAllListeners("close");
      resolve({ client, socket, hostKey: verdict.fingerprint });
    });
    if (opts.signal.aborted) return onAbort();
    opts.signal.addEventListener("abort", onAbort, { once: true });

    try {
      client.connect({
        sock: opts.sock ?? socket,
        username: e.user,
        readyTimeout: 0, // the caller's per-attempt timeout covers connect + handshake + auth
        keepaliveInterval: 0, // see keepalive.ts
        hostVerifier: (key: Buffer) => {
          const verdict = verifyHostKey(e, key);
          if (verdict.ok) presented = key;
          else mismatch = verdict;
          return verdict.ok;
        },
        algorithms: {
          serverHostKey: hostKeyAlgorithmsFor(e, SSH2_HOST_KEY_ALGORITHMS) as never,
        },
        authHandler: auth.methods,
        ...(opts.debug && { debug: opts.debug }),
      });
      signFirst(client);
      if (auth.keyFirst) authWithService(client);
    } catch (err) {
      fail(new Error(redactSecrets(err instanceof Error ? err.message : String(err), e)));
    }
  });
}

type SignCallback = (data: Buffer, done: (signature: Buffer) => void) => void;
type AuthPK = (user: string, key: unknown, algo?: string, sign?: SignCallback) => void;
interface PrivateKey {
  isPrivateKey(): boolean;
  sign(data: Buffer, hash?: string): Buffer | Error;
}
const RSA_HASH: Record<string, string> = { "rsa-sha2-256": "sha256", "rsa-sha2-512": "sha512", "ssh-rsa": "sha1" };

/** ssh2 asks whether the server would take a key (a round trip) before sending the signed request; the signed
 * request is as valid a first message (RFC 4252 §7), so a private key signs at once. An agent's keys, or a key
 * that cannot sign, go ssh2's way. (ssh2 has no option for it: its Protocol's authPK is wrapped.) */
function signFirst(client: Client): void {
  const proto = (client as unknown as { _protocol?: { authPK: AuthPK } })._protocol;
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
  };
}

type Handler = (proto: unknown, name: string) => void;

/** ssh2 sends its first authentication request when the server has accepted the `ssh-userauth` service; a server
 * handles messages in order (OpenSSH installs its userauth handler when it takes the service request), so the
 * request can follow the service request at once: one round trip less. Only for a private ed25519/ECDSA key (an RSA
 * key's signature algorithm comes from the server-sig-algs sent just before the acceptance). Like signFirst, this
 * wraps ssh2's Protocol: the acceptance is answered when the service is requested, and the real one passed over. */
function authWithService(client: Client): void {
  const proto = (
    client as unknown as { _protocol?: { service?(name: string): void; _handlers?: Record<string, Handler> } }
  )._protocol;
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
