// The canonical form, proven on the real kernel: for generated valid rules, render -> iptables-restore -> save gives
// back the rendered text byte for byte, and parsing the saved text gives back the model, on both backends and
// both families.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IpFamily } from "../../provider/model/address";
import { canonicalJson } from "../../provider/model/canonical-json";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { fieldFailures } from "../../provider/model/validation";
import { expandRule } from "../../provider/netfilter/expand";
import type { KernelRule } from "../../provider/netfilter/kernel-rule";
import { renderRule } from "../../provider/netfilter/render-rule";
import { ruleInput } from "../support/arbitraries";
import { type Backend, ScratchNamespace, savedChain, tools } from "../support/netns";
import { parseRuleLine } from "../support/parse-rule-line";

const CASES = Number(process.env.DFW_ROUNDTRIP_CASES ?? 1000);
const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

describe.each(["nft", "legacy"] as const)("kernel round trip on iptables-%s", (backend: Backend) => {
  let ns: ScratchNamespace;

  beforeAll(async () => {
    ns = await ScratchNamespace.create();
    await ns.installDockerUserChain(backend, "ipv4");
    await ns.installDockerUserChain(backend, "ipv6");
    await ns.mustRun(["ipset", "restore"], "create fcset4 hash:net family inet\ncreate fcset6 hash:net family inet6\n");
  });
  afterAll(async () => ns?.destroy());

  it.each(["ipv4", "ipv6"] as const)(
    `${CASES} generated rules, %s: saved text is the rendered text`,
    async (family: IpFamily) => {
      const inputs = fc.sample(ruleInput(family), { numRuns: CASES, seed: SEED + (family === "ipv4" ? 0 : 1) });
      const rendered: Array<{ rule: KernelRule; line: string; input: unknown }> = [];
      inputs.forEach((input, i) => {
        const parsed = dockerUserRuleArgs.safeParse(input);
        if (!parsed.success) {
          throw new Error(
            `model refused a valid input ${JSON.stringify(input)}: ${JSON.stringify(fieldFailures(parsed.error, input))}`,
          );
        }
        const blocks = expandRule(parsed.data, { priority: parsed.data.priority as number, id: `p${i}` }, [family]);
        for (const rule of blocks[family]) rendered.push({ rule, line: renderRule(rule), input });
      });

      const t = tools(backend, family);
      const script = ["*filter", ...rendered.map((r) => r.line), "COMMIT", ""].join("\n");
      const res = await ns.exec([t.restore, "-w", "5", "--noflush"], script);
      if (res.code !== 0) {
        const n = Number(/line:? (\d+)/.exec(res.stderr)?.[1] ?? 0);
        const bad = rendered[n - 2];
        throw new Error(
          `kernel refused a rendered rule (${res.stderr.trim()}): ${bad?.line}\ninput: ${JSON.stringify(bad?.input)}`,
        );
      }
      const saved = (await savedChain(ns, backend, family, "DOCKER-USER")).filter(
        (l) => l !== "-A DOCKER-USER -j RETURN",
      );
      await ns.mustRun([t.iptables, "-w", "5", "-F", "DOCKER-USER"]);

      const mismatches = rendered.filter((r, i) => saved[i] !== r.line);
      expect(
        mismatches.slice(0, 5).map((m) => ({ rendered: m.line, saved: saved[rendered.indexOf(m)], input: m.input })),
      ).toEqual([]);
      expect(saved).toHaveLength(rendered.length);
      const unparsed = rendered.filter(
        (r, i) => canonicalJson(parseRuleLine(saved[i] ?? "", family)) !== canonicalJson(r.rule),
      );
      expect(
        unparsed.slice(0, 3).map((r) => ({ line: r.line, parsed: parseRuleLine(r.line, family), model: r.rule })),
      ).toEqual([]);
      console.log(
        `[round trip] iptables-${backend} ${family}: ${inputs.length} generated rules -> ${rendered.length} kernel rules, byte-identical after save, parsed back to the model (seed ${SEED})`,
      );
    },
  );
});
