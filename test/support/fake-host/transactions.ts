// fast-check generators of whole transactions (the intents one batch hands runTransaction) over a small pool of
// rule ids and set names, so that sequences create, change, reorder and delete the same resources, use sets that
// exist or not, and turn boot persistence on and off. Built on test/support/arbitraries.ts.
import fc from "fast-check";
import type { IpFamily } from "../../../provider/model/address";
import { ipSetArgs } from "../../../provider/model/ipset";
import { dockerUserRuleArgs } from "../../../provider/model/rule";
import type { Intent } from "../../../provider/netfilter/intent";
import { ipSetInput, ruleInput, setNameFor } from "../arbitraries";

const RULE_IDS = ["ra", "rb", "rc", "rd"] as const;
const family = fc.constantFrom<IpFamily>("ipv4", "ipv6");

const ruleIntent: fc.Arbitrary<Intent> = fc
  .tuple(fc.constantFrom(...RULE_IDS), family, fc.integer({ min: 0, max: 4 }))
  .chain(([id, f, del]) =>
    del === 0
      ? fc.constant<Intent>({ kind: "rule", id, priority: 0, rule: null })
      : ruleInput(f).map((input): Intent => {
          const rule = dockerUserRuleArgs.parse(input);
          return { kind: "rule", id, priority: rule.priority as number, rule };
        }),
  );

const setIntent: fc.Arbitrary<Intent> = fc.tuple(family, fc.integer({ min: 0, max: 4 })).chain(([f, del]) =>
  del === 0
    ? fc.constant<Intent>({ kind: "set", name: setNameFor(f), spec: null })
    : ipSetInput(f, setNameFor(f), 6)
        .map((input) => ipSetArgs.safeParse(input))
        .filter((r) => r.success)
        .map((r): Intent => ({ kind: "set", name: setNameFor(f), spec: r.data ?? null })),
);

const persistenceIntent: fc.Arbitrary<Intent> = fc.oneof(
  { arbitrary: fc.constant<Intent>({ kind: "persistence", config: null }), weight: 1 },
  { arbitrary: fc.boolean().map((exclusive): Intent => ({ kind: "persistence", config: { exclusive } })), weight: 2 },
);

const keyOf = (x: Intent) => (x.kind === "rule" ? `rule:${x.id}` : x.kind === "set" ? `set:${x.name}` : "persistence");

/** One batch: at most one intent per resource, as the batcher hands them over. */
export const transaction: fc.Arbitrary<Intent[]> = fc.uniqueArray(
  fc.oneof(
    { arbitrary: ruleIntent, weight: 5 },
    { arbitrary: setIntent, weight: 3 },
    { arbitrary: persistenceIntent, weight: 1 },
  ),
  { minLength: 1, maxLength: 5, selector: keyOf },
);

/** A few transactions in a row on one node. */
export const transactions = (minLength = 1, maxLength = 3) => fc.array(transaction, { minLength, maxLength });
