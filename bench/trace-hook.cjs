// Preloaded into the dynamic-provider host by the benches (NODE_OPTIONS=--require): prints one line per remote
// execution the provider starts ("dfw-exec <ms since start> <host> <lock|read|apply|other>") to stderr, which
// EngineHost collects in its logs. Uses the package's own recorder (provider/node/commands.ts onCommandSent).
const path = require("node:path");
const t0 = Date.now();
try {
  const pkg = require.resolve("pulumi-docker-firewall/package.json", { paths: [process.cwd()] });
  const { onCommandSent } = require(path.join(path.dirname(pkg), "dist", "node", "commands.js"));
  onCommandSent((s) => {
    const kind = s.line.includes("wait_s")
      ? "lock"
      : s.line.includes("awk -v m=")
        ? "apply"
        : s.line.includes("@@")
          ? "read"
          : "other";
    process.stderr.write(`dfw-exec ${Date.now() - t0} ${s.host} ${kind}\n`);
  });
} catch (e) {
  process.stderr.write(`dfw-exec trace unavailable: ${e?.message}\n`);
}
