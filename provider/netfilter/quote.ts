// The quoting rules of iptables-save (libxtables xtables_save_string) and the tokenizer of iptables-restore.
// Both are exact: a string printed by quoteIptables reads back unchanged through tokenizeRestoreLine.

const BARE = /^[A-Za-z0-9_-]+$/;

/** Prints a string argument exactly as iptables-save does: bare when safe, else in "…" with " \ ' escaped. */
export function quoteIptables(value: string): string {
  if (BARE.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

/**
 * Splits one restore/save line into arguments. Whitespace separates; "…" groups, and inside quotes a
 * backslash escapes the next character; outside quotes a backslash is literal. Returns undefined for an
 * unterminated quote or a quote glued to other characters, which iptables-restore would also refuse or misread.
 */
export function tokenizeRestoreLine(line: string): string[] | undefined {
  const tokens: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    if (c === '"') {
      let value = "";
      i++;
      let closed = false;
      while (i < line.length) {
        const d = line[i] as string;
        if (d === "\\" && i + 1 < line.length) {
          value += line[i + 1];
          i += 2;
        } else if (d === '"') {
          closed = true;
          i++;
          break;
        } else {
          value += d;
          i++;
        }
      }
      if (!closed) return undefined;
      if (i < line.length && line[i] !== " " && line[i] !== "\t") return undefined;
      tokens.push(value);
      continue;
    }
    let start = i;
    while (i < line.length && line[i] !== " " && line[i] !== "\t") {
      if (line[i] === '"') return undefined;
      i++;
    }
    tokens.push(line.slice(start, i));
    start = i;
  }
  return tokens;
}
