// README.md's argument tables, generated from the zod schemas: every argument of DockerUserRule, IpSet and the
// connection, its type and default read from the schema, and for rule and set arguments the exact lines they
// become, rendered by the provider's own code. readme-table.test.ts fails when README.md and this disagree, or
// when a schema gains or loses an argument this file does not describe.
//   npx tsx test/program/readme-table.ts --write     # regenerate the block in README.md
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { z } from "zod";
import { ConnectionSchema } from "../../provider/model/connection";
import { ipSetArgs } from "../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../provider/model/rule";
import { UNKNOWN } from "../../provider/model/unknown";
import { expandRule } from "../../provider/netfilter/expand";
import { headerOf, renderAdd, renderCreate } from "../../provider/netfilter/ipset-text";
import { renderRuleSpec } from "../../provider/netfilter/render-rule";

export const BEGIN = "<!-- BEGIN GENERATED: argument tables (test/program/readme-table.ts) -->";
export const END = "<!-- END GENERATED: argument tables -->";
export const README = join(__dirname, "..", "..", "README.md");

type Example = Record<string, unknown>;
interface Doc {
  readonly what: string;
  /** Rule or set arguments that show what this one becomes (merged over the resource's base arguments). */
  readonly examples?: readonly Example[];
  /** Also show the IPv6 line. */
  readonly v6?: boolean;
}

const RULE_BASE = { action: "ACCEPT" };

/** DockerUserRule: one row per schema field (and per field of `log`). */
export const RULE_DOCS: Record<string, Doc> = {
  priority: {
    what: "Position in DOCKER-USER: blocks are ordered by priority, then id, above every rule nobody manages. It is the 4 digits of the ownership tag.",
    examples: [{ priority: 100 }],
  },
  action: {
    what: "What a matching packet gets. `RETURN` hands it on to Docker's own rules (which then forward it).",
    examples: [{ action: "ACCEPT" }, { action: "RETURN" }, { action: "DROP" }, { action: "REJECT" }],
  },
  rejectWith: {
    what: "The ICMP error (or TCP reset) a `REJECT` sends; named for IPv4, translated for IPv6.",
    examples: [{ action: "REJECT", protocol: "tcp", rejectWith: "tcp-reset" }],
  },
  log: {
    what: "Log the packets this rule acts on, in a rate-limited LOG rule right before it (log-before-drop). With `action: LOG` the rule only logs.",
    examples: [{ action: "DROP", log: { prefix: "dfw drop: ", rate: "2/min" } }],
  },
  "log.prefix": {
    what: "Log line prefix. At most 29 printable ASCII characters (the kernel keeps 29 and drops the rest silently), not starting with `-` (iptables-restore before 1.8.4 reads it as an option).",
    examples: [{ action: "LOG", log: { prefix: "DOCKER-USER dropped: " } }],
  },
  "log.level": {
    what: "Syslog level, 0-7 or its name.",
    examples: [{ action: "LOG", log: { level: "info" } }],
  },
  "log.rate": {
    what: "At most this many log lines (`N/sec`, `N/min`, `N/hour`).",
    examples: [{ action: "LOG", log: { rate: "10/min" } }],
  },
  "log.burst": {
    what: "Lines allowed in a burst before `rate` applies (needs `rate`; bounded so iptables-legacy accepts it).",
    examples: [{ action: "LOG", log: { rate: "10/min", burst: 20 } }],
  },
  family: {
    what: "IP family. Unset: IPv4, plus IPv6 where the host's Docker has an IPv6 DOCKER-USER; pinned by a literal address or a set.",
    examples: [{ family: "ipv6", action: "DROP" }],
    v6: true,
  },
  protocol: {
    what: "`tcp+udp` makes one kernel rule per protocol; `icmp` is ICMPv6 in IPv6.",
    examples: [
      { protocol: "udp", action: "DROP" },
      { protocol: "tcp+udp", publishedPorts: [53] },
    ],
  },
  source: {
    what: "Where the connection comes from: an address or CIDR, `{ range }`, or `{ set }` (an IpSet; `setFlags` for multi-dimension sets); `not: true` negates. A CIDR must be written as its network (`203.0.113.7/1` is refused, naming `128.0.0.0/1`); IPv4-mapped IPv6 addresses are kept in the form the kernel tools print (`::ffff:198.51.100.7`).",
    examples: [
      { source: "203.0.113.7" },
      { source: { address: "10.0.0.0/8", not: true }, action: "DROP" },
      { source: { range: "192.0.2.10-192.0.2.20" } },
      { source: { set: "lbs" } },
    ],
  },
  destination: {
    what: "Where the packet goes after Docker's DNAT (the container's address): the same forms as `source`.",
    examples: [{ destination: "172.17.0.2" }, { destination: { set: "backends" } }],
  },
  publishedPorts: {
    what: "Host ports as published with `docker run -p` (before DNAT), matched on the connection's original destination port; only the client's direction.",
    examples: [{ protocol: "tcp", publishedPorts: [443, "8000-8100"] }],
  },
  originalDestination: {
    what: "The host address the client connected to (for hosts with several addresses).",
    examples: [{ originalDestination: "198.51.100.101" }],
  },
  containerPorts: {
    what: "Ports inside the container (after DNAT).",
    examples: [{ protocol: "tcp", containerPorts: [80] }],
  },
  icmpType: {
    what: "ICMP type by name (right for both families) or number / `TYPE/CODE` (needs a pinned family).",
    examples: [{ protocol: "icmp", icmpType: "echo-request" }],
    v6: true,
  },
  inInterface: {
    what: "Interface the packet came in on, e.g. the WAN; `eth+` matches a prefix; `{ name, not: true }` negates. A name may not start with `-`.",
    examples: [
      { inInterface: "eth0", action: "DROP" },
      { inInterface: { name: "docker0", not: true }, action: "DROP" },
    ],
  },
  outInterface: {
    what: "Interface the packet leaves by (a Docker bridge for inbound traffic).",
    examples: [{ outInterface: "docker0" }],
  },
  connectionStates: {
    what: "conntrack states, e.g. `RELATED`, `ESTABLISHED` for answers to connections already allowed.",
    examples: [{ action: "RETURN", connectionStates: ["ESTABLISHED", "RELATED"] }],
  },
  comment: {
    what: "Your words, kept after the ownership tag in the rule's comment (at most 190 bytes, no control characters, no C1 or bidirectional formatting characters such as U+202E, which would make the preview read differently from the kernel's text).",
    examples: [{ comment: "web from the balancers" }],
  },
};

