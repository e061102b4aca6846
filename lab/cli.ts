// npm run lab -- <cmd>: up | down | status | probe | reboot NODE | restart-docker NODE | exec NODE -- CMD...
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { isEmptyFootprint } from "./down";
import {
  downLab,
  execOnNode,
  inventoryPath,
  labStatus,
  loadInventory,
  probeLab,
  rebootNode,
  renderProbeTable,
  renderStatus,
  restartDocker,
  upLab,
} from "./index";

const USAGE = `usage: lab <command>
  up [--nodes 3] [--rtt-ms 0] [--docker 28|20.10|29-nft|NODE=VERSION]... [--no-ipv6] [--legacy NODE]... [--json]
     [--keep-on-failure]
  down
  status [--json]
  probe [--json]
  reboot NODE [--json]
  restart-docker NODE
  exec NODE -- CMD [ARGS...]
env: DFW_LAB_ID (default dfwlab), DFW_LAB_DIR (default <repo>/.lab/<id>)`;

const current = () => {
  const path = inventoryPath();
  if (!existsSync(path)) throw new Error(`no lab is up here (no ${path}); run: lab up`);
  return loadInventory(path);
};

async function main(argv: string[]): Promise<number> {
  const dashdash = argv.indexOf("--");
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const tail = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    allowNegative: true,
    options: {
      nodes: { type: "string", default: "3" },
      "rtt-ms": { type: "string", default: "0" },
      ipv6: { type: "boolean", default: true },
      docker: { type: "string", multiple: true, default: [] },
      legacy: { type: "string", multiple: true, default: [] },
      json: { type: "boolean", default: false },
      "keep-on-failure": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [cmd, nodeArg] = positionals;
  const out = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data, null, 2) : human);
  const node = () => {
    if (!nodeArg) throw new Error(`${cmd} needs a NODE (e.g. node1)`);
    return nodeArg;
  };
  switch (cmd) {
    case "up": {
      const start = performance.now();
      const inventory = await upLab({
        nodes: Number(values.nodes),
        rttMs: Number(values["rtt-ms"]),
        ipv6: values.ipv6,
        legacyNodes: values.legacy,
        docker: values.docker,
        keepOnFailure: values["keep-on-failure"],
        log: values.json ? undefined : (m) => console.error(m),
      });
      const ms = Math.round(performance.now() - start);
      const fleet = inventory.nodes
        .map((n) => `${n.name} Docker ${n.docker.version} ${n.docker.firewallBackend ?? n.iptablesBackend}`)
        .join(", ");
      out(
        `lab ${inventory.labId} up: ${inventory.nodes.length} nodes (${fleet}) in ${ms} ms; inventory ${inventoryPath()}`,
        inventory,
      );
      return 0;
    }
    case "down": {
      const r = await downLab();
      console.log(
        `lab ${r.labId} down: stopped ${r.stopped} processes, deleted ${r.netnsDeleted.length} namespaces` +
          (isEmptyFootprint(r.left) ? "; nothing left" : `; LEFT: ${JSON.stringify(r.left)}`),
      );
      return isEmptyFootprint(r.left) ? 0 : 1;
    }
    case "status": {
      const s = await labStatus(current());
      out(renderStatus(s), s);
      return 0;
    }
    case "probe": {
      const start = performance.now();
      const rows = await probeLab(current());
      out(`${renderProbeTable(rows)}\n(${rows.length} probes in ${Math.round(performance.now() - start)} ms)`, rows);
      return 0;
    }
    case "reboot": {
      const r = await rebootNode(current(), node());
      const units = r.units.map(
        (u) =>
          `  ${u.unit}: ${u.state}${u.reason ? ` (${u.reason})` : ""}; verify ${u.verify.ok ? "clean" : `NOT clean: ${u.verify.output}`}` +
          u.commands
            .map((c) => `\n    ${c.phase} ${c.argv.join(" ")} -> ${c.code}${c.stderr ? `: ${c.stderr.trim()}` : ""}`)
            .join(""),
      );
      out([`${r.node} rebooted in ${r.ms} ms; start order: ${r.order.join(" → ")}`, ...units].join("\n"), r);
      return r.units.every((u) => u.state !== "failed") ? 0 : 1;
    }
    case "restart-docker": {
      const r = await restartDocker(current(), node());
      console.log(`${node()}: dockerd ${r.version} restarted in ${r.ms} ms`);
      return 0;
    }
    case "exec": {
      if (tail.length === 0) throw new Error("exec needs a command after --");
      const r = await execOnNode(current(), node(), tail, process.stdin.isTTY ? undefined : await readStdin());
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code;
    }
    default:
      console.error(USAGE);
      return cmd === undefined || values.help ? 0 : 2;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`lab: ${e.message}`);
    process.exit(1);
  },
);
