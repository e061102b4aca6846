// README.md's argument tables are generated from the zod schemas (readme-table.ts): they must match the schemas
// field for field, and show the lines the provider really renders.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConnectionSchema } from "../../provider/model/connection";
import { argumentTables, BEGIN, docsOf, END, README, withTables } from "./readme-table";

describe("README argument tables", () => {
  it("are what the schemas generate (regenerate: npx tsx test/program/readme-table.ts --write)", () => {
    const readme = readFileSync(README, "utf8");
    expect(readme).toContain(BEGIN);
    expect(readme).toContain(END);
    expect(withTables(readme)).toBe(readme);
  });

  it("fail to generate when a schema field has no doc, and name it", () => {
    const undocumented = z.object({
      documented: z.string().meta({ description: "says what it is" }),
      bare: z.string().optional(),
    });
    expect(() => docsOf("Example", Object.entries(undocumented.shape))).toThrow(/Example: undocumented bare/);
    // Every connection field carries its doc on the schema itself.
    expect(docsOf("connection", Object.entries(ConnectionSchema.shape)).map((d) => d.description.length > 0)).toEqual(
      Object.keys(ConnectionSchema.shape).map(() => true),
    );
  });

  it("show rendered lines, e.g. a published port as conntrack's original destination port", () => {
    const tables = argumentTables();
    expect(tables).toContain(
      '<code>-p tcp -m comment --comment "dfw:0500:&lt;id&gt;" -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j ACCEPT</code>',
    );
    expect(tables).toContain("<code>create lbs hash:net family inet maxelem 65536</code>");
  });
});
