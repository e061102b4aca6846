// Run any example without the Pulumi CLI: the engine-less driver with state in a JSON file.
//   npx tsx demo/engine/cli.ts preview|up|refresh|destroy examples/gitops [--stack dev] [--config KEY=VALUE]...
//       [--secret KEY=VALUE]... [--state PATH]
// With no `docker-firewall:hosts` given, the program targets the local lab (DFW_LAB_ID / DFW_LAB_DIR, as
// `npm run lab` does), and the lab's key is passed as the secret stack config `docker-firewall:privateKey`.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadInventory } from "../../lab/inventory";
import { inventoryPath, REPO_ROOT } from "../../lab/paths";
import { renderRefresh, renderSteps } from "../report";
import { EngineHost } from "./host";
import { EnginelessStack } from "./stack";

const USAGE = `usage: npx tsx demo/engine/cli.ts preview|up|refresh|destroy PROGRAM_DIR [--stack NAME] [--config KEY=VALUE]...
       [--secret KEY=VALUE]... [--state PATH]`;

function pairs(list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list ?? []) {
    const i = p.indexOf("=");
    if (i <= 0) throw new Error(`expected KEY=VALUE, got ${p}`);
    const key = p.slice(0, i);
    out[key.includes(":") ? key : `docker-firewall:${key}`] = p.slice(i + 1);
  }
  return out;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      stack: { type: "string", default: "dev" },
      config: { type: "string", multiple: true },
      secret: { type: "string", multiple: true },
      state: { type: "string" },
    },
  });
  const [command, programArg] = positionals;
  if (!command || !programArg || !["preview", "up", "refresh", "destroy"].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  const programDir = resolve(programArg.endsWith(".ts") ? dirname(programArg) : programArg);
  const program = join(programDir, "index.ts");
  const yaml = readFileSync(join(programDir, "Pulumi.yaml"), "utf8");
  const project = /^name:\s*(\S+)/m.exec(yaml)?.[1] ?? basename(programDir);
  const config = { ...pairs(values.config) };
  const secrets = pairs(values.secret);
  if (!config["docker-firewall:hosts"] && !secrets["docker-firewall:privateKey"]) {
    const inv = config["docker-firewall:labInventory"] ?? inventoryPath();
    if (!existsSync(inv)) throw new Error(`no lab at ${inv}: npm run lab -- up, or give --config hosts=[…]`);
    config["docker-firewall:labInventory"] = inv;
    const node = loadInventory(inv).nodes[0];
    if (node) secrets["docker-firewall:privateKey"] = readFileSync(node.privateKeyPath, "utf8");
  }
  const all = { ...config, ...secrets };
  // On the lab, name hosts as the lab does (node1, …) rather than root@127.0.0.1:port.
  const names = new Map<string, string>();
  const inv = config["docker-firewall:labInventory"];
  if (inv && !config["docker-firewall:hosts"]) {
    for (const n of loadInventory(inv).nodes) names.set(`${n.rootUser}@${n.ssh.host}:${n.ssh.port}`, n.name);
  }
  const hostName = (h: string) => names.get(h) ?? h;
  const statePath = values.state ?? join(REPO_ROOT, ".lab", "state", `${project}.${values.stack}.json`);
  mkdirSync(dirname(statePath), { recursive: true });
  const host = await EngineHost.start({
    cwd: REPO_ROOT,
    project,
    config: all,
    onLog: (l) => console.log(`[provider] ${l}`),
  });
  try {
    const stack = new EnginelessStack(host, {
      project,
      stack: values.stack,
      config: all,
      secretKeys: Object.keys(secrets),
      load: () => {
        for (const k of Object.keys(require.cache))
          if (k.startsWith(join(REPO_ROOT, "examples"))) delete require.cache[k];
        return require(program);
      },
    });
    if (existsSync(statePath)) stack.load(statePath);
    let ok = true;
    if (command === "refresh") {
      console.log(renderRefresh(await stack.refresh(), hostName));
    } else if (command === "destroy") {
      console.log(renderSteps(await stack.destroy(), hostName));
    } else {
      const r = command === "preview" ? await stack.preview() : await stack.up();
      console.log(renderSteps(r.steps, hostName));
      for (const f of r.failures) console.log(`error: ${f.urn.slice(f.urn.lastIndexOf("::") + 2)}: ${f.message}`);
      ok = r.failures.length === 0;
    }
    if (command !== "preview") stack.save(statePath);
    console.log(`state: ${statePath} (${stack.state.size} resources)`);
    return ok ? 0 : 1;
  } finally {
    host.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(2);
  },
);
