// Ownership tags: the first word of a managed rule's comment. "dfw:0100:https-from-lbs-1a2b3c4d" says who owns
// the rule (the resource id) and where its block sits (priority), so any process can order blocks it does not own.

const TAG = /^dfw:(\d{4}):([A-Za-z0-9_.-]{1,56})$/;
export const RULE_ID = /^[A-Za-z0-9_.-]{1,56}$/;

export interface Tag {
  readonly priority: number;
  readonly id: string;
}

export function formatTag(tag: Tag): string {
  if (!Number.isInteger(tag.priority) || tag.priority < 0 || tag.priority > 9999) {
    throw new Error(`priority ${tag.priority} is outside 0-9999`);
  }
  if (!RULE_ID.test(tag.id)) throw new Error(`rule id ${JSON.stringify(tag.id)} is not a valid tag id`);
  return `dfw:${String(tag.priority).padStart(4, "0")}:${tag.id}`;
}

export function parseTag(word: string): Tag | undefined {
  const m = TAG.exec(word);
  return m ? { priority: Number(m[1]), id: m[2] as string } : undefined;
}

/** The tag of a comment, if its first word is one of ours. */
export function tagOfComment(comment: string): Tag | undefined {
  return parseTag(comment.split(" ", 1)[0] ?? "");
}

export function commentWithTag(tag: Tag, userComment: string | undefined): string {
  return userComment ? `${formatTag(tag)} ${userComment}` : formatTag(tag);
}

/** Block order: priority, then id (so two resources with one priority still have one stable order). */
export function compareTags(a: Tag, b: Tag): number {
  return a.priority - b.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** A tag-safe resource id (at most 49 characters): the logical name made safe, plus a hex suffix for uniqueness. */
export function makeRuleId(name: string, suffixHex: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 40) || "rule";
  return `${safe}-${suffixHex.slice(0, 8)}`;
}
