// The faults of test/reliability/faults.test.ts that act on the node itself: sshd killed mid-apply (by pid,
// restarted at once), ipset missing or broken (bind-mounted over /usr/sbin/ipset in the node), a full tmpfs over
// /etc/docker-firewall, dockerd restarting while the operation runs. The test's own fault (a line the kernel
// refuses) depends on its transitions and stays there.
import { type LabInventory, type LabNode, restartDocker } from "../../lab/index";
import { onCommandSent } from "../../provider/node/commands";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import { type Outcome, settle, sleep } from "../support/engine";
import { killSshd, onNode, startNodeSshd } from "../support/rel-lab";

export interface Injected {
  /** When the fault hit (performance.now()). */
  readonly faultAt: number;
  readonly outcome: Outcome;
  /** The state the operation started from, when the fault itself changed it (out-of-band changes). */
  readonly before?: string;
  /** The operation must fail (the fault makes success impossible). */
  readonly mustFail: boolean;
  /** The operation must succeed (the transaction retries from a fresh read: node/transaction.ts). */
  readonly mustSucceed?: boolean;
  readonly note?: string;
}

export interface Fault {
  readonly name: string;
  /** What a failed operation's error must say about the cause. */
  readonly cause: RegExp;
  /** Whether transition t can be faulted this way (others are just passed through). */
  applies(t: number): boolean;
  /** `u` in (0, 1) spreads the trials of a fault over where the fault hits; `k` is the trial's number. */
  inject(t: number, op: () => Promise<void>, u: number, k: number): Promise<Injected>;
  /** Removes the fault (runs even when the trial failed). */
  clear(): Promise<void>;
}

export interface NodeFaultOptions {
  /** How long transition t took so far (the sshd fault spreads its cuts over it). */
  opMs(t: number): number | undefined;
  /** Whether transition t needs the ipset tool (it must then fail without it). */
  needsIpset(t: number): boolean;
}

/** The node faults, on the lab node `at` gives once the lab is up. */
export function nodeFaults(at: () => { lab: LabInventory; node: LabNode }, opts: NodeFaultOptions) {
  const sshdKilled: Fault = {
    name: "sshd killed mid-apply",
    cause: /connection to \S+ was lost|cannot reach|timed out/,
    applies: () => true,
    async inject(t, op, u, k) {
      // Even trials cut at a point of the whole operation (dial, lock, read, apply, release); odd ones 0-40 ms into
      // the apply itself (its channel just opened), so the apply is certainly hit on some trials.
      const intoApply = k % 2 === 1;
      let faultAt = Number.NaN;
      let killed: Promise<number[]> | undefined;
      let timer: NodeJS.Timeout | undefined;
      const kill = () => {
        if (killed) return;
        clearTimeout(timer);
        faultAt = performance.now();
        killed = killSshd(at().lab, at().node).then(async (pids) => {
          await startNodeSshd(at().lab, at().node);
          return pids;
        });
      };
      const stop = onCommandSent((sent) => {
        if (intoApply && sent.line === NetfilterCommands.applySteps && timer === undefined && !killed)
          timer = setTimeout(kill, u * 40);
      });
      const running = settle(op());
      if (!intoApply) {
        await sleep(u * (opts.opMs(t) ?? 300) * 1.2);
        kill();
      }
      const outcome = await running;
      stop();
      const late = !killed;
      kill(); // the operation settled before the cut: it now only severs the idle pooled connection
      const pids = await (killed as Promise<number[]>);
      const where = intoApply ? `${Math.round(u * 40)} ms into the apply` : `at ${Math.round(u * 120)}% of the op`;
      return {
        faultAt,
        outcome,
        mustFail: false,
        note: `${pids.length} sshd killed ${where}${late ? ", after it" : ""}`,
      };
    },
    clear: async () => undefined,
  };

  let ipsetTrials = 0;
  const ipsetMissing: Fault = {
    name: "ipset missing (absent or broken)",
    cause: /ipset/,
    applies: () => true,
    async inject(t, op) {
      const broken = ipsetTrials++ % 2 === 1;
      await onNode(
        at().lab,
        at().node,
        broken
          ? "mount --bind /bin/false /usr/sbin/ipset"
          : ": >/run/dfw-rel-noexec && chmod 0644 /run/dfw-rel-noexec && mount --bind /run/dfw-rel-noexec /usr/sbin/ipset",
      );
      const faultAt = performance.now();
      const outcome = await settle(op());
      return { faultAt, outcome, mustFail: opts.needsIpset(t), note: broken ? "/bin/false" : "absent" };
    },
    async clear() {
      await onNode(
        at().lab,
        at().node,
        "while mountpoint -q /usr/sbin/ipset; do umount /usr/sbin/ipset || break; done",
      );
    },
  };

  const diskFull: Fault = {
    name: "disk full for persisted files",
    cause: /disk full/,
    applies: () => true,
    async inject(_t, op) {
      await onNode(
        at().lab,
        at().node,
        `d=/run/dfw-rel-full; rm -rf $d && mkdir -p $d && cp -a /etc/docker-firewall/. $d/ &&
mount -t tmpfs -o size=64k dfw-rel-full /etc/docker-firewall && cp -a $d/. /etc/docker-firewall/ && rm -rf $d &&
{ dd if=/dev/zero of=/etc/docker-firewall/.filler bs=1k 2>/dev/null; true; }`,
      );
      const faultAt = performance.now();
      const outcome = await settle(op());
      return { faultAt, outcome, mustFail: true };
    },
    async clear() {
      await onNode(
        at().lab,
        at().node,
        "while mountpoint -q /etc/docker-firewall; do umount /etc/docker-firewall || break; done",
      );
    },
  };

  let restartMs = 2500;
  const dockerRestarts: Fault = {
    name: "dockerd restarting mid-apply",
    cause: /./,
    applies: () => true,
    async inject(_t, op, u) {
      const t0 = performance.now();
      const restart = restartDocker(at().lab, at().node.name);
      await sleep(u * restartMs);
      const outcome = await settle(op());
      await restart;
      restartMs = Math.max(500, performance.now() - t0);
      return { faultAt: t0, outcome, mustFail: false, note: `op at ${Math.round(u * 100)}% of the restart` };
    },
    clear: async () => undefined,
  };

  return { sshdKilled, ipsetMissing, diskFull, dockerRestarts };
}
