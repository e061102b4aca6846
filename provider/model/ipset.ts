// IpSet arguments. Entries are canonicalised here to exactly what `ipset save` prints, so desired and live
// sets compare as plain string sets.
import { z } from "zod";
import { bitsOf, formatCidrIpset, type IpFamily, parseCidrStrict } from "./address";
import { doc } from "./argument-doc";
import { hostBitsReason, quoteValue, setEntryComment, setName } from "./primitives";
import { isUnknown, type Lift, lifts } from "./unknown";

export const SET_TYPES = ["hash:ip", "hash:net", "hash:ip,port", "hash:net,port"] as const;
export type SetType = (typeof SET_TYPES)[number];

const entryInput = z.union([
  z.string(),
  // The comment is checked with the entry (in the transform below) so every entry problem is reported at once.
  z.object({ entry: z.string(), comment: z.string().optional() }).strict(),
]);

export interface CanonicalEntry {
  readonly entry: string;
  readonly comment?: string;
}

/** One entry as `ipset save` prints it, or an error message naming what is wrong. */
export function canonicalEntry(text: string, type: SetType, family: IpFamily): { entry: string } | { error: string } {
  const withPort = type === "hash:ip,port" || type === "hash:net,port";
  const [addrText, portText, ...extra] = text.split(",");
  if (extra.length > 0 || (withPort && portText === undefined) || (!withPort && portText !== undefined)) {
    return {
      error: withPort ? "must be ADDRESS,PROTO:PORT (e.g. 10.0.0.1,tcp:443)" : "must be a single address or CIDR",
    };
  }
  const parsed = parseCidrStrict(addrText ?? "");
  const c = parsed?.cidr;
  if (!c) return { error: "is not a literal IPv4/IPv6 address or CIDR (no hostnames, no ranges)" };
  if (c.family !== family) return { error: `is ${c.family} but the set's family is ${family}` };
  if (c.prefix === 0) return { error: "a /0 prefix is not allowed in a set" };
  if (parsed.hostBits) return { error: hostBitsReason(c) };
  if (type.startsWith("hash:ip") && c.prefix !== bitsOf(family)) {
    return { error: `${type} holds single addresses; use hash:net for CIDRs` };
  }
  let entry = formatCidrIpset(c);
  if (withPort) {
    const m = /^(?:(tcp|udp|sctp|udplite):)?(\d{1,5})$/.exec(portText ?? "");
    const port = m ? Number(m[2]) : Number.NaN;
    if (!m || port < 0 || port > 65535)
      return { error: "port must be PROTO:PORT with PROTO tcp/udp/sctp/udplite and PORT 0-65535" };
    entry += `,${m[1] ?? "tcp"}:${port}`;
  }
  return { entry };
}

const ipSetOf = (u: Lift) =>
  z
    .object({
      name: u(setName).meta(
        doc({
          description: "The set's name on the host (its identity: a new name is a new set).",
          renders: [{ name: "lbs" }],
        }),
      ),
      type: z.enum(SET_TYPES, { message: `must be one of ${SET_TYPES.join(", ")}` }).meta(
        doc({
          description: "What a member is: an address, a network, or either with a protocol and port.",
          renders: [{ type: "hash:ip" }, { type: "hash:net,port", entries: ["10.0.0.0/8,tcp:443"] }],
        }),
      ),
      family: z
        .enum(["ipv4", "ipv6"])
        .default("ipv4")
        .meta(
          doc({
            description: "One family per set; a rule using the set gets the same family.",
            renders: [{ family: "ipv6" }],
          }),
        ),
      entries: u(z.array(u(entryInput)))
        .default([])
        .meta(
          doc({
            description:
              "Members: strings, or `{ entry, comment }`. A packet is always judged by the old members or the new ones, never by a mix neither holds: a few changed members go in place (added before removed, with `-exist`), more or a header change through a temporary set and `ipset swap`. A CIDR must be its network (`10.1.2.3/24` is refused); comments follow the rule `comment` limits.",
            renders: [{ entries: ["198.51.100.0/26", { entry: "203.0.113.0/24", comment: "office" }] }],
          }),
        ),
      timeout: z
        .number()
        .int()
        .min(0)
        .max(2147483)
        .optional()
        .meta(
          doc({ description: "Default lifetime of members in seconds (0 = permanent).", renders: [{ timeout: 3600 }] }),
        ),
      maxelem: z
        .number()
        .int()
        .min(1)
        .max(2 ** 31 - 1)
        .default(65536)
        .meta(doc({ description: "Most members the set can hold.", renders: [{ maxelem: 1024 }] })),
      hashsize: z
        .number()
        .int()
        .min(64)
        .max(2 ** 26)
        .refine((n) => (n & (n - 1)) === 0, { message: "must be a power of two" })
        .optional()
        .meta(
          doc({
            description: "Initial hash size (a power of two; the kernel grows it, so it is never drift).",
            renders: [{ hashsize: 4096 }],
          }),
        ),
    })
    .strict()
    .transform((s, ctx) => {
      const entries: CanonicalEntry[] = [];
      const byEntry = new Map<string, CanonicalEntry>();
      // The preview instance may hold the sentinel for the list or any entry: those are checked once known.
      const list = isUnknown(s.entries) ? [] : s.entries;
      list.forEach((e, i) => {
        if (isUnknown(e)) return;
        const text = typeof e === "string" ? e : e.entry;
        const comment = typeof e === "string" ? undefined : e.comment;
        if (comment !== undefined && !isUnknown(comment)) {
          const cr = setEntryComment.safeParse(comment);
          if (!cr.success) {
            for (const issue of cr.error.issues)
              ctx.addIssue({ code: "custom", path: ["entries", i, "comment"], message: issue.message });
          }
        }
        const c = canonicalEntry(text, s.type, s.family);
        if ("error" in c) {
          ctx.addIssue({
            code: "custom",
            path: ["entries", i],
            message: `${quoteValue(text)} ${c.error}`,
          });
          return;
        }
        const prior = byEntry.get(c.entry);
        if (prior) {
          if (prior.comment !== comment) {
            ctx.addIssue({
              code: "custom",
              path: ["entries", i],
              message: `${c.entry} is listed twice with different comments`,
            });
          }
          return;
        }
        const ce = comment === undefined ? { entry: c.entry } : { entry: c.entry, comment };
        byEntry.set(c.entry, ce);
        entries.push(ce);
      });
      if (entries.length > s.maxelem) {
        ctx.addIssue({
          code: "custom",
          path: ["entries"],
          message: `has ${entries.length} entries but maxelem is ${s.maxelem}`,
        });
      }
      return { ...s, entries };
    });

/** A set whose every value is known: what apply, diff and the core take. */
export const ipSetArgs = ipSetOf(lifts.known);
/** What check validates at preview: the name and the entries may still be unknown. */
export const ipSetPreview: z.ZodType<unknown> = ipSetOf(lifts.preview);

export type IpSetInput = z.input<typeof ipSetArgs>;
export type IpSetSpec = z.output<typeof ipSetArgs>;
