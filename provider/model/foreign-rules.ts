// The host policy for rules other tools put in DOCKER-USER (fail2ban, CrowdSec, hand-written ones): which stay
// above our blocks, and which exclusive mode leaves alone. Matchers are anchored globs (`*` any run, `?` one
// character) over a rule's jump target, ipset name or comment, from a small character set, so that the same
// pattern reads the same in the planner and in the boot script's awk (netfilter/foreign.ts renders both).
import { z } from "zod";

/** Longest pattern accepted: a chain or set name is at most 31 bytes, a comment 255. */
const NAME_GLOB_MAX = 64;
const COMMENT_GLOB_MAX = 255;

/** Characters of chain and set names (iptables and ipset accept more; these are the ones tools use). */
const NAME_GLOB = /^[A-Za-z0-9_.:+*?-]+$/;
/** Letters, digits, space and a few punctuation marks: nothing a shell would read, little an awk regex would. */
const COMMENT_GLOB = /^[A-Za-z0-9 _.,:;/@#%=+*?!-]+$/;

const glob = (max: number, chars: RegExp, what: string) =>
  z
    .string({ message: "must be a string (a glob: * and ? are wildcards)" })
    .min(1, { message: "must not be empty" })
    .max(max, { message: `must be at most ${max} characters` })
    .refine((s) => chars.test(s), { message: `may use only ${what}, and * or ? as wildcards` })
    .refine((s) => !/^\*+$/.test(s), { message: "must name something: a lone * would match every rule" });

const matcherShape = z
  .strictObject({
    /** The rule's jump target (`-j f2b-web`): a chain or a verdict. */
    jump: glob(NAME_GLOB_MAX, NAME_GLOB, "letters, digits and _ . : + -").optional(),
    /** An ipset the rule matches (`-m set --match-set crowdsec-blacklists src`). */
    set: glob(NAME_GLOB_MAX, NAME_GLOB, "letters, digits and _ . : + -").optional(),
    /** The rule's whole comment (`-m comment --comment "…"`). */
    comment: glob(COMMENT_GLOB_MAX, COMMENT_GLOB, "letters, digits, spaces and _ . , : ; / @ # % = + ! -").optional(),
  })
  .refine((m) => m.jump !== undefined || m.set !== undefined || m.comment !== undefined, {
    message: "must give at least one of jump, set or comment",
  });

/** One matcher: every field it gives must match (a list of matchers matches when any does). */
export type ForeignMatcher = z.output<typeof matcherShape>;

const matchers = z.array(matcherShape, { message: "must be a list of matchers ({ jump?, set?, comment? })" }).max(32, {
  message: "must hold at most 32 matchers",
});

export const foreignRulesPolicy = z.strictObject(
  {
    /** Foreign rules that stay above every managed block (the blocks go right after the last of them). */
    keepAbove: matchers.default([]),
    /** Foreign rules exclusive mode neither removes nor reports as drift. */
    ignore: matchers.default([]),
  },
  { message: "must be an object { keepAbove?, ignore? }" },
);

export type ForeignRulesInput = z.input<typeof foreignRulesPolicy>;
export type ForeignRulesPolicy = z.output<typeof foreignRulesPolicy>;

export const NO_FOREIGN_POLICY: ForeignRulesPolicy = { keepAbove: [], ignore: [] };

export const isEmptyPolicy = (p: ForeignRulesPolicy | undefined): boolean =>
  !p || (p.keepAbove.length === 0 && p.ignore.length === 0);
