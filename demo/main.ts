// npm run demo [-- --keep-lab] [--lab-id ID] [--nodes N] [--no-ipv6] [--docker SPEC]... [--legacy NODES] [--inventory PATH] [--no-destroy]
//              [--engine auto|cli|driver] [--json PATH] [--write-readme]
// (demo/run.sh installs what is missing and builds first, then runs this.)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../lab/paths";
import { runDemo } from "./demo";
import { EXCERPTS, type Excerpt, excerpt, withReadmeBlock } from "./readme";

const USAGE = `usage: npm run demo -- [options]
  --keep-lab          leave the lab running at the end (then: DFW_LAB_ID=<id> npm run lab -- status|probe|down)
  --lab-id ID         lab id (default dfwdemo; never the id \`npm run lab\` uses by default)
  --nodes N           Docker hosts in the lab (default 4; the demo needs at least 2)
  --no-ipv6           IPv4 only (by default the lab has IPv6: filtered on Docker 28, open on 20.10, which makes
                      no IPv6 DOCKER-USER)
  --docker SPEC       Docker per node, repeatable: 28, 20.10, 29-nft or NODE=VERSION
                      (default: 28, node3=20.10, node4=29-nft)
  --legacy NODES      nodes on iptables-legacy, comma-separated (default node2); "" for none
                      (the default fleet: Docker 28 on iptables-nft, Docker 28 on iptables-legacy, Docker 20.10,
                      Docker 29 on its nftables backend)
  --inventory PATH    use a running lab (its inventory.json) instead of bringing one up; it is left running
  --no-destroy        keep the stack at the end (by default it is destroyed: each host's DOCKER-USER and sets
                      go back to how Docker left them)
  --engine E          auto (the real pulumi CLI when scripts/install-pulumi-cli.sh installed it, else the
                      engine-less driver as a fallback), cli, or driver
  --json PATH         also write the result (matrices, checks, timings) as JSON
  --write-readme      (real CLI only) rewrite README.md's preview and refresh excerpts from this run's output`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      "keep-lab": { type: "boolean", default: false },
      "lab-id": { type: "string", default: process.env.DFW_DEMO_LAB_ID ?? "dfwdemo" },
      nodes: { type: "string", default: "4" },
      ipv6: { type: "boolean", default: true },
      docker: { type: "string", multiple: true, default: ["28", "node3=20.10", "node4=29-nft"] },
      legacy: { type: "string", default: "node2" },
      inventory: { type: "string" },
      destroy: { type: "boolean", default: true },
      engine: { type: "string", default: "auto" },
      json: { type: "string" },
      "write-readme": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const engine = values.engine;
  if (engine !== "auto" && engine !== "cli" && engine !== "driver") throw new Error(`--engine: ${engine}?\n${USAGE}`);
  const nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 2) throw new Error("--nodes must be 2 or more");
  const legacyNodes = values.legacy
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n && Number(n.replace(/^node/, "")) <= nodes);
  const t0 = performance.now();
  const result = await runDemo({
    labId: values["lab-id"],
    nodes,
    ipv6: values.ipv6,
    docker: values.docker.filter((d) => !/^node(\d+)=/.test(d) || Number(/^node(\d+)=/.exec(d)?.[1]) <= nodes),
    legacyNodes,
    keepLab: values["keep-lab"],
    ...(values.inventory && { inventoryPath: values.inventory }),
    destroy: values.destroy,
    engine,
    log: (line) => console.log(line),
  });
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  if (values["write-readme"] && result.ok) {
    const run = result.transcripts;
    if (!run) throw new Error("--write-readme needs the real pulumi CLI (scripts/install-pulumi-cli.sh)");
    const path = join(REPO_ROOT, "README.md");
    let readme = readFileSync(path, "utf8");
    for (const which of Object.keys(EXCERPTS) as Excerpt[]) {
      readme = withReadmeBlock(readme, which, excerpt(which, run[which]));
    }
    writeFileSync(path, readme);
    console.log(`README.md: preview and refresh excerpts written from this run`);
  }
  const failed = result.checks.filter((c) => !c.ok).length;
  console.log("");
  console.log(
    failed === 0
      ? `demo OK: ${result.checks.length} checks passed in ${Math.round((performance.now() - t0) / 1000)} s`
      : `demo FAILED: ${failed} of ${result.checks.length} checks failed`,
  );
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  },
);
