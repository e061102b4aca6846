// fast-check generators of valid user arguments (DockerUserRule, IpSet), per family. They produce what a user
// could write, shorthand forms and negations included; tests assert the model accepts every one of them.
import fc from "fast-check";
import { formatIp, type IpFamily, parseCidr } from "../../provider/model/address";
import { hasControlCharacters } from "../../provider/model/primitives";
import { CONNECTION_STATES, maxBurstFor, REJECT_WITH } from "../../provider/model/rule";

const octet = fc.integer({ min: 0, max: 255 });
const hex16 = fc.integer({ min: 0, max: 0xffff });

export const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join("."));
const ipv6Hex = fc
  .tuple(fc.constantFrom(0x2001, 0xfd00, 0xfe80, 0x2a02), fc.array(hex16, { minLength: 7, maxLength: 7 }), fc.boolean())
  .map(([first, rest, upper]) => {
    const text = [first, ...rest].map((g) => g.toString(16)).join(":");
    return upper ? text.toUpperCase() : text;
  });
// IPv4-mapped and -compatible forms: tools print them with a dotted tail (glibc inet_ntop).
const ipv6WithV4Tail = fc
  .tuple(fc.constantFrom("::ffff:", "::FFFF:", "0:0:0:0:0:ffff:", "::"), ipv4)
  .map(([head, v4]) => `${head}${v4}`);
export const ipv6 = fc.oneof({ arbitrary: ipv6Hex, weight: 4 }, { arbitrary: ipv6WithV4Tail, weight: 1 });

export const address = (f: IpFamily) => (f === "ipv4" ? ipv4 : ipv6);
/** An address, or a network written with its host bits clear (the model refuses host bits). */
export const cidr = (f: IpFamily) =>
  fc.tuple(address(f), fc.integer({ min: 1, max: f === "ipv4" ? 32 : 128 }), fc.boolean()).map(([a, p, bare]) => {
    if (bare) return a;
    const net = parseCidr(`${a}/${p}`);
    return net ? `${formatIp(net.family, net.value)}/${p}` : `${a}/${p}`;
  });

const range = (f: IpFamily) =>
  fc.tuple(f === "ipv4" ? ipv4 : ipv6Hex, f === "ipv4" ? ipv4 : ipv6Hex).map(([a, b]) => {
    // Order the two by their numeric value so FIRST <= LAST.
    const n = (x: string) =>
      f === "ipv4"
        ? x.split(".").reduce((acc, o) => acc * 256n + BigInt(o), 0n)
        : x.split(":").reduce((acc, g) => acc * 65536n + BigInt(Number.parseInt(g, 16)), 0n);
    return n(a) <= n(b) ? `${a}-${b}` : `${b}-${a}`;
  });

export const setNameFor = (f: IpFamily) => (f === "ipv4" ? "fcset4" : "fcset6");
/** On nftables two set flags make a port set match: the port set such a generated rule names instead. */
export const portSetNameFor = (f: IpFamily) => (f === "ipv4" ? "fcports4" : "fcports6");
const PORT_FLAGS = ["src,dst", "dst,src", "src,src", "dst,dst"];

/** A generated rule for an nftables host: a two-flag set match names the port set, its flags varied by `i`. */
export function withPortSets(input: Record<string, unknown>, f: IpFamily, i: number): Record<string, unknown> {
  const out = { ...input };
  for (const side of ["source", "destination"]) {
    const m = out[side] as { set?: string; setFlags?: string } | undefined;
    if (m?.set && m.setFlags?.includes(","))
      out[side] = { ...m, set: portSetNameFor(f), setFlags: PORT_FLAGS[i % PORT_FLAGS.length] };
  }
  return out;
}

const addressMatch = (f: IpFamily, role: "src" | "dst") =>
  fc.oneof(
    cidr(f),
    fc.record({ address: cidr(f), not: fc.boolean() }),
    fc.record({ range: range(f), not: fc.boolean() }),
    fc.record({
      set: fc.constant(setNameFor(f)),
      not: fc.boolean(),
      setFlags: fc.constantFrom(role, "src", "dst", "src,dst"),
    }),
  );

const port = fc.integer({ min: 1, max: 65535 });
const portSpec = fc.oneof(
  port,
  port.map(String),
  fc.tuple(port, port).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
  fc.tuple(port, port).map(([a, b]) => `${Math.min(a, b)}:${Math.max(a, b)}`),
);

const iface = fc.oneof(
  fc.constantFrom("eth0", "eth+", "docker0", "br-1a2b3c4d5e6f", "ens3", "wan0", "vlan.100", "veth@if3"),
  fc.stringMatching(/^[a-z][a-z0-9_.-]{0,13}\+?$/),
);
const ifaceMatch = fc.oneof(iface, fc.record({ name: iface, not: fc.boolean() }));