const SET_BASE = { name: "lbs", type: "hash:net" };

export const SET_DOCS: Record<string, Doc> = {
  name: { what: "The set's name on the host (its identity: a new name is a new set).", examples: [{ name: "lbs" }] },
  type: {
    what: "What a member is: an address, a network, or either with a protocol and port.",
    examples: [{ type: "hash:ip" }, { type: "hash:net,port", entries: ["10.0.0.0/8,tcp:443"] }],
  },
  family: { what: "One family per set; a rule using the set gets the same family.", examples: [{ family: "ipv6" }] },
  entries: {
    what: "Members: strings, or `{ entry, comment }`. Changes are swapped in atomically (a temporary set, then `ipset swap`). A CIDR must be its network (`10.1.2.3/24` is refused); comments follow the rule `comment` limits.",
    examples: [{ entries: ["198.51.100.0/26", { entry: "203.0.113.0/24", comment: "office" }] }],
  },
  timeout: { what: "Default lifetime of members in seconds (0 = permanent).", examples: [{ timeout: 3600 }] },
  maxelem: { what: "Most members the set can hold.", examples: [{ maxelem: 1024 }] },
  hashsize: {
    what: "Initial hash size (a power of two; the kernel grows it, so it is never drift).",
    examples: [{ hashsize: 4096 }],
  },
};

