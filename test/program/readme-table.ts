// README.md's argument tables, generated from the zod schemas: every argument of DockerUserRule, IpSet and the
// connection, its type, default and meaning read from the schema (the meaning from each field's `.meta`, see
// provider/model/argument-doc.ts), and for rule and set arguments the exact lines they become, rendered by the
// provider's own code. readme-table.test.ts fails when README.md and this disagree, or a field has no meaning.
//   npx tsx test/program/readme-table.ts --write     # regenerate the block in README.md
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { ArgumentDoc } from "../../provider/model/argument-doc";
import { ConnectionSchema } from "../../provider/model/connection";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { expandRule } from "../../provider/netfilter/expand";
import { headerOf, renderAdd, renderCreate } from "../../provider/netfilter/ipset-text";
import { renderRuleSpec } from "../../provider/netfilter/render-rule";

export const BEGIN = "<!-- BEGIN GENERATED: argument tables (test/program/readme-table.ts) -->";
export const END = "<!-- END GENERATED: argument tables -->";
export const README = join(__dirname, "..", "..", "README.md");

type Example = Record<string, unknown>;

const RULE_BASE = { action: "ACCEPT" };
const SET_BASE = { name: "lbs", type: "hash:net" };

// ---- schema introspection ---------------------------------------------------------------------------------------

type Def = { type: string; [k: string]: unknown };
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

function unwrap(s: z.ZodType): { schema: z.ZodType; optional: boolean; def?: unknown } {
  let schema = s;
  let optional = false;
  let dflt: unknown;
  for (;;) {
    const d = defOf(schema);
    if (d.type === "optional") {
      optional = true;
      schema = d.innerType as z.ZodType;
    } else if (d.type === "default") {
      dflt = typeof d.defaultValue === "function" ? (d.defaultValue as () => unknown)() : d.defaultValue;
      schema = d.innerType as z.ZodType;
    } else if (d.type === "pipe") {
      schema = d.in as z.ZodType;
    } else break;
  }
  return { schema, optional, ...(dflt !== undefined && { def: dflt }) };
}

