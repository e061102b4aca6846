// A checkout under /tmp (CI clones the repository into a fresh folder, which may be one): every node has a private
// /tmp, yet its dockerd runs from the unpacked Docker 28 in the checkout's cache folder.
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { downLab, locateLab, upLab } from "../../lab/index";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";

const labId = uniqueLabId("dfwtm");
const LAB = { labId, stateDir: join(REPO_ROOT, ".lab", labId) };
const cache = mkdtempSync("/tmp/dfw-cache-");
const before = process.env.DFW_CACHE_DIR;

afterAll(async () => {
  await downLab(locateLab(LAB));
  rmSync(locateLab(LAB).stateDir, { recursive: true, force: true });
  if (before === undefined) delete process.env.DFW_CACHE_DIR;
  else process.env.DFW_CACHE_DIR = before;
  rmSync(cache, { recursive: true, force: true });
});

it("runs Docker 28 from a cache folder under /tmp", async () => {
  // The checkout's own unpacked Docker 28, as install-docker28.sh left it (it only checks it is there).
  cpSync(join(REPO_ROOT, ".cache", "docker28"), cache, { recursive: true, verbatimSymlinks: true });
  process.env.DFW_CACHE_DIR = cache;
  mkdirSync(LAB.stateDir, { recursive: true });
  claimLab(locateLab(LAB));
  const lab = await upLab({ ...LAB, nodes: 1 });
  expect(lab.nodes[0]?.docker.version).toMatch(/^28\.5\./);
});
