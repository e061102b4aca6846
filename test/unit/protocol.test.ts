// The host protocol's pure render/parse pairs invert each other, and the scripts spell every name the TS side uses.
import { describe, expect, it } from "vitest";
import { APPLY_STEPS } from "../../provider/protocol/apply-script";
import {
  BOOT_NAME_WORDS,
  BOOT_PATH_WORDS,
  NFT_PERSISTED_PATHS,
  PERSISTED_NAME_WORDS,
  PERSISTED_PATH_WORDS,
  PERSISTED_PATHS,
  STEP_FILE_NAME_WORDS,
  STEP_FILE_PATHS,
} from "../../provider/protocol/paths";
import { READ_STATE } from "../../provider/protocol/read-script";
import { READ_SECTIONS, renderSections, splitSections } from "../../provider/protocol/sections";
import {
  CLEANUP_FAILED,
  FAILED,
  parseApplyOutput,
  parseSteps,
  renderSteps,
  type Step,
} from "../../provider/protocol/steps";

const N = "00112233445566778899aabb";

describe("host protocol", () => {
  it("sections: render then split gives the sections back", () => {
    const sections: [string, string][] = [
      ["tools", "ipset\nflock\n"],
      ["nft4", '*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -m comment --comment "@@ffff end" -j RETURN\nCOMMIT'],
      ["nft6", ""],
      ["ipset", "\n\ncreate a hash:net\n"],
      ["end", ""],
    ];
    expect([...splitSections(renderSections(N, sections), N)]).toEqual(sections);
  });

  it("the read script prints every section, in order, and nothing else", () => {
    const printed = [...READ_STATE.matchAll(/^s (\S+)$/gm)].map((m) => m[1]);
    expect(printed).toEqual([...READ_SECTIONS]);
  });

  it("steps: render then parse gives the steps back", () => {
    const steps: Step[] = [
      { label: "", run: { tool: "ipset-exist", text: "destroy dfwtmp-1\n" } },
      {
        label: "",
        run: { tool: "ipset", text: "create a hash:net\nadd a 10.0.0.0/8\n" },
        abort: { tool: "ipset-exist", text: "destroy a\n" },
        undo: { tool: "ipset-exist", text: "\n\ndestroy a\n" },
      },
      {
        label: "",
        run: { tool: "nft-ipv4", text: "*filter\n-I DOCKER-USER 1 -j ACCEPT\nCOMMIT\n" },
        undo: { tool: "nft-ipv4", text: "*filter\n-D DOCKER-USER 1\nCOMMIT\n" },
      },
      { label: "", run: { tool: "persist", text: "" }, files: { config: "{}\n", "managed-sets": "", unit: "x\n\n" } },
      { label: "", run: { tool: "unpersist", text: "" } },
    ];
    const proof = { name: "node-lock", token: "abcdef" };
    expect(parseSteps(renderSteps(N, proof, steps))).toEqual({ nonce: N, proof, steps, complete: true });
  });

  it("steps: a list cut before its end section reads as incomplete", () => {
    const text = renderSteps(N, { name: "l", token: "00" }, [{ label: "", run: { tool: "ipset", text: "x\n" } }]);
    expect(parseSteps(text.slice(0, text.indexOf(`@@${N} end`))).complete).toBe(false);
  });

  it("apply output: the failing step, the failed cleanups and the state read that follows", () => {
    const text = renderSections(N, [
      [`${FAILED} 2`, "iptables-restore: line 2 failed\n"],
      [`${CLEANUP_FAILED} 1 undo`, "ipset v7.19: set busy\n"],
      ["tools", "ipset\n"],
      ["end", ""],
    ]);
    const out = parseApplyOutput(text, N);
    expect(out).toMatchObject({
      failed: { step: 1, message: "iptables-restore: line 2 failed" },
      cleanupFailures: ["1 undo"],
    });
    expect([...splitSections(out.stateText, N).keys()]).toEqual(["tools", "end"]);
  });

  it("the apply script maps every persisted file name, and the word lists match the path table", () => {
    for (const [name, path] of Object.entries(STEP_FILE_PATHS))
      expect(APPLY_STEPS).toContain(`${name}) echo ${path} ;;`);
    expect(STEP_FILE_NAME_WORDS.split(" ")).toEqual(Object.keys(STEP_FILE_PATHS));
    expect(PERSISTED_NAME_WORDS.split(" ")).toEqual(Object.keys(PERSISTED_PATHS));
    expect(PERSISTED_PATH_WORDS.split(" ")).toEqual(Object.values(PERSISTED_PATHS));
    expect(BOOT_NAME_WORDS.split(" ")).toEqual([...Object.keys(PERSISTED_PATHS), ...Object.keys(NFT_PERSISTED_PATHS)]);
    expect(BOOT_PATH_WORDS.split(" ")).toEqual([
      ...Object.values(PERSISTED_PATHS),
      ...Object.values(NFT_PERSISTED_PATHS),
    ]);
  });
});
