// Private-key-shaped text with random content, made at run time: tests that only need the shape (schema checks,
// redaction, "no key in state" scans) never commit anything key-like.
import { randomBytes } from "node:crypto";

const edge = (which: "BEGIN" | "END") => `-----${which} OPENSSH PRIVATE KEY-----`;

export function fakePrivateKey(): string {
  const body = randomBytes(210).toString("base64");
  const lines = body.match(/.{1,70}/g) ?? [];
  return [edge("BEGIN"), ...lines, edge("END"), ""].join("\n");
}
