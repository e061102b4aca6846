import { afterEach, describe, expect, it } from "vitest";
import { parseConnection } from "../../provider/model/connection";
import { fingerprintOfBlob, parseExpectedHostKey } from "../../provider/model/host-key-text";
import {
  forgetHostKeys,
  hostKeyAlgorithmsFor,
  judgeHostKey,
  observedHostKey,
  rememberHostKey,
  trustHostKey,
  verifyHostKey,
} from "../../provider/node/host-key";

// Public keys and the fingerprints `ssh-keygen -lf` printed for them.
const ED25519 = {
  line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1ypxIyYog7KXFfrFtZ2ktcI/gx5WArBHMPW1jJqjrF fixture",
  fingerprint: "SHA256:9SDOO0hVASxE8tFMQiPBVLVm6SFM19c1QF1ScnqRdgY",
};
const ECDSA = {
  line:
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI5qBQxX3AWo8ruUpFhgeHTi/B+z3hK1det" +
    "DLKIYPV1e+cxsjXtPXaK6Ubrs4JfMgW5CYW4pme8wLlQBXO/4hSk= fixture",
  fingerprint: "SHA256:daCDQm3nAJu7wXLMtg5s6oVbPRqi5u07g3MmymoxGh0",
};
const blobOf = (line: string) => Buffer.from(line.split(" ")[1] as string, "base64");

function parsed(text: string) {
  const p = parseExpectedHostKey(text);
  if ("error" in p) throw new Error(p.error);
  return p;
}

afterEach(() => forgetHostKeys());

describe("host key parsing", () => {
  it("computes OpenSSH's SHA256 fingerprint", () => {
    expect(fingerprintOfBlob(blobOf(ED25519.line))).toBe(ED25519.fingerprint);
    expect(fingerprintOfBlob(blobOf(ECDSA.line))).toBe(ECDSA.fingerprint);
  });

  it("reads a key line, with or without comment, and a fingerprint, padded or not", () => {
    expect(parsed(ED25519.line)).toMatchObject({ keyType: "ssh-ed25519", fingerprint: ED25519.fingerprint });
    expect(parsed(ED25519.line.replace(" fixture", ""))).toMatchObject({ fingerprint: ED25519.fingerprint });
    expect(parsed(`  ${ECDSA.line}\n`)).toMatchObject({
      keyType: "ecdsa-sha2-nistp256",
      fingerprint: ECDSA.fingerprint,
    });
    expect(parsed(ED25519.fingerprint)).toEqual({ fingerprint: ED25519.fingerprint, digest: expect.any(Buffer) });
    expect(parsed(`${ED25519.fingerprint}=`).fingerprint).toBe(ED25519.fingerprint);
    // Both forms reduce to the same digest, so either pins the same key.
    expect(parsed(ED25519.line).digest.equals(parsed(ED25519.fingerprint).digest)).toBe(true);
  });

  it.each([
    ["SHA256:abc", /43 base64/],
    [`SHA256:${"A".repeat(44)}`, /43 base64/],
    ["ssh-ed25519", /expected/],
    ["ssh-ed25519 AAAA$$", /malformed/],
    [`ssh-rsa ${ED25519.line.split(" ")[1]}`, /not a ssh-rsa key/],
    [`|1|hashed ${ED25519.line}`, /expected/],
  ])("explains what is wrong with %j", (text, why) => {
    const p = parseExpectedHostKey(text);
    expect("error" in p && p.error).toMatch(why);
  });
});

describe("host key judgement", () => {
  const blob = blobOf(ED25519.line);
  const other = blobOf(ECDSA.line);

  it("accepts a matching pin and refuses another key, naming both fingerprints", () => {
    expect(judgeHostKey(blob, parsed(ED25519.fingerprint), undefined)).toEqual({
      ok: true,
      fingerprint: ED25519.fingerprint,
      firstUse: false,
    });
    expect(judgeHostKey(other, parsed(ED25519.line), undefined)).toEqual({
      ok: false,
      expected: ED25519.fingerprint,
      seen: ECDSA.fingerprint,
      source: "pinned",
    });
  });

  it("a pin wins over what was remembered", () => {
    expect(judgeHostKey(blob, parsed(ED25519.line), parsed(ECDSA.line)).ok).toBe(true);
  });

  it("trusts on first use, then refuses a change", () => {
    const conn = parseConnection({ host: "node1", port: 2222 });
    expect(observedHostKey(conn)).toBeUndefined();
    expect(verifyHostKey(conn, blob)).toEqual({ ok: true, fingerprint: ED25519.fingerprint, firstUse: true });
    // Judged during key exchange, but remembered only once the handshake completed.
    expect(observedHostKey(conn)).toBeUndefined();
    expect(rememberHostKey(conn, blob)).toEqual({ ok: true, fingerprint: ED25519.fingerprint, firstUse: true });
    expect(observedHostKey(conn)).toBe(ED25519.fingerprint);
    expect(verifyHostKey(conn, blob)).toMatchObject({ ok: true, firstUse: false });
    expect(verifyHostKey(conn, other)).toEqual({
      ok: false,
      expected: ED25519.fingerprint,
      seen: ECDSA.fingerprint,
      source: "first-use",
    });
    // Another port or another bastion is another endpoint.
    expect(verifyHostKey(parseConnection({ host: "node1", port: 22 }), other).ok).toBe(true);
    expect(verifyHostKey(parseConnection({ host: "node1", port: 2222, proxy: { host: "b" } }), other).ok).toBe(true);
  });

  it("a key remembered meanwhile (seeded from state, or another first use) wins over one judged earlier", () => {
    const conn = parseConnection({ host: "node1" });
    expect(verifyHostKey(conn, other).ok).toBe(true);
    trustHostKey(conn, ED25519.fingerprint); // another resource's recorded key arrives during the handshake
    expect(rememberHostKey(conn, other)).toMatchObject({ ok: false, expected: ED25519.fingerprint });
    expect(observedHostKey(conn)).toBe(ED25519.fingerprint);
  });

  it("can be seeded from state", () => {
    const conn = parseConnection({ host: "node1" });
    trustHostKey(conn, ECDSA.fingerprint);
    expect(verifyHostKey(conn, blob)).toMatchObject({ ok: false, expected: ECDSA.fingerprint, source: "first-use" });
    expect(() => trustHostKey(conn, "nonsense")).toThrow(/cannot trust host key for node1:22/);
  });

  it("asks the server for the expected key type first", () => {
    const all = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
    expect(hostKeyAlgorithmsFor(parseConnection({ host: "a" }), all)).toEqual(all);
    expect(hostKeyAlgorithmsFor(parseConnection({ host: "a", hostKey: ECDSA.line }), all)[0]).toBe(
      "ecdsa-sha2-nistp256",
    );
    const rsa = parseConnection({ host: "a" });
    trustHostKey(rsa, ECDSA.line);
    expect(hostKeyAlgorithmsFor(rsa, all)).toEqual([
      "ecdsa-sha2-nistp256",
      "ssh-ed25519",
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
    ]);
  });
});
