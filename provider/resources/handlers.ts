// The module every serialized provider shim requires by name at run time ("pulumi-docker-firewall/handlers"):
// one copy per provider process, so connection pools, batchers and locks are shared by all resources.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { ipSetProvider } from "./ipset-provider";
import { persistentProvider } from "./persistent-provider";
import { priorityLedgerProvider } from "./priority-ledger";
import { storeStackConfig } from "./provider-config";
import { ruleProvider } from "./rule-provider";

export async function configure(req: dynamic.ConfigureRequest): Promise<void> {
  storeStackConfig((key) => req.config.get(key));
}

export const rule = ruleProvider;
export const ipset = ipSetProvider;
export const persistent = persistentProvider;
export const priorities = priorityLedgerProvider;
