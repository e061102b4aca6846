// Runs `pulumi <args>` with a program served in-process by the SDK's own language server: the one the Automation
// API serves inline programs with, reached by the CLI's `--client` flag. The Go module proxy does not serve the
// pulumi-language-nodejs binary (scripts/install-pulumi-cli.sh), so this is how the real CLI runs our programs.
// Started by demo/pulumi-cli.ts in the project's directory; DFW_PROGRAM names the program (default ./index.js),
// DFW_PULUMI_CLI the CLI. A .ts program needs this process started with `--import tsx`.

const { spawn } = require("node:child_process");
const { dirname, resolve } = require("node:path");

// The project's own SDK copy, the one its program loads: a second copy would not see the program's resources.
const from = { paths: [process.cwd()] };
const sdkDir = dirname(require.resolve("@pulumi/pulumi/package.json", from));
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [sdkDir] }));
const { LanguageServer } = require(require.resolve("@pulumi/pulumi/automation/server", from));
const langrpc = require(require.resolve("@pulumi/pulumi/proto/language_grpc_pb", from));
const { grpcChannelOptions } = require(require.resolve("@pulumi/pulumi/runtime", from));

const main = resolve(process.env.DFW_PROGRAM || "./index.js");
const programDir = dirname(main);
// `pulumi up` runs the program twice (its preview, then the update): load it (and its local modules) afresh each time.
const program = () => {
  for (const k of Object.keys(require.cache)) {
    if (k.startsWith(programDir) && !k.includes("/node_modules/")) delete require.cache[k];
  }
  return require(main);
};

(async () => {
  const server = new grpc.Server({ ...grpcChannelOptions });
  const language = new LanguageServer(program);
  server.addService(langrpc.LanguageRuntimeService, language);
  const port = await new Promise((ok, fail) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))),
  );
  const args = [...process.argv.slice(2), `--client=127.0.0.1:${port}`, "--exec-kind", "auto.inline"];
  const cli = spawn(process.env.DFW_PULUMI_CLI || "pulumi", args, { stdio: "inherit" });
  cli.on("exit", (code) => {
    language.onPulumiExit(code !== 0);
    server.forceShutdown();
    process.exit(code ?? 1);
  });
})();
