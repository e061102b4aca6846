// Validated scalar fields. Every check mirrors a limit the kernel or its tools enforce (see limits.ts), so that
// bad input fails at `pulumi preview`, with the field named, instead of being truncated or misread on a host.
import { z } from "zod";
import { type Cidr, formatCidrIptables, parseCidrStrict, parseIp, parseRange } from "./address";
import {
  INTERFACE_NAME_MAX,
  LIMIT_BURST_MAX,
  LOG_PREFIX_MAX,
  SET_ENTRY_COMMENT_MAX,
  SET_NAME_MAX,
  USER_COMMENT_MAX_BYTES,
} from "./limits";

// C0 controls, DEL, and the Unicode line/paragraph separators that some tools treat as newlines.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;
// C1 controls and the bidi formatting characters: they make a preview or a log show other text than the bytes
// the kernel gets (a right-to-left override reorders what follows it).
const INVISIBLE = /[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const INVISIBLE_ALL = new RegExp(INVISIBLE.source, "g");

/** Shows a hostile value safely inside an error message: control characters escaped, length capped. */
export function quoteValue(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  // JSON escapes C0 controls but leaves U+2028/U+2029, C1 and bidi controls raw; escape those too.
  return JSON.stringify(shown)
    .replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`)
    .replace(INVISIBLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** True for C0/DEL/line separators and for C1 and bidi formatting characters. */
export const hasControlCharacters = (s: string) => CONTROL.test(s) || INVISIBLE.test(s);

const NO_INVISIBLE = {
  message: "must not contain C1 control or bidirectional formatting characters (the text shown would differ)",
};

const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

export const comment = z
  .string()
  .refine((s) => !CONTROL.test(s), { message: "must not contain newlines or other control characters" })
  .refine((s) => !INVISIBLE.test(s), NO_INVISIBLE)
  .refine((s) => byteLength(s) <= USER_COMMENT_MAX_BYTES, {
    message: `must be at most ${USER_COMMENT_MAX_BYTES} bytes (the kernel keeps 255 and the ownership tag needs the rest)`,
  });

export const logPrefix = z
  .string()
  .min(1, { message: "must not be empty" })
  .refine((s) => !CONTROL.test(s), { message: "must not contain newlines or other control characters" })
  .refine((s) => /^[\x20-\x7e]*$/.test(s), { message: "must be printable ASCII" })
  // iptables-restore before 1.8.4 reads an argument starting with '-' as an option and refuses the line.
  .refine((s) => !s.startsWith("-"), {
    message: "must not start with '-' (older iptables-restore reads it as an option)",
  })
  .refine((s) => s.length <= LOG_PREFIX_MAX, {
    message: `must be at most ${LOG_PREFIX_MAX} characters (the kernel silently truncates longer prefixes)`,
  });

/** Names of the temporary sets a set change is built in; reserved, so no user set can collide with one. */
export const TEMP_SET_PREFIX = "dfwtmp-";

export const setName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, {
    message: "must start with a letter and use only letters, digits, '_', '.' and '-'",
  })
  .max(SET_NAME_MAX, { message: `must be at most ${SET_NAME_MAX} characters` })
  .refine((s) => !s.startsWith(TEMP_SET_PREFIX), {
    message: `the prefix '${TEMP_SET_PREFIX}' is reserved for temporary sets`,
  });

/** An interface name, optionally ending in iptables' `+` wildcard (`eth+`). */
export const interfaceName = z
  .string()
  .refine((s) => s !== "+", { message: "'+' alone matches every interface: omit the field instead" })
  .refine((s) => !s.startsWith("-"), {
    message: "must not start with '-' (older iptables-restore reads it as an option)",
  })
  .regex(/^[A-Za-z0-9_.@-]+\+?$/, {
    message: "must use only letters, digits, '_', '.', '@', '-' with an optional trailing '+' wildcard",
  })
  .max(INTERFACE_NAME_MAX, { message: `must be at most ${INTERFACE_NAME_MAX} characters` });

export const port = z
  .number({ message: "must be a number" })
  .int({ message: "must be a whole number" })
  .min(1, { message: "must be between 1 and 65535" })
  .max(65535, { message: "must be between 1 and 65535" });

/** A port or an inclusive range, written 8080, "8080", "8000-9000" or "8000:9000". */
export const portSpec = z.union([port, z.string()]).transform((value, ctx): { from: number; to: number } => {
  if (typeof value === "number") return { from: value, to: value };
  const m = /^(\d{1,5})(?:[-:](\d{1,5}))?$/.exec(value);
  const from = m ? Number(m[1]) : Number.NaN;
  const to = m?.[2] !== undefined ? Number(m[2]) : from;
  if (!m || from < 1 || to > 65535 || from > 65535 || to < 1) {
    ctx.addIssue({ code: "custom", message: "must be a port 1-65535 or a range like 8000-9000" });
    return z.NEVER;
  }
  if (from > to) {
    ctx.addIssue({ code: "custom", message: "range must be written low-high" });
    return z.NEVER;
  }
  return { from, to };
});
export type PortRange = z.output<typeof portSpec>;

/** A literal address or CIDR; DNS names are refused because they would be resolved once, on the host. */
export const addressOrCidr = z.string().superRefine((s, ctx) => {
  const r = parseCidrStrict(s);
  if (!r) return void ctx.addIssue({ code: "custom", message: "must be an IPv4/IPv6 address or CIDR (no hostnames)" });
  if (r.cidr.prefix === 0)
    return void ctx.addIssue({ code: "custom", message: "a /0 prefix matches everything: omit the field instead" });
  if (r.hostBits) ctx.addIssue({ code: "custom", message: hostBitsReason(r.cidr) });
});

/** Why a CIDR with bits set past its prefix is refused: the kernel would silently widen it to `network`. */
export function hostBitsReason(network: Cidr): string {
  return `has host bits set past the prefix: the network is ${formatCidrIptables(network)} (write that, or a longer prefix)`;
}

export const ipAddress = z.string().refine((s) => parseIp(s) !== undefined, {
  message: "must be a literal IPv4 or IPv6 address",
});

export const ipRange = z.string().refine((s) => parseRange(s) !== undefined, {
  message: "must be a range FIRST-LAST of two addresses of one family, FIRST <= LAST",
});

export const family = z.enum(["ipv4", "ipv6"]);

export const setEntryComment = z
  .string()
  .min(1, { message: "must not be empty (ipset refuses an empty comment): omit it instead" })
  .refine((s) => !CONTROL.test(s), { message: "must not contain newlines or other control characters" })
  .refine((s) => !INVISIBLE.test(s), NO_INVISIBLE)
  .refine((s) => !/["\\]/.test(s), { message: "must not contain double quotes or backslashes" })
  // Measured: ipset restore reads `comment "-exist"` as the -exist option (and fails, or worse), quotes or not.
  .refine((s) => !s.startsWith("-"), { message: "must not start with '-' (ipset would read it as an option)" })
  .refine((s) => byteLength(s) <= SET_ENTRY_COMMENT_MAX, {
    message: `must be at most ${SET_ENTRY_COMMENT_MAX} bytes`,
  });

/** `--limit` rate: N/sec, N/min or N/hour (per-day rates overflow xt_limit on iptables-legacy). */
export const rate = z.string().regex(/^([1-9]\d{0,5})\/(sec|second|s|min|minute|m|hour|h)$/, {
  message: "must look like 2/min (units: sec, min, hour)",
});

export const burst = z
  .number()
  .int()
  .min(1, { message: `must be between 1 and ${LIMIT_BURST_MAX}` })
  .max(LIMIT_BURST_MAX, { message: `must be between 1 and ${LIMIT_BURST_MAX}` });
