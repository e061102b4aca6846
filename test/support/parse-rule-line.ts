// A whole saved rule line -> KernelRule (tests read back what the kernel printed); the provider itself only
// parses tokens (netfilter/parse-rule.ts), from adopt/.
import type { IpFamily } from "../../provider/model/address";
import type { KernelRule } from "../../provider/netfilter/kernel-rule";
import { parseRuleTokens } from "../../provider/netfilter/parse-rule";
import { tokenizeRestoreLine } from "../../provider/netfilter/quote";

export function parseRuleLine(line: string, family: IpFamily): KernelRule | undefined {
  const tokens = tokenizeRestoreLine(line);
  return tokens ? parseRuleTokens(tokens, family) : undefined;
}