/** Printable text with quotes, backslashes, shell metacharacters and multi-byte UTF-8, never control chars. */
const hostileText = (maxBytes: number) =>
  fc
    .string({
      unit: fc.oneof(
        fc.constantFrom('"', "'", "\\", "$", "`", ";", "|", "&", "(", ")", "*", " ", "#", "!", "-"),
        fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }),
        fc.constantFrom("é", "✓", "日", "🔥"),
      ),
      maxLength: 60,
    })
    .filter((s) => !hasControlCharacters(s) && Buffer.byteLength(s) <= maxBytes);

const logPrefix = fc
  .string({ unit: "grapheme-ascii", minLength: 1, maxLength: 29 })
  .filter((s) => /^[\x20-\x7e]+$/.test(s) && !s.startsWith("-"));
const rate = fc
  .tuple(fc.integer({ min: 1, max: 500 }), fc.constantFrom("sec", "min", "minute", "hour", "s", "m", "h"))
  .map(([n, u]) => `${n}/${u}`);

const icmpType = (f: IpFamily) =>
  fc.oneof(
    fc.constantFrom(
      "echo-request",
      "echo-reply",
      "destination-unreachable",
      "time-exceeded",
      "parameter-problem",
      f === "ipv4" ? "fragmentation-needed" : "packet-too-big",
    ),
    fc.integer({ min: 0, max: 254 }),
    fc.tuple(fc.integer({ min: 0, max: 254 }), fc.integer({ min: 0, max: 255 })).map(([t, c]) => `${t}/${c}`),
  );

/** A valid DockerUserRule input pinned to one family (so it renders for exactly that family). */
export function ruleInput(f: IpFamily) {
  return fc
    .record(
      {
        action: fc.constantFrom("ACCEPT", "RETURN", "DROP", "REJECT", "LOG"),
        protocol: fc.constantFrom("tcp", "udp", "tcp+udp", "icmp", "all"),
        source: addressMatch(f, "src"),
        destination: addressMatch(f, "dst"),
        publishedPorts: fc.array(portSpec, { minLength: 1, maxLength: 3 }),
        containerPorts: fc.array(portSpec, { minLength: 1, maxLength: 2 }),
        originalDestination: cidr(f),
        icmpType: icmpType(f),
        inInterface: ifaceMatch,
        outInterface: ifaceMatch,
        connectionStates: fc.subarray([...CONNECTION_STATES], { minLength: 1 }),
        comment: hostileText(190),
        log: fc.record(
          { prefix: logPrefix, level: fc.integer({ min: 0, max: 7 }), rate, burst: fc.integer({ min: 1, max: 100 }) },
          { requiredKeys: [] },
        ),
        rejectWith: fc.constantFrom(...REJECT_WITH),
        priority: fc.integer({ min: 0, max: 9999 }),
      },
      { requiredKeys: ["action", "protocol"] },
    )
    .map((r) => {
      const ported = r.protocol === "tcp" || r.protocol === "udp" || r.protocol === "tcp+udp";
      const out: Record<string, unknown> = { ...r, family: f };
      if (!ported) {
        delete out.publishedPorts;
        delete out.containerPorts;
      }
      if (r.protocol !== "icmp") delete out.icmpType;
      if (r.action !== "REJECT" || (r.rejectWith === "tcp-reset" && r.protocol !== "tcp")) delete out.rejectWith;
      const log = out.log as { burst?: number; rate?: string } | undefined;
      if (log && log.rate === undefined) delete log.burst;
      if (log?.rate && log.burst !== undefined) log.burst = Math.min(log.burst, maxBurstFor(log.rate));
      return out;
    });
}

/** A valid IpSet input of the given family with up to `maxEntries` entries. */
export function ipSetInput(f: IpFamily, name: string, maxEntries = 40) {
  const type = fc.constantFrom("hash:ip", "hash:net", "hash:ip,port", "hash:net,port");
  return type.chain((t) => {
    const addr = t.startsWith("hash:ip") ? address(f) : cidr(f).filter((c) => !c.endsWith("/0"));
    const entry = t.endsWith(",port")
      ? fc
          .tuple(addr, fc.constantFrom("tcp:", "udp:", "", "sctp:"), fc.integer({ min: 0, max: 65535 }))
          .map(([a, p, n]) => `${a},${p}${n}`)
      : addr;
    const withComment = fc.oneof(
      entry,
      fc.record({
        entry,
        comment: hostileText(120).filter((s) => s.length > 0 && !/["\\]/.test(s) && !s.startsWith("-")),
      }),
    );
    return fc.record(
      {
        name: fc.constant(name),
        type: fc.constant(t),
        family: fc.constant(f),
        entries: fc.array(withComment, { maxLength: maxEntries }),
        timeout: fc.constantFrom(0, 300, 86400),
        maxelem: fc.constantFrom(65536, 1024, 100000),
        hashsize: fc.constantFrom(64, 1024, 4096),
      },
      { requiredKeys: ["name", "type", "family", "entries"] },
    );
  });
}
