// FakeHost's ipsets: what `ipset [-exist] restore` does (line by line and NOT atomic: the lines before a refused
// one stay applied, as with the real tool) and what `ipset save` prints. Sets used by a rule cannot be destroyed.
import type { IpFamily } from "../../../provider/model/address";
import { tokenizeRestoreLine } from "../../../provider/netfilter/quote";
import type { LineVeto } from "./filter-table";

interface FakeSet {
  type: string;
  family: IpFamily;
  hashsize: number;
  maxelem: number;
  timeout?: number;
  comment: boolean;
  /** Entry as written -> its comment. */
  entries: Map<string, string | undefined>;
}

export type IpsetResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

const TYPES = new Set(["hash:ip", "hash:net", "hash:ip,port", "hash:net,port"]);

/** The family an entry's address is written in (the part before any `,port`). */
const entryFamily = (entry: string): IpFamily => ((entry.split(",")[0] ?? "").includes(":") ? "ipv6" : "ipv4");

export class FakeIpsets {
  private sets = new Map<string, FakeSet>();

  clone(): FakeIpsets {
    const c = new FakeIpsets();
    for (const [n, s] of this.sets) c.sets.set(n, { ...s, entries: new Map(s.entries) });
    return c;
  }

  family(name: string): IpFamily | undefined {
    return this.sets.get(name)?.family;
  }

  names(): string[] {
    return [...this.sets.keys()];
  }

  /** `ipset save`: sets in creation order, entries in insertion order, hash internals fixed. */
  save(): string {
    const out: string[] = [];
    for (const [name, s] of this.sets) {
      const opts = [
        `family ${s.family === "ipv4" ? "inet" : "inet6"}`,
        `hashsize ${s.hashsize}`,
        `maxelem ${s.maxelem}`,
      ];
      if (s.timeout !== undefined) opts.push(`timeout ${s.timeout}`);
      if (s.comment) opts.push("comment");
      out.push(`create ${name} ${s.type} ${opts.join(" ")} bucketsize 12 initval 0x00000000`);
      for (const [e, c] of s.entries) {
        const t = s.timeout !== undefined ? ` timeout ${s.timeout}` : "";
        out.push(`add ${name} ${e}${t}${c === undefined ? "" : ` comment "${c}"`}`);
      }
    }
    return out.map((l) => `${l}\n`).join("");
  }

