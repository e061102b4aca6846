// A gate that places a connection cut after the payload reached a lab node: the node's ipset becomes a wrapper
// that, once a rule tagged `tag` is in the kernel (the apply's read-back runs ipset), says so and waits while the
// gate is closed. The test then cuts the connection and opens the gate: the apply finished, its answer is lost.
import type { LabInventory, LabNode } from "../../lab/index";
import { onNode } from "./rel-lab";

const REAL = "/run/dfw-uo-ipset";
const GATE = "/run/dfw-uo-gate";
const REACHED = "/run/dfw-uo-reached";

const wrapper = (tag: string) => `#!/bin/sh
if [ -e ${GATE} ] && { iptables-nft-save -t filter; iptables-legacy-save -t filter; } 2>/dev/null | grep -q -- '${tag}'; then
  : >${REACHED}
  while [ -e ${GATE} ]; do sleep 0.02; done
fi
exec ${REAL} "$@"
`;

export class AnswerGate {
  constructor(
    private readonly lab: LabInventory,
    private readonly node: LabNode,
  ) {}

  /** Puts the wrapper in front of the node's ipset (its mount namespace is private to the node). */
  async install(tag: string): Promise<void> {
    await onNode(
      this.lab,
      this.node,
      `cp /usr/sbin/ipset ${REAL} && cat >/run/dfw-uo-wrapper && chmod 0755 /run/dfw-uo-wrapper && mount --bind /run/dfw-uo-wrapper /usr/sbin/ipset`,
      wrapper(tag),
    );
  }

  close = () => onNode(this.lab, this.node, `rm -f ${REACHED}; : >${GATE}`);
  open = () => onNode(this.lab, this.node, `rm -f ${GATE}`);

  /** Whether an apply reached the gate (polled up to `tries` times). */
  async reached(tries = 600): Promise<boolean> {
    for (let i = 0; i < tries; i++) {
      if ((await onNode(this.lab, this.node, `[ -e ${REACHED} ] && echo yes || true`)).trim() === "yes") return true;
    }
    return false;
  }

  remove = () =>
    onNode(
      this.lab,
      this.node,
      `rm -f ${GATE}; while mountpoint -q /usr/sbin/ipset; do umount /usr/sbin/ipset || break; done`,
    );
}
