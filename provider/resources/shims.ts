// What Pulumi serializes into each resource's state as `__provider`: tiny functions that `require` this package
// by name when called (capturing only the handler's key). The text never changes across versions (no spurious
// diffs), and reads/deletes run the installed code, not code frozen at creation.
import type * as dynamic from "@pulumi/pulumi/dynamic";

// Every stack's state holds these keys (each shim's closure captures its own): they are never renamed, even
// where the code's word for the idea is another ("persistent" is the PersistentRuleset's persistence handler).
type HandlerKey = "rule" | "ipset" | "persistent" | "priorities";

function shimFor(kind: HandlerKey): dynamic.ResourceProvider {
  return {
    configure: (req) => require("pulumi-docker-firewall/handlers").configure(req),
    check: (olds, news) => require("pulumi-docker-firewall/handlers")[kind].check(olds, news),
    diff: (id, olds, news) => require("pulumi-docker-firewall/handlers")[kind].diff(id, olds, news),
    create: (inputs) => require("pulumi-docker-firewall/handlers")[kind].create(inputs),
    read: (id, props) => require("pulumi-docker-firewall/handlers")[kind].read(id, props),
    update: (id, olds, news) => require("pulumi-docker-firewall/handlers")[kind].update(id, olds, news),
    delete: (id, props) => require("pulumi-docker-firewall/handlers")[kind].delete(id, props),
  };
}

export const ruleShim = shimFor("rule");
export const ipSetShim = shimFor("ipset");
export const persistentShim = shimFor("persistent");
export const prioritiesShim = shimFor("priorities");
