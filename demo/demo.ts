// The demo: the top-level program (examples/fleet) applied to a local lab of real Docker hosts, in nine stages
// with a progress line each: lab up, preview, up, the applied chains, the traffic matrix before and after,
// tampering by hand, refresh (the drift), up --refresh (the repair), destroy and summary.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  downLab,
  type LabInventory,
  labPaths,
  loadInventory,
  locateLab,
  type ProbeRow,
  probeLab,
  sshExec,
  upLab,
} from "../lab/index";
import { REPO_ROOT } from "../lab/paths";
import { chainOf, describeNode, indent, shownChain } from "./chains";
import { cliEngine, cliInstalled, type DemoEngine, driverEngine } from "./engines";
import { changedRows, filtersIpv6, renderMatrix, unexpected } from "./matrix";
import { cliMissing } from "./pulumi-cli";
import type { Transcripts } from "./readme";

export interface DemoOptions {
  /** Lab id (namespaces and state folder); the demo's own by default, so it never touches `npm run lab`'s. */
  readonly labId: string;
  readonly nodes: number;
  /** Give the lab IPv6 too: the matrix then has IPv6 rows (filtered on Docker 28, open on 20.10). */
  readonly ipv6: boolean;
  /** Docker per node, as the lab's `--docker` reads it (e.g. ["28", "node3=20.10"]). */
  readonly docker: readonly string[];
  /** Lab nodes whose iptables (and so Docker) use iptables-legacy rather than iptables-nft. */
  readonly legacyNodes: readonly string[];
  /** Leave the lab running at the end. */
  readonly keepLab: boolean;
  /** Use the lab of this inventory instead of bringing one up (it is then never torn down). */
  readonly inventoryPath?: string;
  /** Destroy the stack at the end: the hosts' DOCKER-USER and sets go back to how Docker left them. */
  readonly destroy: boolean;
  readonly engine: "auto" | "cli" | "driver";
  readonly log: (line: string) => void;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface DemoResult {
  readonly ok: boolean;
  readonly engine: string;
  readonly labId: string;
  readonly matrices: Readonly<Record<"before" | "applied" | "tampered" | "repaired", readonly ProbeRow[]>>;
  readonly drifted?: readonly string[];
  /** With the real CLI: what its preview and refresh printed (the README's excerpts come from these). */
  readonly transcripts?: Transcripts;
  readonly checks: readonly Check[];
  readonly stageMs: Readonly<Record<string, number>>;
}

const PROGRAM = "examples/fleet/index.ts";
const STAGES = 9;

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const log = opts.log;
  const stageMs: Record<string, number> = {};
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail?: string) => checks.push({ name, ok, ...(detail && { detail }) });
  let stageNo = 0;
  let stageStart = performance.now();
  let stageName = "";
  const endStage = () => {
    if (stageName) stageMs[stageName] = Math.round(performance.now() - stageStart);
  };
  const stage = (name: string, what: string) => {
    endStage();
    stageNo += 1;
    stageName = name;
    stageStart = performance.now();
    log("");
    log(`[${stageNo}/${STAGES}] ${what}`);
  };

  const useCli = opts.engine === "cli" || (opts.engine === "auto" && cliInstalled());
  if (useCli && !cliInstalled()) throw new Error(`--engine cli: ${cliMissing()}`);
  log(
    useCli
      ? "engine: the real pulumi CLI (every step below is a `pulumi` command)"
      : `engine: the engine-less driver, the fallback (${opts.engine === "driver" ? "--engine driver" : cliMissing()})`,
  );

  // ---- 1. lab -------------------------------------------------------------------------------------------------
  stage(
    "lab",
    opts.inventoryPath ? "lab: using an existing lab" : `lab up: ${opts.nodes} Docker hosts (lab ${opts.labId})`,
  );
  const ownLab = !opts.inventoryPath;
  let inventory: LabInventory;
  if (opts.inventoryPath) {
    inventory = loadInventory(opts.inventoryPath);
  } else {
    inventory = await upLab({
      labId: opts.labId,
      nodes: opts.nodes,
      ipv6: opts.ipv6,
      legacyNodes: opts.legacyNodes,
      docker: opts.docker,
      log: (m) => log(`    ${m}`),
    });
  }
  const invPath = opts.inventoryPath
    ? resolve(opts.inventoryPath)
    : labPaths(locateLab({ labId: opts.labId })).inventory;
  let engine: DemoEngine | undefined;
  try {
    for (const n of inventory.nodes) log(`    ${describeNode(n)}`);
    for (const c of inventory.clients) {
      log(`    client ${c.name}: ${c.ipv4} on the ${c.segment.toUpperCase()}${c.ipv6 ? ` (and ${c.ipv6})` : ""}`);
    }
    const families: Array<"ipv4" | "ipv6"> = inventory.ipv6 ? ["ipv4", "ipv6"] : ["ipv4"];
    const probe = () => probeLab(inventory, { families });
    const before = await probe();
    const initialChains = await Promise.all(inventory.nodes.map(chainOf));
    const names = new Map(inventory.nodes.map((n) => [`root@${n.ssh.host}:${n.ssh.port}`, n.name]));
    const hostName = (h: string) => names.get(h) ?? h;

    const engineOpts = {
      repoRoot: REPO_ROOT,
      program: join(REPO_ROOT, PROGRAM),
      project: "docker-firewall",
      stack: opts.labId,
      stateDir: join(inventory.stateDir, "demo"),
      labInventory: invPath,
      privateKeyPath: inventory.nodes[0]?.privateKeyPath ?? "",
      hostName,
      log,
    };
    engine = useCli ? await cliEngine(engineOpts) : await driverEngine(engineOpts);
    log(`    program: ${PROGRAM} (the root Pulumi.yaml's main), applied by the ${engine.name}`);

    // ---- 2. preview -------------------------------------------------------------------------------------------
    stage("preview", "preview: the planned iptables changes per host (nothing is changed yet)");
    const preview = await engine.preview();
    log(indent(preview.text));
    const afterPreview = await Promise.all(inventory.nodes.map(chainOf));
    check("preview changed nothing on the hosts", JSON.stringify(afterPreview) === JSON.stringify(initialChains));
    if (!preview.ok) throw new Error("the preview failed (see above)");

    // ---- 3. up ------------------------------------------------------------------------------------------------
    stage("up", "up: apply the policy");
    const up = await engine.up();
    log(indent(up.text));
    check("up succeeded", up.ok);
    if (!up.ok) throw new Error("up failed (see above)");

    // ---- 4. the chains ----------------------------------------------------------------------------------------
    stage(
      "chains",
      "the applied DOCKER-USER chain and sets per host (iptables-save / ipset save over SSH; nft list table on nftables)",
    );
    const applied = await Promise.all(inventory.nodes.map(chainOf));
    inventory.nodes.forEach((n, i) => {
      const c = applied[i];
      if (!c) return;
      log(`    ${n.name}:`);
      for (const l of shownChain(n, c)) log(`      ${l}`);
    });

    // ---- 5. traffic -------------------------------------------------------------------------------------------
    stage("traffic", "traffic matrix: before -> after (probes from the lab's clients to every published port)");
    const after = await probe();
    log(indent(renderMatrix(before, after)));
    const wrong = unexpected(inventory, after);
    check(
      "after up, every probe matches the policy",
      wrong.length === 0,
      wrong.map((r) => `${r.client} ${r.family} -> ${r.node} ${r.port}/${r.protocol}: ${r.result}`).join("; "),
    );
    const open6 = inventory.nodes.filter((n) => !filtersIpv6(n)).map((n) => n.name);
    if (inventory.ipv6 && open6.length > 0) {
      log(
        `    IPv6 stays open on ${open6.join(", ")}: Docker 20.10 publishes ports over IPv6 but makes no IPv6 DOCKER-USER to filter in.`,
      );
    }

    // ---- 6. tamper --------------------------------------------------------------------------------------------
    stage("tamper", "tamper by hand over SSH (what a colleague debugging at 3 a.m. might do)");
    const [n1, n2] = inventory.nodes;
    const denied = inventory.clients.find((c) => c.name === "denied");
    if (!n1 || !n2 || !denied) throw new Error("the demo needs two nodes and the lab's denied client");
    const dropLine = (applied[0]?.v4 ?? []).find((l) => l.includes(`:${n1.name}-drop-wan-`) && l.endsWith("-j DROP"));
    if (!dropLine) throw new Error(`no drop-wan DROP rule on ${n1.name}`);
    const spec = dropLine.slice("-A DOCKER-USER ".length);
    log(`    ${n1.name}$ iptables -D DOCKER-USER ${spec}`);
    const del = await sshExec(n1, "iptables-restore --noflush", {
      stdin: `*filter\n-D DOCKER-USER ${spec}\nCOMMIT\n`,
    });
    if (del.code !== 0) throw new Error(`tampering on ${n1.name} failed: ${del.stderr}`);
    log(`    ${n2.name}$ ipset add lbs ${denied.ipv4}`);
    const add = await sshExec(n2, `ipset add lbs ${denied.ipv4}`);
    if (add.code !== 0) throw new Error(`tampering on ${n2.name} failed: ${add.stderr}`);
    const tampered = await probe();
    log("    traffic now (after -> tampered):");
    log(indent(renderMatrix(after, tampered), "      "));
    check("the tampering opened holes the probes see", changedRows(after, tampered).length > 0);

    // ---- 7. refresh -------------------------------------------------------------------------------------------
    stage("refresh", "refresh: read every resource back from its host (the detected drift)");
    const refreshed = await engine.refresh();
    log(indent(refreshed.text));
    if (refreshed.drifted) {
      const found = new Set(refreshed.drifted);
      check(
        `refresh found the deleted rule (${n1.name}-drop-wan) and the added member (${n2.name}-lbs)`,
        found.has(`${n1.name}-drop-wan`) && found.has(`${n2.name}-lbs`),
        [...found].join(", "),
      );
      check(
        "refresh found nothing on the untouched hosts",
        [...found].every((n) => n.startsWith(`${n1.name}-`) || n.startsWith(`${n2.name}-`)),
        [...found].join(", "),
      );
    }

    // ---- 8. repair --------------------------------------------------------------------------------------------
    stage("repair", "up --refresh: read the hosts again and repair them");
    const repair = await engine.repair();
    log(indent(repair.text));
    check("the repairing up succeeded", repair.ok);
    const repaired = await probe();
    log("    traffic now (tampered -> repaired):");
    log(indent(renderMatrix(tampered, repaired), "      "));
    const stillWrong = unexpected(inventory, repaired);
    check(
      "after the repair, every probe matches the policy again",
      stillWrong.length === 0,
      stillWrong.map((r) => `${r.client} ${r.family} -> ${r.node} ${r.port}/${r.protocol}: ${r.result}`).join("; "),
    );
    const again = await engine.refresh();
    if (again.drifted)
      check("a refresh after the repair finds no drift", again.drifted.length === 0, again.drifted.join(", "));
    const settled = await engine.settled();
    check("a further preview has no changes", settled.ok, settled.detail);

    // ---- 9. summary -------------------------------------------------------------------------------------------
    stage("summary", opts.destroy ? "destroy, then summary" : "summary");
    if (opts.destroy) {
      const destroyed = await engine.destroy();
      log(indent(destroyed.text));
      const finalChains = await Promise.all(inventory.nodes.map(chainOf));
      check(
        "destroy left DOCKER-USER and the sets as Docker made them",
        JSON.stringify(finalChains) === JSON.stringify(initialChains),
      );
    }
    endStage();
    for (const c of checks) log(`    ${c.ok ? "ok  " : "FAIL"} ${c.name}${!c.ok && c.detail ? `: ${c.detail}` : ""}`);
    log(
      `    stage times: ${Object.entries(stageMs)
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
        .join(", ")}`,
    );
    return {
      ok: checks.every((c) => c.ok),
      engine: engine.name,
      labId: inventory.labId,
      matrices: { before, applied: after, tampered, repaired },
      ...(refreshed.drifted && { drifted: refreshed.drifted }),
      ...(engine.cli && { transcripts: { stack: opts.labId, preview: preview.text, refresh: refreshed.text } }),
      checks,
      stageMs,
    };
  } finally {
    await engine?.close();
    if (ownLab && !opts.keepLab) {
      log("");
      log(`tearing the lab down (keep it with --keep-lab) ...`);
      const r = await downLab({ labId: opts.labId });
      log(`lab ${r.labId} down: ${r.stopped} processes stopped, ${r.netnsDeleted.length} namespaces removed`);
    } else if (ownLab) {
      log("");
      log(`lab ${opts.labId} left running: DFW_LAB_ID=${opts.labId} npm run lab -- status | probe | down`);
      if (!existsSync(invPath)) log(`(no inventory at ${invPath})`);
    }
  }
}
