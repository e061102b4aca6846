// Hostile input: generated strings (shell metacharacters, quotes, newlines, NUL, unicode, over-long) pushed
// through every string field of every resource. Each is refused by `check` with the field named, or rendered
// inert (the kernel gets it back as one exact argument). On a lab node, the command lines sent over SSH are
// only ever the provider's constants: user data travels on stdin.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LabInventory, type LabNode, sshExec } from "../../lab/index";
import { hasControlCharacters } from "../../provider/model/primitives";
import { tokenizeRestoreLine } from "../../provider/netfilter/quote";
import { Commands, recordCommands } from "../../provider/node/commands";
import { LockReadCommands } from "../../provider/node/lock-read";
import { NetfilterCommands } from "../../provider/node/netfilter-commands";
import { useSessions } from "../../provider/resources/hosts";
import { ipSetProvider } from "../../provider/resources/ipset-provider";
import { persistentProvider } from "../../provider/resources/persistent-provider";
import { ruleProvider } from "../../provider/resources/rule-provider";
import { sharedLab } from "../support/lab";
import { recordCase } from "./results";

const CASES = Number(process.env.DFW_FUZZ_CASES ?? 300);

const hostile = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.string({
    unit: fc.constantFrom(
      "'",
      '"',
      "\\",
      "$",
      "`",
      ";",
      "|",
      "&",
      "\n",
      "\r",
      "\u0000",
      " ",
      "(",
      ")",
      "#",
      "-",
      "!",
      "a",
      "✓",
      "\u2028",
    ),
    maxLength: 40,
  }),
  fc.constantFrom(
    "$(reboot)",
    "`id`",
    "'; rm -rf / #",
    "a\n-A DOCKER-USER -j ACCEPT",
    "--comment x",
    "-j ACCEPT",
    "\u0000",
    "x".repeat(300),
    "lbs,src",
  ),
);

const connection = { host: "198.51.100.10", user: "deploy" };

/** Where a hostile string can go, per resource: [resource, field path, how to place it]. */
const FIELDS: Array<[string, string, (v: string) => Record<string, unknown>]> = [
  ["rule", "comment", (v) => ({ action: "ACCEPT", comment: v })],
  ["rule", "log.prefix", (v) => ({ action: "LOG", log: { prefix: v } })],
  ["rule", "log.rate", (v) => ({ action: "LOG", log: { rate: v } })],
  ["rule", "source", (v) => ({ action: "ACCEPT", source: v })],
  ["rule", "source.range", (v) => ({ action: "ACCEPT", source: { range: v } })],
  ["rule", "source.set", (v) => ({ action: "ACCEPT", source: { set: v } })],
  ["rule", "source.setFlags", (v) => ({ action: "ACCEPT", source: { set: "lbs", setFlags: v } })],
  ["rule", "destination", (v) => ({ action: "ACCEPT", destination: v })],
  ["rule", "originalDestination", (v) => ({ action: "ACCEPT", originalDestination: v })],
  ["rule", "inInterface", (v) => ({ action: "ACCEPT", inInterface: v })],
  ["rule", "outInterface.name", (v) => ({ action: "ACCEPT", outInterface: { name: v } })],
  ["rule", "publishedPorts.0", (v) => ({ action: "ACCEPT", protocol: "tcp", publishedPorts: [v] })],
  ["rule", "icmpType", (v) => ({ action: "ACCEPT", protocol: "icmp", family: "ipv4", icmpType: v })],
  ["rule", "target.container", (v) => ({ action: "DROP", target: { container: v } })],
  ["rule", "target.composeService", (v) => ({ action: "DROP", target: { composeService: v } })],
  ["rule", "target.composeProject", (v) => ({ action: "DROP", target: { composeService: "api", composeProject: v } })],
  ["rule", "target.label", (v) => ({ action: "DROP", target: { label: v } })],
  ["rule", "action", (v) => ({ action: v })],
  ["rule", "rejectWith", (v) => ({ action: "REJECT", rejectWith: v })],
  ["rule", "connection.host", (v) => ({ action: "ACCEPT", connection: { host: v } })],
  ["rule", "connection.user", (v) => ({ action: "ACCEPT", connection: { host: "h", user: v } })],
  ["rule", "connection.hostKey", (v) => ({ action: "ACCEPT", connection: { host: "h", hostKey: v } })],
  ["rule", "connection.agentSocketPath", (v) => ({ action: "ACCEPT", connection: { host: "h", agentSocketPath: v } })],
  ["ipset", "name", (v) => ({ name: v, type: "hash:net" })],
  ["ipset", "entries.0", (v) => ({ name: "s", type: "hash:net", entries: [v] })],
  [
    "ipset",
    "entries.0.comment",
    (v) => ({ name: "s", type: "hash:net", entries: [{ entry: "10.0.0.0/8", comment: v }] }),
  ],
  ["persistent", "connection.host", (v) => ({ connection: { host: v } })],
  // Credentials: refused or accepted, a failure never carries their value (checked below).
  ["rule", "connection.password", (v) => ({ action: "ACCEPT", connection: { host: "h", password: v } })],
  ["rule", "connection.privateKey", (v) => ({ action: "ACCEPT", connection: { host: "h", privateKey: v } })],
  [
    "rule",
    "connection.privateKeyPassword",
    (v) => ({ action: "ACCEPT", connection: { host: "h", privateKeyPassword: v } }),
  ],
  [
    "ipset",
    "connection.proxy.password",
    (v) => ({ name: "s", type: "hash:net", connection: { proxy: { host: "b", password: v } } }),
  ],
  [
    "persistent",
    "connection.proxy.privateKeyPassword",
    (v) => ({ connection: { proxy: { host: "b", privateKeyPassword: v } } }),
  ],
];

