import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasControlCharacters } from "../../provider/model/primitives";
import { quoteIptables, tokenizeRestoreLine } from "../../provider/netfilter/quote";

describe("iptables string quoting", () => {
  // Observed iptables-save output for these comments.
  it.each([
    ["xy", "xy"],
    ["x y", '"x y"'],
    ["it's", `"it\\'s"`],
    ['say "hi"', '"say \\"hi\\""'],
    ["a\\b", '"a\\\\b"'],
    ["", '""'],
    ["a;b&c|d$e`f", '"a;b&c|d$e`f"'],
    ["managed-by=tool id=42", '"managed-by=tool id=42"'],
    ["dfw:0100:x", '"dfw:0100:x"'],
  ])("%j prints as %s", (value, printed) => {
    expect(quoteIptables(value)).toBe(printed);
  });

  it("tokenizer reads back whatever the quoter prints (property)", () => {
    const safeString = fc.string({ unit: "grapheme", maxLength: 80 }).filter((s) => !hasControlCharacters(s));
    fc.assert(
      fc.property(fc.array(safeString, { maxLength: 6 }), (words) => {
        const line = ["-A", "X", ...words.map(quoteIptables)].join(" ");
        expect(tokenizeRestoreLine(line)).toEqual(["-A", "X", ...words]);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses unterminated or glued quotes instead of misreading them", () => {
    expect(tokenizeRestoreLine('-A X -m comment --comment "open -j ACCEPT')).toBeUndefined();
    expect(tokenizeRestoreLine('-A X --comment "x"y')).toBeUndefined();
    expect(tokenizeRestoreLine('-A X --comment a"b')).toBeUndefined();
    // Outside quotes a backslash is literal, as in iptables-restore.
    expect(tokenizeRestoreLine("-A X it\\'s")).toEqual(["-A", "X", "it\\'s"]);
  });
});
