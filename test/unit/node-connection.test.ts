import { describe, expect, it } from "vitest";
import {
  ConnectionInputSchema,
  ConnectionSchema,
  describeConnection,
  endpointIdentity,
  isValidHost,
  parseConnection,
  redactSecrets,
} from "../../provider/model/connection";
import { containsUnknown, isUnknown, UNKNOWN } from "../../provider/model/unknown";
import { fakePrivateKey } from "../support/fake-key";

const KEY = fakePrivateKey();
const PASSWORD = "s3cret-Passw0rd!";
const ED25519_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1ypxIyYog7KXFfrFtZ2ktcI/gx5WArBHMPW1jJqjrF fixture";

function issues(input: unknown): { path: string; message: string }[] {
  const r = ConnectionSchema.safeParse(input);
  if (r.success) return [];
  return r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

describe("connection schema", () => {
  it("applies @pulumi/command's defaults", () => {
    const c = parseConnection({ host: "node1.example.com" });
    expect(c).toEqual({
      host: "node1.example.com",
      port: 22,
      user: "root",
      dialErrorLimit: 10,
      perDialTimeout: 15,
      sudo: false,
    });
    // The agent socket is read from the environment at dial time, never baked into state.
    expect(c.agentSocketPath).toBeUndefined();
  });

  it("accepts a bastion with its own defaults", () => {
    const c = parseConnection({ host: "10.0.0.5", user: "deploy", sudo: true, proxy: { host: "bastion.example.com" } });
    expect(c.proxy).toMatchObject({ host: "bastion.example.com", port: 22, user: "root" });
    expect(describeConnection(c)).toBe("deploy@10.0.0.5:22 (via bastion root@bastion.example.com:22)");
    expect(endpointIdentity(c)).toBe("10.0.0.5:22 via bastion.example.com:22");
  });

  it.each(["example.com", "node-1.lab.", "my_host", "localhost", "10.0.0.1", "::1", "2001:db8::10", "fe80::1%eth0"])(
    "accepts host %j",
    (host) => {
      expect(isValidHost(host)).toBe(true);
      expect(issues({ host })).toEqual([]);
    },
  );

  it.each([
    "",
    "-oProxyCommand=touch /tmp/x",
    "a b",
    "host\n",
    "host\u0000",
    "exa$mple.com",
    "a..b",
    "1.2.3",
    "10.1",
    "-dash.example.com",
    "x".repeat(254),
    "a;reboot",
  ])("rejects host %j naming the field", (host) => {
    expect(isValidHost(host)).toBe(false);
    expect(issues({ host })).toEqual([{ path: "host", message: expect.stringMatching(/^host: /) }]);
  });

  it.each([0, 65536, 22.5, -1, "22", Number.NaN])("rejects port %j naming the field", (port) => {
    expect(issues({ host: "h", port })).toEqual([{ path: "port", message: expect.stringMatching(/^port: /) }]);
  });

  it.each(["-root", "root;rm", "a b", "", ".hidden", "x".repeat(33), "r\u00f6ot"])("rejects user %j", (user) => {
    expect(issues({ host: "h", user })).toEqual([{ path: "user", message: expect.stringMatching(/^user: /) }]);
  });

  it("accepts usual user names", () => {
    for (const user of ["root", "deploy", "ci_bot", "svc-fw", "first.last", "u1"])
      expect(issues({ host: "h", user })).toEqual([]);
  });

  it("rejects a key path passed as privateKey without echoing it", () => {
    const got = issues({ host: "h", privateKey: "/home/me/.ssh/id_ed25519" });
    expect(got).toEqual([{ path: "privateKey", message: expect.stringContaining("not a file path") }]);
    expect(JSON.stringify(got)).not.toContain("id_ed25519");
  });

  it("requires privateKey with privateKeyPassword", () => {
    expect(issues({ host: "h", privateKeyPassword: "pw" })).toEqual([
      { path: "privateKeyPassword", message: "privateKeyPassword: set only with privateKey" },
    ]);
  });

  it("rejects misspelt fields", () => {
    expect(issues({ host: "h", privatekey: KEY })[0]?.message).toMatch(/privatekey/);
  });

  it.each([
    ["dialErrorLimit", -2],
    ["dialErrorLimit", 1.5],
    ["perDialTimeout", -1],
    ["agentSocketPath", "relative/agent.sock"],
    ["agentSocketPath", `/${"x".repeat(120)}`],
    ["sudo", "yes"],
    ["password", ""],
  ])("rejects %s = %j naming the field", (field, value) => {
    expect(issues({ host: "h", [field]: value })).toEqual([
      { path: field, message: expect.stringMatching(new RegExp(`^${field}: `)) },
    ]);
  });

  it("accepts -1 (unlimited) and 0 (no timeout)", () => {
    const c = parseConnection({ host: "h", dialErrorLimit: -1, perDialTimeout: 0 });
    expect([c.dialErrorLimit, c.perDialTimeout]).toEqual([-1, 0]);
  });

  it.each([
    ED25519_LINE,
    "SHA256:9SDOO0hVASxE8tFMQiPBVLVm6SFM19c1QF1ScnqRdgY",
    "SHA256:9SDOO0hVASxE8tFMQiPBVLVm6SFM19c1QF1ScnqRdgY=",
  ])("accepts hostKey %j", (hostKey) => {
    expect(issues({ host: "h", hostKey })).toEqual([]);
  });

  it.each([
    "9SDOO0hVASxE8tFMQiPBVLVm6SFM19c1QF1ScnqRdgY",
    "SHA256:short",
    "MD5:aa:bb",
    "ssh-foo AAAA",
    "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIC1ypxIyYog7KXFfrFtZ2ktcI/gx5WArBHMPW1jJqjrF",
    "ssh-ed25519 !!!notbase64",
    "node1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1ypxIyYog7KXFfrFtZ2ktcI/gx5WArBHMPW1jJqjrF",
  ])("rejects hostKey %j", (hostKey) => {
    expect(issues({ host: "h", hostKey })).toEqual([{ path: "hostKey", message: expect.stringMatching(/^hostKey: /) }]);
  });

  it("never puts a secret in a validation message", () => {
    const bad = {
      host: "bad host",
      port: 0,
      user: "-x",
      password: PASSWORD,
      privateKey: KEY,
      privateKeyPassword: PASSWORD,
      proxy: { host: "-b", password: PASSWORD, privateKey: "not a key" },
      extra: PASSWORD,
    };
    const r = ConnectionSchema.safeParse(bad);
    expect(r.success).toBe(false);
    const text = JSON.stringify(r.error?.issues) + String(r.error);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain("b3BlbnNzaC1rZXkt");
    expect(text).not.toContain("not a key");
  });
});

describe("preview (unknown) values", () => {
  it("recognises the sentinel", () => {
    expect(isUnknown(UNKNOWN)).toBe(true);
    expect(isUnknown("x")).toBe(false);
    expect(containsUnknown({ a: [1, { b: UNKNOWN }] })).toBe(true);
    expect(containsUnknown({ a: [1, { b: "x" }] })).toBe(false);
  });

  it("accepts the sentinel in every field, in the proxy, and as the whole connection", () => {
    const fields = ["host", "port", "user", "password", "privateKey", "privateKeyPassword", "agentSocketPath"];
    const more = ["hostKey", "dialErrorLimit", "perDialTimeout", "sudo", "proxy"];
    for (const f of [...fields, ...more]) {
      const input = { host: "h", privateKey: KEY, [f]: UNKNOWN };
      expect(ConnectionInputSchema.safeParse(input).error?.issues, f).toBeUndefined();
    }
    expect(ConnectionInputSchema.parse(UNKNOWN)).toBe(UNKNOWN);
    expect(ConnectionInputSchema.parse({ host: UNKNOWN, proxy: { host: UNKNOWN, port: UNKNOWN } })).toMatchObject({
      host: UNKNOWN,
      port: 22,
      proxy: { host: UNKNOWN, port: UNKNOWN, user: "root" },
    });
  });

  it("still validates known values, with the field's own message", () => {
    const r = ConnectionInputSchema.safeParse({ host: UNKNOWN, port: 70000, user: "a b" });
    expect(r.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      ["port", "port: must be between 1 and 65535"],
      ["user", expect.stringMatching(/^user: /)],
    ]);
    const t = ConnectionInputSchema.safeParse({ host: 42 });
    expect(t.error?.issues.map((i) => i.message)).toEqual(["host: must be a string"]);
  });

  it("the resolved schema refuses the sentinel", () => {
    expect(ConnectionSchema.safeParse({ host: "h", port: UNKNOWN }).success).toBe(false);
  });
});

describe("describing a connection", () => {
  it("brackets IPv6 and never shows credentials", () => {
    const c = parseConnection({ host: "2001:db8::1", port: 2222, user: "deploy", password: PASSWORD, privateKey: KEY });
    expect(describeConnection(c)).toBe("deploy@[2001:db8::1]:2222");
  });

  it("redacts every credential, and fragments of the key", () => {
    const c = parseConnection({ host: "h", password: PASSWORD, proxy: { host: "b", privateKey: KEY } });
    const keyLine = KEY.split("\n")[2] as string;
    const text = `auth said ${PASSWORD} and ${keyLine} and the whole ${KEY}`;
    const out = redactSecrets(text, c);
    expect(out).not.toContain(PASSWORD);
    expect(out).not.toContain(keyLine);
    expect(out).toContain("[redacted]");
  });
});