const SECRET_FIELD = /\.(password|privateKey|privateKeyPassword)$/;

const providers = { rule: ruleProvider, ipset: ipSetProvider, persistent: persistentProvider } as const;

describe("hostile strings in every field", () => {
  // The hosts named here do not exist: a check that reads its host (an nftables host changes the preview lines) finds
  // it unreachable at once instead of waiting out a dial per generated credential.
  let restore = () => {};
  beforeAll(() => {
    restore = useSessions((conn) => {
      throw new Error(`no host in this test: ${conn.host}`);
    });
  });
  afterAll(() => restore());

  it.each(FIELDS)(
    `%s %s: ${CASES} generated values are refused with the field named, or rendered inert`,
    async (kind, field, place) => {
      const samples = fc.sample(hostile, { numRuns: CASES, seed: 42 });
      let refused = 0;
      let inert = 0;
      for (const v of samples) {
        const args = place(v);
        const news = {
          ...(kind === "rule" && { ruleName: "fuzz" }),
          ...args,
          connection: { ...connection, ...((args.connection as object) ?? {}) },
        };
        const r = await (providers[kind as keyof typeof providers].check as NonNullable<typeof ruleProvider.check>)(
          {} as never,
          news as never,
        );
        if (r.failures && r.failures.length > 0) {
          refused++;
          const prefix = field.split(".")[0] as string;
          expect(
            r.failures.some((f) => f.property.startsWith(prefix)),
            `${JSON.stringify(v)} -> ${JSON.stringify(r.failures)}`,
          ).toBe(true);
          for (const f of r.failures) expect(hasControlCharacters(f.reason)).toBe(false);
          // A credential's value never shows, not even escaped or cut (values this short also occur in words).
          if (SECRET_FIELD.test(field) && v.length >= 6) {
            const whole = JSON.stringify(r.failures);
            expect(whole).not.toContain(v);
            expect(whole).not.toContain(JSON.stringify(v.slice(0, 6)).slice(1, -1));
          }
          continue;
        }
        inert++;
        // Accepted: every rendered line is one clean line whose comment reads back as exactly tag + the value.
        const rendered = (r.inputs as { rendered?: { ipv4: string[]; ipv6: string[] } }).rendered;
        for (const line of [...(rendered?.ipv4 ?? []), ...(rendered?.ipv6 ?? [])]) {
          expect(hasControlCharacters(line)).toBe(false);
          const tokens = tokenizeRestoreLine(line);
          expect(tokens).toBeDefined();
          const tag = /"?(dfw:\d{4}:[A-Za-z0-9_.-]+)/.exec(line)?.[1];
          if (field === "comment")
            expect(tokens?.[(tokens?.indexOf("--comment") ?? 0) + 1]).toBe(v ? `${tag} ${v}` : tag);
        }
      }
      recordCase(`fuzz ${kind}.${field}`, samples.length, samples.length, 0);
      expect(refused + inert).toBe(samples.length);
    },
  );
});

describe("on a lab node: user data never reaches a command line", () => {
  let lab: LabInventory;
  let node: LabNode;
  beforeAll(async () => {
    lab = await sharedLab();
    node = lab.nodes[2] as LabNode;
  });
  const rec = recordCommands();
  afterAll(() => rec.stop());

  it("a lifecycle with hostile but valid strings sends only the constant commands", async () => {
    const connection = {
      host: node.ssh.host,
      port: node.ssh.port,
      user: "root",
      hostKey: node.ssh.hostKey,
      privateKey: readFileSync(node.privateKeyPath, "utf8"),
    };
    const comment = `it's "$(reboot)" \`id\` ; rm -rf / # ✓ \\ |&`;
    const set = await ipSetProvider.check?.(
      {} as never,
      {
        connection,
        name: "fz",
        type: "hash:net",
        entries: [{ entry: "10.9.0.0/16", comment: "it's $(id) `x` ;|&" }],
      } as never,
    );
    const created = await ipSetProvider.create(set?.inputs as never);
    const checked = await ruleProvider.check?.(
      {} as never,
      {
        connection,
        ruleName: "fuzz ✓",
        action: "ACCEPT",
        source: { set: "fz" },
        comment,
        log: { prefix: `'"$(x)\` ;|&` },
      } as never,
    );
    const rule = await ruleProvider.create(checked?.inputs as never);
    const saved = (await sshExec(node, "iptables-save -t filter")).stdout;
    expect(saved).toContain(`--comment "dfw:0500:${rule.id} it\\'s \\"$(reboot)\\" \`id\` ; rm -rf / # ✓ \\\\ |&"`);
    await ruleProvider.delete?.(rule.id, rule.outs as never);
    await ipSetProvider.delete?.(created.id, created.outs as never);

    const allowed = new Set<string>([
      ...Object.values(NetfilterCommands),
      ...Object.values(Commands),
      ...Object.values(LockReadCommands),
    ]);
    expect(rec.sent.length).toBeGreaterThan(4);
    for (const s of rec.sent) {
      expect(allowed.has(s.line.replace(/^sudo -n /, "")), s.line.slice(0, 80)).toBe(true);
      for (const bad of ["$(reboot)", "$(id)", "10.9.0.0", "fuzz"]) expect(s.line).not.toContain(bad);
    }
    recordCase("command lines carry no user data (lab)", rec.sent.length, rec.sent.length, 0);
  });
});
