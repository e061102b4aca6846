// One SSH handshake: TCP (or a bastion tunnel), host key check, authentication. Failures come out classified:
// HostKeyMismatch and AuthFailed as NodeErrors (never worth retrying), anything else as a plain Error to retry.
import { type Socket, connect as tcpConnect } from "node:net";
import type { Duplex } from "node:stream";
import { type AnyAuthMethod, Client, utils } from "ssh2";
import { describeConnection, type Endpoint, redactSecrets } from "../model/connection";
import { nodeError } from "./errors";
import { type HostKeyVerdict, hostKeyAlgorithmsFor, rememberHostKey, verifyHostKey } from "./host-key";
import type { OpenChannel } from "./running-command";
import { authWithService, openEarly, signFirst } from "./ssh-round-trips";

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
  /** With DialOptions.first: that command's channel, opened behind the authentication request (undefined when
   * it could not be: open it the usual way). */
  readonly first?: Promise<OpenChannel | undefined>;
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
  /** The command line the connection is dialled for: its channel opens behind a signed authentication request. */
  readonly first?: string;
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
    let first: Promise<OpenChannel | undefined> | undefined;

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
      resolve({ client, socket, hostKey: verdict.fingerprint, ...(first && { first }) });
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
      const line = opts.first;
      const early =
        line === undefined
          ? undefined
          : () => {
              first ??= openEarly(client, line);
            };
      signFirst(client, early);
      if (auth.keyFirst) authWithService(client);
    } catch (err) {
      fail(new Error(redactSecrets(err instanceof Error ? err.message : String(err), e)));
    }
  });
}
