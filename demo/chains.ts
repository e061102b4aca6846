// What the demo shows of a host: its DOCKER-USER chains and ipsets as iptables-save / ipset save print them, over
// SSH, and the indentation the demo prints command output with.
import { type LabNode, sshExec } from "../lab/index";

/** DOCKER-USER (v4 and v6) and the ipsets of a node, as iptables-save / ipset save print them. */
export async function chainOf(node: LabNode): Promise<{ v4: string[]; v6: string[]; sets: string[] }> {
  const lines = (text: string) => text.split("\n").filter((l) => l.startsWith("-A DOCKER-USER"));
  const [v4, v6, sets] = await Promise.all([
    sshExec(node, "iptables-save -t filter"),
    sshExec(node, "ip6tables-save -t filter"),
    sshExec(node, "ipset save"),
  ]);
  return {
    v4: lines(v4.stdout),
    v6: lines(v6.stdout),
    sets: sets.stdout.split("\n").filter((l) => /^(create|add) (?!dfwtmp-)/.test(l)),
  };
}

export function indent(text: string, by = "    "): string {
  return text
    .split("\n")
    .map((l) => (l ? by + l : l))
    .join("\n");
}
