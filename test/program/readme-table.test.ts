// README.md's argument tables are generated from the zod schemas (readme-table.ts): they must match the schemas
// field for field, and show the lines the provider really renders.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConnectionSchema } from "../../provider/model/connection";
import { argumentTables, BEGIN, CONNECTION_DOCS, END, README, RULE_DOCS, withTables } from "./readme-table";

describe("README argument tables", () => {
  it("are what the schemas generate (regenerate: npx tsx test/program/readme-table.ts --write)", () => {
    const readme = readFileSync(README, "utf8");
    expect(readme).toContain(BEGIN);
    expect(readme).toContain(END);
    expect(withTables(readme)).toBe(readme);
  });

  it("fail to generate when a schema field is undocumented or a documented one is gone", () => {
    const saved = { ...RULE_DOCS };
    try {
      delete RULE_DOCS.publishedPorts;
      expect(() => argumentTables()).toThrow(
        /DockerUserRule: the schema and the README table disagree: undocumented publishedPorts/,
      );
      Object.assign(RULE_DOCS, saved, { bogus: { what: "x" } });
      expect(() => argumentTables()).toThrow(/documented but not in the schema bogus/);
    } finally {
      for (const k of Object.keys(RULE_DOCS)) delete RULE_DOCS[k];
      Object.assign(RULE_DOCS, saved);
    }
    expect(Object.keys(CONNECTION_DOCS).sort()).toEqual(Object.keys(ConnectionSchema.shape).sort());
  });

  it("show rendered lines, e.g. a published port as conntrack's original destination port", () => {
    const tables = argumentTables();
    expect(tables).toContain(
      '<code>-p tcp -m comment --comment "dfw:0500:&lt;id&gt;" -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j ACCEPT</code>',
    );
    expect(tables).toContain("<code>create lbs hash:net family inet maxelem 65536</code>");
  });
});
