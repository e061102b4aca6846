// The ownership tag's room: every tag formatTag accepts, with the longest user comment the model allows, fits
// the 255 bytes xt_comment keeps (longer comments are truncated silently, tag and all).
import { describe, expect, it } from "vitest";
import { COMMENT_MAX_BYTES, PRIORITY_MAX, TAG_MAX_BYTES, USER_COMMENT_MAX_BYTES } from "../../provider/model/limits";
import { commentWithTag, formatTag, parseTag, RULE_ID, TAGGED_LINE } from "../../provider/netfilter/tag";

const fits = (id: string) => {
  try {
    formatTag({ priority: PRIORITY_MAX, id });
    return true;
  } catch {
    return false;
  }
};

describe("ownership tags", () => {
  it("every id a tag accepts keeps the tag within TAG_MAX_BYTES and the whole comment within the kernel's 255", () => {
    for (let n = 1; n <= 80; n++) {
      const id = "a".repeat(n);
      expect(fits(id), `id of ${n}`).toBe(RULE_ID.test(id));
      if (!fits(id)) continue;
      const tag = { priority: PRIORITY_MAX, id };
      expect(Buffer.byteLength(formatTag(tag)), `tag with an id of ${n}`).toBeLessThanOrEqual(TAG_MAX_BYTES);
      const comment = commentWithTag(tag, "x".repeat(USER_COMMENT_MAX_BYTES));
      expect(Buffer.byteLength(comment), `comment with an id of ${n}`).toBeLessThanOrEqual(COMMENT_MAX_BYTES);
    }
  });

  it("reads back what it writes, and a saved line carrying it is recognised as managed", () => {
    const tag = { priority: 42, id: "web_https.rule-1a2b3c4d" };
    expect(parseTag(formatTag(tag))).toEqual(tag);
    expect(TAGGED_LINE.test(`-A DOCKER-USER -m comment --comment "${formatTag(tag)} office" -j ACCEPT`)).toBe(true);
    expect(TAGGED_LINE.test('-A DOCKER-USER -m comment --comment "dfw:42:x" -j ACCEPT')).toBe(false);
  });
});
