// Limits the kernel or the iptables/ipset tools enforce, several of them silently (by truncation).
// Measured on iptables 1.8.9 / ipset 7.17; the kernel round trips in test/kernel/ keep them honest.

/** xt_comment stores 255 bytes and silently truncates longer comments (even mid UTF-8 character). */
export const COMMENT_MAX_BYTES = 255;
/** Room kept for the ownership tag ("dfw:PPPP:<id> ") in front of a user's comment. */
export const TAG_MAX_BYTES = 64;
export const USER_COMMENT_MAX_BYTES = COMMENT_MAX_BYTES - TAG_MAX_BYTES - 1;
/** xt_LOG keeps 29 characters of --log-prefix and silently drops the rest. */
export const LOG_PREFIX_MAX = 29;
/** IPSET_MAXNAMELEN is 32 including the NUL. */
export const SET_NAME_MAX = 31;
/** IFNAMSIZ is 16 including the NUL. */
export const INTERFACE_NAME_MAX = 15;
/** ipset comment extension limit (IPSET_MAX_COMMENT_SIZE). */
export const SET_ENTRY_COMMENT_MAX = 255;
export const PRIORITY_MIN = 0;
export const PRIORITY_MAX = 9999;
/** Expansion guard: ports x protocols x families of one logical rule. */
export const MAX_KERNEL_RULES_PER_RULE = 64;
/** A `limit` rate per hour overflows xt_limit's u32 avg*burst check on iptables-legacy for large bursts. */
export const LIMIT_BURST_MAX = 100;
/** `--limit` units iptables accepts (per day is left out: it overflows xt_limit on iptables-legacy). */
export const RATE_UNIT_SECONDS: Readonly<Record<string, number>> = {
  sec: 1,
  second: 1,
  s: 1,
  min: 60,
  minute: 60,
  m: 60,
  hour: 3600,
  h: 3600,
};
