// Ownership tags: the first word of a managed rule's comment. "dfw:0100:https-from-lbs-1a2b3c4d" says who owns
// the rule (the resource id) and where its block sits (priority), so any process can order blocks it does not own.
// The one owner of the tag's syntax: the boot restore script and the persisted-state reader take theirs from here.
import { PRIORITY_MAX, PRIORITY_MIN, TAG_MAX_BYTES } from "../model/limits";

const PREFIX = "dfw:";
const PRIORITY_DIGITS = String(PRIORITY_MAX).length;
/** The longest id whose tag fits TAG_MAX_BYTES ("dfw:" + priority digits + ":" + id). */
export const RULE_ID_MAX = TAG_MAX_BYTES - PREFIX.length - PRIORITY_DIGITS - 1;
const ID_CHARS = "A-Za-z0-9_.-";

const TAG = new RegExp(`^${PREFIX}(\\d{${PRIORITY_DIGITS}}):([${ID_CHARS}]{1,${RULE_ID_MAX}})$`);
export const RULE_ID = new RegExp(`^[${ID_CHARS}]{1,${RULE_ID_MAX}}$`);
/** A saved rule line whose comment starts with a tag (`--comment "dfw:0100:…`). */
export const TAGGED_LINE = new RegExp(`--comment "${PREFIX}\\d{${PRIORITY_DIGITS}}:`);
/** TAGGED_LINE as a POSIX extended regular expression, for `grep -E` in shell. */
export const TAGGED_LINE_ERE = `--comment "${PREFIX}[0-9]{${PRIORITY_DIGITS}}:`;

export interface Tag {
  readonly priority: number;
  readonly id: string;
}

export function formatTag(tag: Tag): string {
  if (!Number.isInteger(tag.priority) || tag.priority < PRIORITY_MIN || tag.priority > PRIORITY_MAX) {
    throw new Error(`priority ${tag.priority} is outside ${PRIORITY_MIN}-${PRIORITY_MAX}`);
  }
  if (!RULE_ID.test(tag.id)) throw new Error(`rule id ${JSON.stringify(tag.id)} is not a valid tag id`);
  return `${PREFIX}${String(tag.priority).padStart(PRIORITY_DIGITS, "0")}:${tag.id}`;
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
