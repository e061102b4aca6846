// FakeHost: a HostSession (node/session.ts) whose node lives in memory. It answers the read script with the
// sections its tools would print, runs the apply script's steps against in-memory filter tables, ipsets and boot
// files with the kernel's refusals and the script's undo, holds a node lock, and can be told to fail (faults.ts).
// `dump()` is the canonical text of its state (dump.ts); test/kernel/fake-conformance.test.ts holds it to the kernel.
import { randomBytes } from "node:crypto";
import type { IpFamily } from "../../../provider/model/address";
import type { Backend } from "../../../provider/netfilter/host-state";
import type { RemoteCommand } from "../../../provider/node/commands";
import { nodeError } from "../../../provider/node/errors";
import type { ExecResult } from "../../../provider/node/exec";
import type { LockProof } from "../../../provider/node/lock";
import { NetfilterCommands } from "../../../provider/node/netfilter-commands";
import type { HostSession } from "../../../provider/node/session";
import { runApplyScript } from "./apply-script";
import { canonicalDump, type RawNodeText, SAVE_KEYS } from "./dump";
import { type Fault, FaultQueue } from "./faults";
import { NodeState } from "./node-state";
import { renderReadState } from "./read-state";

export interface FakeHostOptions {
  readonly backend?: Backend;
  /** Families whose filter table has Docker's DOCKER-USER (FORWARD jumps to it, it ends in RETURN). */
  readonly families?: readonly IpFamily[];
  /** How errors name the node. */
  readonly host?: string;
}

/** The filter table Docker leaves: FORWARD jumps to DOCKER-USER, which ends in Docker's RETURN. */
export const DOCKER_CHAIN =
  "*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\nCOMMIT\n";

export class FakeHost implements HostSession {
  readonly host: string;
  readonly node = new NodeState();
  private readonly faults = new FaultQueue();
  /** Node lock tokens recorded on the node, by lock name. */
  private readonly tokens = new Map<string, string>();
  private tail: Promise<unknown> = Promise.resolve();
  private lockLost = false;
  /** Every command run, with its stdin, in order. */
  readonly sent: Array<{ readonly command: RemoteCommand; readonly stdin: string }> = [];

  constructor(opts: FakeHostOptions = {}) {
    this.host = opts.host ?? "fake-node";
    for (const f of opts.families ?? ["ipv4"]) this.iptables(opts.backend ?? "nft", f, DOCKER_CHAIN);
  }

  /** Commands run so far (a transaction is one read and at most two applies). */
  executions(): number {
    return this.sent.length;
  }

  /** Faults for the next apply; each is used once (and dropped if that apply has no use for it). */
  inject(...faults: Fault[]): this {
    this.faults.add(0, faults);
    return this;
  }

  /** Drops the faults not used yet (a transaction with nothing to apply uses none). */
  clearFaults(): void {
    this.faults.clear();
  }

  /** Faults for a later apply: `skip` applies from now (0 = the next one). */
  injectLater(skip: number, ...faults: Fault[]): this {
    this.faults.add(skip, faults);
    return this;
  }

  /** What another tool on the node does: `iptables-<backend>-restore --noflush`; throws the tool's message. */
  iptables(backend: Backend, family: IpFamily, text: string): void {
    const r = this.node.restoreRules(backend, family, text);
    if (!r.ok) throw new Error(r.message);
  }

  /** What another tool on the node does: `ipset restore`; throws the tool's message. */
  ipset(text: string): void {
    const r = this.node.restoreSets(text, false);
    if (!r.ok) throw new Error(r.message);
  }

  /** The `-A CHAIN …` lines of one chain. */
  chain(backend: Backend, family: IpFamily, chain = "DOCKER-USER"): string[] {
    return this.node.tables[backend][family]?.rules(chain) ?? [];
  }

  async run(command: RemoteCommand, stdin: string): Promise<ExecResult> {
    this.sent.push({ command, stdin });
    const operation = `running the ${command === NetfilterCommands.readState ? "readState" : "applySteps"} script`;
    const lost = (reason: string) => nodeError({ kind: "ConnectionLost", host: this.host, operation, reason });
    if (this.lockLost) throw lost("the node lock's connection dropped");
    if (command === NetfilterCommands.readState) {
      const [nonce = "", asked] = (stdin.split("\n", 1)[0] ?? "").split(" ");
      if (!/^[a-f0-9]+$/.test(nonce) || (asked !== undefined && asked !== "containers"))
        return { code: 64, stdout: "", stderr: "" };
      return { code: 0, stdout: renderReadState(this.node, nonce, asked !== undefined), stderr: "" };
    }
    if (command !== NetfilterCommands.applySteps)
      return { code: 127, stdout: "", stderr: "fake host: not a command of the catalogue\n" };
    try {
      return this.apply(stdin, lost);
    } finally {
      this.faults.applied();
    }
  }

  private apply(stdin: string, lost: (reason: string) => Error): ExecResult {
    if (this.faults.take("lose-lock-connection")) {
      this.lockLost = true;
      throw lost("the node lock's connection dropped");
    }
    this.faults.take("interfere")?.act(this.node);
    if (this.faults.take("lose-lock")) this.tokens.clear();
    const cutEarly = this.faults.take("cut-while-sending");
    const input = cutEarly ? stdin.slice(0, Math.floor(stdin.length / 2)) : stdin;
    const result = runApplyScript(
      {
        node: this.node,
        tokens: this.tokens,
        refuse: this.faults.take("refuse-line"),
        failPersist: this.faults.take("fail-persist"),
        failCleanups: this.faults.take("fail-cleanups") !== undefined,
      },
      input,
    );
    if (cutEarly || this.faults.take("cut-after-sending")) throw lost("connection cut by the fake host");
    return result;
  }

  /** The node lock: one holder at a time, in call order; the proof's token is recorded on the node while held. */
  locked<T>(_owner: string, fn: (proof: LockProof) => Promise<T>): Promise<T> {
    const held = async () => {
      const proof = { name: "fake-lock", token: randomBytes(8).toString("hex") };
      this.tokens.set(proof.name, proof.token);
      this.lockLost = false;
      try {
        return await fn(proof);
      } finally {
        this.tokens.delete(proof.name);
        this.lockLost = false;
      }
    };
    const next = this.tail.then(held, held);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** What the node's tools would print now (the input of `dump`). */
  rawText(): RawNodeText {
    const saves: Partial<Record<(typeof SAVE_KEYS)[number], string>> = {};
    for (const key of SAVE_KEYS) {
      const t = this.node.tables[key.startsWith("nft") ? "nft" : "legacy"][key.endsWith("4") ? "ipv4" : "ipv6"];
      if (t) saves[key] = t.save();
    }
    return {
      saves,
      ipsetSave: this.node.ipsets.save(),
      files: new Map(this.node.boot.files),
      links: [...this.node.boot.links],
    };
  }

  /** The canonical text of the node's state: equal dumps mean equal chains, sets and boot files. */
  dump(): string {
    return canonicalDump(this.rawText());
  }
}