/** Connection fields: how each is used (they become no iptables). */
export const CONNECTION_DOCS: Record<string, Doc> = {
  host: { what: "DNS name or address of the Docker host." },
  port: { what: "SSH port." },
  user: { what: "Login user; with `sudo: true` a non-root user whose sudo needs no password." },
  password: { what: "Password (also answers keyboard-interactive). Secret; prefer a key or the agent." },
  privateKey: {
    what: "The key's contents (not a path). Secret. Better: stack config `docker-firewall:privateKey` or the ssh agent, which keep it out of resource state.",
  },
  privateKeyPassword: { what: "Passphrase of an encrypted `privateKey`. Secret." },
  agentSocketPath: { what: "ssh-agent socket; default: `SSH_AUTH_SOCK` of the process running Pulumi (never stored)." },
  hostKey: {
    what: 'The host\'s key, `"ssh-ed25519 AAAA…"` or `"SHA256:…"`: a different key is refused. Unset: the first key seen is trusted.',
  },
  dialErrorLimit: { what: "Failed dial attempts tolerated before giving up; -1 = no limit." },
  perDialTimeout: { what: "Seconds for one dial (TCP, SSH handshake, authentication); 0 = no limit." },
  proxy: { what: "A bastion to reach the host through: the same fields, without a nested `proxy`." },
  sudo: {
    what: "Run the firewall commands as `sudo -n sh -c '<constant script>'` (content goes on stdin, never on a command line).",
  },
};

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
    } else if (d.type === "union") {
      const options = (d.options as z.ZodType[]).filter((o) => {
        const od = defOf(o);
        return !(od.type === "literal" && (od.values as unknown[]).includes(UNKNOWN));
      });
      if (options.length !== 1) break;
      schema = options[0] as z.ZodType;
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
      const parts = [...new Set((d.options as z.ZodType[]).map(describeType))].filter((p) => p !== `\`${UNKNOWN}\``);
      return parts.join(" \\| ");
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

const TAG = { priority: 500, id: "web-1a2b3c4d" };

function renderRuleExample(example: Example, v6: boolean): string[] {
  const rule = dockerUserRuleArgs.parse({ ...RULE_BASE, ...example });
  const tag = { ...TAG, priority: rule.priority as number };
  const blocks = expandRule(rule, tag, ["ipv4", "ipv6"]);
  const show = (f: "ipv4" | "ipv6") =>
    blocks[f].map((r) => `${f === "ipv6" ? "ip6tables: " : ""}${renderRuleSpec(r)}`.replace(`${TAG.id}`, "<id>"));
  const v4 = show("ipv4");
  return v6 || v4.length === 0 ? [...v4, ...show("ipv6")] : v4;
}

function renderSetExample(example: Example): string[] {
  const spec = ipSetArgs.parse({ ...SET_BASE, ...example });
  return [
    renderCreate(spec.name as string, headerOf(spec), spec.hashsize),
    ...spec.entries.map((e) => renderAdd(spec.name as string, e)),
  ];
}

const code = (s: string) =>
  `<code>${s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "&#124;")}</code>`;

function checkDocs(kind: string, names: readonly string[], docs: Record<string, Doc>): void {
  const missing = names.filter((n) => !(n in docs));
  const extra = Object.keys(docs).filter((n) => !names.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `${kind}: the schema and the README table disagree: ` +
        `${missing.length ? `undocumented ${missing.join(", ")}` : ""}${missing.length && extra.length ? "; " : ""}` +
        `${extra.length ? `documented but not in the schema ${extra.join(", ")}` : ""} (edit test/program/readme-table.ts)`,
    );
  }
}

function table(
  kind: string,
  rows: Array<[string, z.ZodType]>,
  docs: Record<string, Doc>,
  render?: (example: Example, doc: Doc) => string[],
): string {
  checkDocs(
    kind,
    rows.map(([k]) => k),
    docs,
  );
  const head = render
    ? "| Argument | Type | Default | Meaning | Becomes |\n|---|---|---|---|---|"
    : "| Argument | Type | Default | Meaning |\n|---|---|---|---|";
  const lines = rows.map(([name, schema]) => {
    const doc = docs[name] as Doc;
    const cells = [`\`${name}\``, describeType(schema), describeDefault(schema), doc.what];
    if (render)
      cells.push(
        (doc.examples ?? [])
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
    table("DockerUserRule", fields(dockerUserRuleArgs, ["log"]), RULE_DOCS, (e, d) =>
      renderRuleExample(e, d.v6 === true),
    ),
    "",
    "### IpSet",
    "",
    "A set on the host: the `ipset restore` lines the provider sends to create it.",
    "",
    table("IpSet", fields(ipSetArgs), SET_DOCS, (e) => renderSetExample(e)),
    "",
    "### `connection` (every resource)",
    "",
    "The same shape as `@pulumi/command`'s remote connection (1.2.x), plus `sudo`. Secret in state.",
    "",
    table("connection", fields(ConnectionSchema), CONNECTION_DOCS),
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
