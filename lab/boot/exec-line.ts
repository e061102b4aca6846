// PURE. systemd's Exec*= command lines (systemd.service(5) "Command lines"): prefixes, quoting, C escapes,
// specifiers and $VAR / ${VAR} expansion, turned into an argv that is run without a shell, as systemd does.

export interface ExecCommand {
  readonly argv: readonly string[];
  /** "-": a failure is recorded but does not fail the unit. */
  readonly ignoreFailure: boolean;
  /** "@": argv[1] is argv[0] as the program sees it; we run argv[0] (the path) and drop the alias. */
  readonly prefixes: string;
}

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', "'": "'", " ": " ", s: " " };

/** Splits into words; each word remembers whether it was a whole unquoted $VAR (which systemd splits further). */
function words(line: string): { text: string; bareVar?: string }[] {
  const out: { text: string; bareVar?: string }[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i] as string)) i++;
    if (i >= line.length) break;
    const start = i;
    let text = "";
    let quoted = false;
    while (i < line.length && !/\s/.test(line[i] as string)) {
      const c = line[i] as string;
      if (c === '"' || c === "'") {
        quoted = true;
        const end = closingQuote(line, i);
        if (end < 0) throw new Error(`unbalanced quote in: ${line}`);
        text += unescapeQuoted(line.slice(i + 1, end));
        i = end + 1;
      } else if (c === "\\" && i + 1 < line.length) {
        text += ESCAPES[line[i + 1] as string] ?? line[i + 1];
        i += 2;
      } else {
        text += c;
        i++;
      }
    }
    const raw = line.slice(start, i);
    const bare = !quoted && /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(raw) ? raw.slice(1) : undefined;
    out.push(bare ? { text, bareVar: bare } : { text });
  }
  return out;
}

/** Index of the quote closing the one at `open`, skipping backslash-escaped characters; -1 if none. */
function closingQuote(line: string, open: number): number {
  for (let j = open + 1; j < line.length; j++) {
    if (line[j] === "\\") j++;
    else if (line[j] === line[open]) return j;
  }
  return -1;
}

const unescapeQuoted = (s: string) => s.replace(/\\(.)/g, (_, c: string) => ESCAPES[c] ?? c);

/** %n %N %p %i %I %t %% … for a unit name like "foo@bar.service". */
export function expandSpecifiers(text: string, unitName: string): string {
  const base = unitName.replace(/\.[^.]+$/, "");
  const at = base.indexOf("@");
  const prefix = at >= 0 ? base.slice(0, at) : base;
  const instance = at >= 0 ? base.slice(at + 1) : "";
  const table: Record<string, string> = {
    n: unitName,
    N: base,
    p: prefix,
    P: prefix,
    i: instance,
    I: instance,
    t: "/run",
    S: "/var/lib",
    C: "/var/cache",
    L: "/var/log",
    E: "/etc",
    h: "/root",
    u: "root",
    U: "0",
    "%": "%",
  };
  return text.replace(/%(.)/g, (m, c: string) => table[c] ?? m);
}

export function parseExecLine(line: string, unitName: string, env: Readonly<Record<string, string>>): ExecCommand {
  let rest = line.trim();
  let prefixes = "";
  while (/^[-@:+!]/.test(rest)) {
    prefixes += rest[0];
    rest = rest.slice(1);
  }
  const argv: string[] = [];
  for (const w of words(expandSpecifiers(rest, unitName))) {
    if (w.bareVar !== undefined) {
      // "$FOO" alone as a word is split on whitespace; an unset variable gives no word at all.
      argv.push(...(env[w.bareVar] ?? "").split(/\s+/).filter((s) => s !== ""));
    } else if (prefixes.includes(":")) {
      argv.push(w.text);
    } else {
      argv.push(w.text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, v: string) => env[v] ?? ""));
    }
  }
  if (prefixes.includes("@")) argv.splice(1, 1);
  if (argv.length === 0) throw new Error(`empty command line: ${line}`);
  return { argv, ignoreFailure: prefixes.includes("-"), prefixes };
}