  /** `ipset [-exist] restore <text`; `inUse` says which sets rules reference. */
  restore(text: string, exist: boolean, inUse: (name: string) => boolean, veto?: LineVeto): IpsetResult {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] as string).trim();
      if (line === "" || line.startsWith("#")) continue;
      const why = veto?.(i + 1, line) ?? this.line(line, exist, inUse);
      if (why) return { ok: false, message: `ipset v7.17: Error in line ${i + 1}: ${why}` };
    }
    return { ok: true };
  }

  private line(line: string, exist: boolean, inUse: (name: string) => boolean): string | undefined {
    const words = tokenizeRestoreLine(line);
    if (!words || words.length === 0) return "Syntax error: unbalanced quotes";
    const [op, name, ...rest] = words as [string, string | undefined, ...string[]];
    const missing = "The set with the given name does not exist";
    switch (op) {
      case "create":
        return name ? this.create(name, rest, exist) : "Syntax error: missing set name";
      case "add":
      case "del": {
        const set = name ? this.sets.get(name) : undefined;
        if (!set) return missing;
        const [entry, ...opts] = rest;
        if (!entry) return "Syntax error: missing element";
        return op === "add" ? this.add(set, entry, opts, exist) : this.del(set, entry, exist);
      }
      case "swap": {
        const other = rest[0];
        const a = name ? this.sets.get(name) : undefined;
        const b = other ? this.sets.get(other) : undefined;
        if (!a || !b || !name || !other) return missing;
        if (a.type !== b.type || a.family !== b.family) return "The sets cannot be swapped: their type does not match";
        this.sets.set(name, b);
        this.sets.set(other, a);
        return undefined;
      }
      case "rename": {
        const to = rest[0];
        const set = name ? this.sets.get(name) : undefined;
        if (!set || !name || !to) return missing;
        if (this.sets.has(to)) return "Set cannot be renamed: a set with the new name already exists";
        this.sets.delete(name);
        this.sets.set(to, set);
        return undefined;
      }
      case "destroy":
      case "flush": {
        const targets = name ? [name] : [...this.sets.keys()];
        for (const n of targets) {
          const set = this.sets.get(n);
          if (!set) {
            if (exist && op === "destroy") continue;
            return missing;
          }
          if (op === "flush") set.entries.clear();
          else if (inUse(n)) return "Set cannot be destroyed: it is in use by a kernel component";
          else this.sets.delete(n);
        }
        return undefined;
      }
      default:
        return `Syntax error: unknown command ${op}`;
    }
  }

  private create(name: string, opts: string[], exist: boolean): string | undefined {
    const [type, ...rest] = opts;
    if (!type || !TYPES.has(type)) return `Syntax error: unknown settype ${type ?? ""}`;
    const set: FakeSet = { type, family: "ipv4", hashsize: 1024, maxelem: 65536, comment: false, entries: new Map() };
    for (let i = 0; i < rest.length; i++) {
      const o = rest[i];
      const v = rest[i + 1];
      if (o === "family" && (v === "inet" || v === "inet6")) set.family = v === "inet" ? "ipv4" : "ipv6";
      else if (o === "hashsize" && v && /^\d+$/.test(v)) set.hashsize = Math.max(64, 2 ** Math.ceil(Math.log2(+v)));
      else if (o === "maxelem" && v && /^\d+$/.test(v)) set.maxelem = Number(v);
      else if (o === "timeout" && v && /^\d+$/.test(v)) set.timeout = Number(v);
      else if (o === "comment") {
        set.comment = true;
        continue;
      } else if ((o === "bucketsize" || o === "initval") && v) {
        // Hash internals: accepted and not kept.
      } else return `Syntax error: unknown argument ${o}`;
      i++;
    }
    const live = this.sets.get(name);
    if (live) {
      const same = live.type === set.type && live.family === set.family && live.timeout === set.timeout;
      return exist && same ? undefined : "Set cannot be created: set with the same name already exists";
    }
    this.sets.set(name, set);
    return undefined;
  }

  private add(set: FakeSet, entry: string, opts: string[], exist: boolean): string | undefined {
    let comment: string | undefined;
    for (let i = 0; i < opts.length; i += 2) {
      const [o, v] = [opts[i], opts[i + 1]];
      if (o === "comment" && v !== undefined) {
        if (!set.comment) return "Comment extension is not supported by the set";
        comment = v;
      } else if (o === "timeout" && v !== undefined && /^\d+$/.test(v)) {
        if (set.timeout === undefined) return "Timeout extension is not supported by the set";
      } else return `Syntax error: unknown argument ${o}`;
    }
    if (entryFamily(entry) !== set.family)
      return `Syntax error: cannot parse ${entry.split(",")[0]}: resolving to ${set.family === "ipv4" ? "IPv4" : "IPv6"} address failed`;
    if (set.type.endsWith(",port") !== entry.includes(",")) return `Syntax error: cannot parse ${entry}`;
    if (set.entries.has(entry)) {
      if (!exist) return "Element cannot be added to the set: it's already added";
    } else if (set.entries.size >= set.maxelem) return "Hash is full, cannot add more elements";
    set.entries.set(entry, comment);
    return undefined;
  }

  private del(set: FakeSet, entry: string, exist: boolean): string | undefined {
    if (!set.entries.delete(entry) && !exist) return "Element cannot be deleted from the set: it's not added";
    return undefined;
  }
}