/** A short type for the table: enum values, number bounds, element types. */
export function describeType(s: z.ZodType): string {
  const { schema } = unwrap(s);
  const d = defOf(schema);
  switch (d.type) {
    case "enum":
      return Object.values(d.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(" \\| ");
    case "number": {
      const n = schema as unknown as { minValue: number | null; maxValue: number | null; isInt: boolean };
      const lo = n.minValue !== null && Number.isFinite(n.minValue) ? n.minValue : undefined;
      const hi = n.maxValue !== null && Number.isFinite(n.maxValue) && n.maxValue < 2 ** 31 ? n.maxValue : undefined;
      const range = lo !== undefined && hi !== undefined ? ` ${lo}-${hi}` : lo !== undefined ? ` ≥ ${lo}` : "";
      return `${n.isInt ? "integer" : "number"}${range}`;
    }
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    case "literal":
      return (d.values as unknown[]).map((v) => `\`${String(v)}\``).join(" \\| ");
    case "array": {
      const element = describeType(d.element as z.ZodType);
      return element.includes("|") ? `(${element})[]` : `${element}[]`;
    }
    case "object":
      return "object";
    case "union": {
      return [...new Set((d.options as z.ZodType[]).map(describeType))].join(" \\| ");
    }
    default:
      return d.type;
  }
}

function describeDefault(s: z.ZodType): string {
  const u = unwrap(s);
  if (u.def !== undefined) return `\`${JSON.stringify(u.def)}\``;
  return u.optional ? "—" : "required";
}

function shapeOf(s: z.ZodType): Record<string, z.ZodType> {
  const { schema } = unwrap(s);
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape;
  if (!shape) throw new Error(`not an object schema: ${defOf(schema).type}`);
  return shape;
}

/** Schema fields, with one level of nested objects (`log.prefix`) for the fields listed in `nested`. */
function fields(s: z.ZodType, nested: readonly string[] = []): Array<[string, z.ZodType]> {
  return Object.entries(shapeOf(s)).flatMap(
    ([k, v]): Array<[string, z.ZodType]> =>
      nested.includes(k)
        ? [[k, v], ...Object.entries(shapeOf(v)).map(([n, f]): [string, z.ZodType] => [`${k}.${n}`, f])]
        : [[k, v]],
  );
}

// ---- rendering --------------------------------------------------------------------------------------------------

/** A field's README row, from its `.meta` (on the field or on a wrapper of it). */
export function docOf(s: z.ZodType): ArgumentDoc | undefined {
  for (let schema: z.ZodType | undefined = s; schema; ) {
    const meta = z.globalRegistry.get(schema) as ArgumentDoc | undefined;
    if (meta?.description) return meta;
    const d = defOf(schema);
    schema = (d.innerType ?? (d.type === "pipe" ? d.in : undefined)) as z.ZodType | undefined;
  }
  return undefined;
}

const TAG = { priority: 500, id: "web-1a2b3c4d" };

function renderRuleExample(example: Example, v6: boolean): string[] {
  const rule = dockerUserRuleArgs.parse({ ...RULE_BASE, ...example });
  const tag = { ...TAG, priority: rule.priority };
  const blocks = expandRule(rule, tag, ["ipv4", "ipv6"]);
  const show = (f: "ipv4" | "ipv6") =>
    blocks[f].map((r) => `${f === "ipv6" ? "ip6tables: " : ""}${renderRuleSpec(r)}`.replace(`${TAG.id}`, "<id>"));
  const v4 = show("ipv4");
  return v6 || v4.length === 0 ? [...v4, ...show("ipv6")] : v4;
}

function renderSetExample(example: Example): string[] {
  const spec = ipSetArgs.parse({ ...SET_BASE, ...example });
  return [renderCreate(spec.name, headerOf(spec), spec.hashsize), ...spec.entries.map((e) => renderAdd(spec.name, e))];
}

const code = (s: string) =>
  `<code>${s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "&#124;")}</code>`;

/** Every field's doc, or an error naming the fields without one (a field needs `.meta(doc({ description }))`). */
export function docsOf(kind: string, rows: ReadonlyArray<[string, z.ZodType]>): ArgumentDoc[] {
  const docs = rows.map(([, schema]) => docOf(schema));
  const missing = rows.filter((_, i) => docs[i] === undefined).map(([name]) => name);
  if (missing.length > 0)
    throw new Error(
      `${kind}: undocumented ${missing.join(", ")} (give the schema field a .meta(doc({ description })))`,
    );
  return docs as ArgumentDoc[];
}

function table(
  kind: string,
  rows: Array<[string, z.ZodType]>,
  render?: (example: Example, doc: ArgumentDoc) => string[],
): string {
  const docs = docsOf(kind, rows);
  const head = render
    ? "| Argument | Type | Default | Meaning | Becomes |\n|---|---|---|---|---|"
    : "| Argument | Type | Default | Meaning |\n|---|---|---|---|";
  const lines = rows.map(([name, schema], i) => {
    const doc = docs[i] as ArgumentDoc;
    const cells = [`\`${name}\``, describeType(schema), describeDefault(schema), doc.description];
    if (render)
      cells.push(
        (doc.renders ?? [])
          .flatMap((e) => render(e, doc))
          .map(code)
          .join("<br>"),
      );
    return `| ${cells.join(" | ")} |`;
  });
  return [head, ...lines].join("\n");
}

/** The generated block (without the markers). */
export function argumentTables(): string {
  return [
    "### DockerUserRule",
    "",
    "Each rule becomes one block of kernel rules in DOCKER-USER (one per port × protocol × family, with its LOG rule",
    'first when `log` is set), every one tagged `-m comment --comment "dfw:<priority>:<id>[ <comment>]"` (shown',
    "below as `dfw:0500:<id>`). The lines are exactly what `iptables-save` prints back, rendered by the provider.",
    "",
    table("DockerUserRule", fields(dockerUserRuleArgs, ["log", "target"]), (e, d) =>
      renderRuleExample(e, d.showIpv6 === true),
    ),
    "",
    "### IpSet",
    "",
    "A set on the host: the `ipset restore` lines the provider sends to create it.",
    "",
    table("IpSet", fields(ipSetArgs), (e) => renderSetExample(e)),
    "",
    "### `connection` (every resource)",
    "",
    "The same shape as `@pulumi/command`'s remote connection (1.2.x), plus `sudo`. Secret in state.",
    "",
    table("connection", fields(ConnectionSchema)),
  ].join("\n");
}

/** README.md with the generated block replaced. */
export function withTables(readme: string): string {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${BEGIN} … ${END} block`);
  return `${readme.slice(0, start + BEGIN.length)}\n${argumentTables()}\n${readme.slice(end)}`;
}

if (require.main === module && process.argv.includes("--write")) {
  writeFileSync(README, withTables(readFileSync(README, "utf8")));
  console.log(`updated ${README}`);
}
