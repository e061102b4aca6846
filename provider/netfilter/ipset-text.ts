// `ipset save` text <-> sets, and the restore lines we emit. Only what drift cares about is kept from a saved
// header (type, family, maxelem, timeout, comment); hashsize/bucketsize/initval vary by themselves.
import type { IpFamily } from "../model/address";
import type { CanonicalEntry, IpSetSpec, SetType } from "../model/ipset";

export interface SetHeader {
  readonly type: string;
  readonly family: IpFamily;
  readonly maxelem: number;
  readonly timeout?: number;
  readonly comment: boolean;
}

export interface LiveSet {
  readonly name: string;
  readonly header: SetHeader;
  /** Canonical entry text -> its comment; per-entry timeouts are dropped (they count down). */
  readonly entries: ReadonlyMap<string, string | undefined>;
}

export class IpsetParseError extends Error {
  readonly kind = "IpsetParseError";
}

const inetFamily = (f: IpFamily) => (f === "ipv4" ? "inet" : "inet6");

export function headerOf(spec: IpSetSpec): SetHeader {
  return {
    type: spec.type,
    family: spec.family,
    maxelem: spec.maxelem,
    ...(spec.timeout !== undefined && { timeout: spec.timeout }),
    comment: spec.entries.some((e) => e.comment !== undefined),
  };
}

export function renderCreate(name: string, h: SetHeader, hashsize?: number): string {
  const parts = [`create ${name} ${h.type} family ${inetFamily(h.family)}`];
  if (hashsize !== undefined) parts.push(`hashsize ${hashsize}`);
  parts.push(`maxelem ${h.maxelem}`);
  if (h.timeout !== undefined) parts.push(`timeout ${h.timeout}`);
  if (h.comment) parts.push("comment");
  return parts.join(" ");
}

/** A member as ipset prints it: the entry, then its comment if any. */
export function memberText(entry: string, comment: string | undefined): string {
  // Entry comments were validated free of quotes, backslashes and control characters.
  return comment === undefined ? entry : `${entry} comment "${comment}"`;
}

export function renderAdd(name: string, e: CanonicalEntry): string {
  return `add ${name} ${memberText(e.entry, e.comment)}`;
}

function parseHeader(words: string[], lineNo: number): { name: string; header: SetHeader } {
  const [, name, type, ...opts] = words;
  if (!name || !type) throw new IpsetParseError(`ipset save line ${lineNo}: malformed create`);
  let family: IpFamily = "ipv4";
  let maxelem = 65536;
  let timeout: number | undefined;
  let comment = false;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i];
    if (o === "family") family = opts[++i] === "inet6" ? "ipv6" : "ipv4";
    else if (o === "maxelem") maxelem = Number(opts[++i]);
    else if (o === "timeout") timeout = Number(opts[++i]);
    else if (o === "comment") comment = true;
    else if (o === "hashsize" || o === "bucketsize" || o === "initval" || o === "netmask" || o === "markmask") i++;
  }
  return { name, header: { type, family, maxelem, ...(timeout !== undefined && { timeout }), comment } };
}

const ADD = /^add (\S+) (\S+)(.*)$/;
const COMMENT = /(?:^| )comment "([^"]*)"/;
const WHITESPACE = /\s/;

/** `add NAME ENTRY[ REST]` as ADD reads it, for the usual line (one space between words), without a regex: 100,000
 * entries are 100,000 lines. undefined: let ADD decide. */
function splitAdd(line: string): [name: string, entry: string, rest: string] | undefined {
  if (!line.startsWith("add ")) return undefined;
  const a = line.indexOf(" ", 4);
  if (a <= 4) return undefined;
  const b = line.indexOf(" ", a + 1);
  const name = line.slice(4, a);
  const entry = b < 0 ? line.slice(a + 1) : line.slice(a + 1, b);
  if (entry === "" || WHITESPACE.test(name) || WHITESPACE.test(entry)) return undefined;
  return [name, entry, b < 0 ? "" : line.slice(b)];
}

/** Parses `ipset save` output (any number of sets). */
export function parseIpsetSave(text: string): Map<string, LiveSet> {
  const sets = new Map<string, { name: string; header: SetHeader; entries: Map<string, string | undefined> }>();
  const lines = text.split("\n");
  let last: { name: string; entries: Map<string, string | undefined> } | undefined;
  for (let idx = 0; idx < lines.length; idx++) {
    const line = lines[idx] as string;
    if (line.trim() === "") continue;
    const lineNo = idx + 1;
    if (line.startsWith("create ")) {
      const { name, header } = parseHeader(line.split(" "), lineNo);
      sets.set(name, { name, header, entries: new Map() });
      continue;
    }
    const m = splitAdd(line) ?? ADD.exec(line)?.slice(1);
    if (!m) throw new IpsetParseError(`ipset save line ${lineNo}: unexpected ${JSON.stringify(line.slice(0, 120))}`);
    const [setName, entry, rest] = m as [string, string, string];
    const set = last?.name === setName ? last : sets.get(setName);
    if (!set) throw new IpsetParseError(`ipset save line ${lineNo}: entry for undeclared set ${setName}`);
    last = set;
    const c = rest === "" ? null : COMMENT.exec(rest);
    set.entries.set(entry, c ? c[1] : undefined);
  }
  return sets;
}

export function sameHeader(a: SetHeader, b: SetHeader): boolean {
  return (
    a.type === b.type &&
    a.family === b.family &&
    a.maxelem === b.maxelem &&
    a.timeout === b.timeout &&
    a.comment === b.comment
  );
}

export function isSetType(t: string): t is SetType {
  return ["hash:ip", "hash:net", "hash:ip,port", "hash:net,port"].includes(t);
}
