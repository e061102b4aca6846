// A reference model of iptables-restore --noflush for -D (by spec), -I (by position) and -A on one chain,
// used to check plans without a kernel; the kernel tests check the same plans against the real thing.
export function applyRestoreOps(chain: readonly string[], script: string | undefined, name = "DOCKER-USER"): string[] {
  const out = [...chain];
  if (!script) return out;
  for (const line of script.split("\n")) {
    if (line.startsWith("-D ")) {
      const spec = line.slice(`-D ${name} `.length);
      const i = out.indexOf(`-A ${name} ${spec}`);
      if (i < 0) throw new Error(`-D of a missing rule: ${line}`);
      out.splice(i, 1);
    } else if (line.startsWith("-I ")) {
      const m = new RegExp(`^-I ${name} (\\d+) (.*)$`).exec(line);
      if (!m) throw new Error(`bad insert ${line}`);
      const pos = Number(m[1]);
      if (pos < 1 || pos > out.length + 1) throw new Error(`insert position ${pos} out of range`);
      out.splice(pos - 1, 0, `-A ${name} ${m[2]}`);
    } else if (line.startsWith(`-A ${name} `)) {
      out.push(line);
    } else if (line !== "*filter" && line !== "COMMIT" && line !== "") {
      throw new Error(`unexpected script line ${line}`);
    }
  }
  return out;
}
