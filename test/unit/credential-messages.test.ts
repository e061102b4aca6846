// Credentials never appear in a check failure: every credential field, on the node and on the bastion, given a bad
// value made at run time, is refused with the field named and the value absent from the whole message.
import { randomBytes, randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConnectionSchema } from "../../provider/model/connection";
import { parseArgs } from "../../provider/model/validation";
import { ipSetProvider } from "../../provider/resources/ipset-provider";
import { persistentProvider } from "../../provider/resources/persistent-provider";
import { ruleProvider } from "../../provider/resources/rule-provider";

const secretText = () => `S3cr3t-${randomBytes(12).toString("base64url")}`;
const secretNumber = () => randomInt(100_000_000, 2 ** 47);

/** [field, bad value -> the connection fragment holding it]: wrong type, wrong shape, wrong pairing. */
const BAD: Array<[string, () => { value: string | number; fields: Record<string, unknown> }]> = [
  ["password", () => ((v) => ({ value: v, fields: { password: v } }))(secretNumber())],
  ["privateKey", () => ((v) => ({ value: v, fields: { privateKey: v } }))(secretText())],
  ["privateKey", () => ((v) => ({ value: v, fields: { privateKey: v } }))(secretNumber())],
  ["privateKeyPassword", () => ((v) => ({ value: v, fields: { privateKeyPassword: v } }))(secretText())],
  ["privateKeyPassword", () => ((v) => ({ value: v, fields: { privateKeyPassword: v } }))(secretNumber())],
];

const providers = [
  ["DockerUserRule", ruleProvider, { ruleName: "r", action: "ACCEPT" }],
  ["IpSet", ipSetProvider, { name: "s", type: "hash:net" }],
  ["PersistentFirewall", persistentProvider, {}],
] as const;

const where = [
  ["node", (f: Record<string, unknown>) => ({ host: "198.51.100.10", ...f })],
  ["bastion", (f: Record<string, unknown>) => ({ host: "198.51.100.10", proxy: { host: "198.51.100.1", ...f } })],
] as const;

describe("check never echoes a credential", () => {
  for (const [kind, provider, args] of providers) {
    for (const [hop, place] of where) {
      it.each(BAD)(`${kind}, ${hop}: a bad %s is refused by name, its value absent`, async (field, make) => {
        const { value, fields } = make();
        const news = { ...args, connection: place(fields) };
        const r = await (provider.check as NonNullable<typeof ruleProvider.check>)({} as never, news as never);
        const whole = JSON.stringify(r.failures ?? []);
        const expected = hop === "node" ? `connection.${field}` : `connection.proxy.${field}`;
        expect(
          r.failures?.some((f) => f.property === expected),
          whole,
        ).toBe(true);
        expect(whole).not.toContain(String(value));
        // Nor a recognisable fragment of it (messages cap long values at 57 characters).
        expect(whole).not.toContain(String(value).slice(0, 12));
      });
    }
  }

  it.each(BAD)("a thrown ValidationError for a bad %s names the field, not the value", (field, make) => {
    const { value, fields } = make();
    const node = { host: "198.51.100.10", ...fields, proxy: { host: "198.51.100.1", ...fields } };
    let message = "";
    try {
      parseArgs(ConnectionSchema, node, "connection");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(field);
    expect(message).not.toContain(String(value));
    expect(message).not.toContain(String(value).slice(0, 12));
  });
});
