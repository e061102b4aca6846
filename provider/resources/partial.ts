// A create whose outcome is unknown (the payload was sent, then the connection dropped or the wait timed out)
// is reported to the engine as a partially created resource: the dynamic-provider host turns an error carrying
// `id` and `properties` into ErrorResourceInitFailed, so the state keeps the resource and the next up reconciles it.
import { isNodeError } from "../node/errors";
import { isTxError } from "../node/transaction";

/** Pulumi's secret envelope: the engine keeps a property wrapped in it encrypted in state. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/**
 * True when the host may have applied the operation: the connection was lost or a wait timed out after the
 * command could have started, a failed cleanup, or a failure nobody classified. Refusals, undone kernel rejections, an
 * unreachable host, authentication and host key failures leave the host unchanged.
 */
export function isUnknownOutcome(e: unknown): boolean {
  if (isNodeError(e)) return e.kind === "Timeout" || e.kind === "ConnectionLost";
  if (!isTxError(e)) return true;
  return (e.kind === "KernelRejected" && !e.hostUnchanged) || (e.kind === "VerifyFailed" && !e.restored);
}

/**
 * The error for the engine: the message says what happened and what the next run does; `properties` become the
 * resource's outputs (the connection kept secret), and must make the next up's diff plan an update.
 */
export function partiallyCreated(
  err: Error,
  id: string,
  properties: Record<string, unknown>,
): Error & { id: string; properties: Record<string, unknown>; reasons: string[] } {
  const reason =
    "the outcome on the host is unknown: the resource is recorded as partially created, and the next `pulumi up` " +
    "(or `pulumi refresh`) reconciles it with what the host holds";
  const message = `${err.message}; ${reason}`;
  // The CLI shows `reasons`, not the message: the cause (host, resource, lost connection) must be in them.
  return Object.assign(new Error(message), {
    id,
    properties: { ...properties, connection: { [SECRET_SIG]: SECRET_VALUE, value: properties.connection } },
    reasons: [message],
  });
}
