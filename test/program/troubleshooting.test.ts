// README.md's troubleshooting section quotes real failure messages: this runs every scenario against a lab of its
// own (demo/failure-messages.ts) and requires each message, with run-specific parts as placeholders, in the README.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectFailureMessages, normalizeMessage, SCENARIOS } from "../../demo/failure-messages";
import { downLab, type LabInventory, locateLab, upLab } from "../../lab/index";
import { claimLab, uniqueLabId } from "../../lab/owner";
import { REPO_ROOT } from "../../lab/paths";
import { README } from "./readme-table";

const LAB_ID = uniqueLabId("dfwtm");
const LAB = { labId: LAB_ID, stateDir: join(REPO_ROOT, ".lab", LAB_ID) };
let lab: LabInventory;

beforeAll(async () => {
  mkdirSync(LAB.stateDir, { recursive: true });
  claimLab(locateLab(LAB)); // torn down by the next run should this worker die first
  lab = await upLab({ ...LAB, nodes: 2 });
});

afterAll(async () => {
  await downLab(LAB);
  rmSync(LAB.stateDir, { recursive: true, force: true });
});

describe("README troubleshooting", () => {
  it("quotes the messages the code really prints", { timeout: 180_000 }, async () => {
    const readme = readFileSync(README, "utf8");
    const section = readme.slice(readme.indexOf("## Troubleshooting"));
    const messages = await collectFailureMessages(lab);
    for (const scenario of SCENARIOS) {
      const text = normalizeMessage(messages[scenario]);
      expect(section, `${scenario}:\n${text}`).toContain(`\`\`\`\n${text}\n\`\`\``);
    }
  });
});
