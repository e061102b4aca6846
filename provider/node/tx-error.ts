// A transaction's failure as a value: the kind, the host, and what the kernel or the read-back said; its message is
// the sentence users see (host and step first), whatever the tool printed.
export type TransactionErrorDetail =
  | { readonly kind: "Unsupported"; readonly host: string; readonly reason: string }
  | { readonly kind: "Refused"; readonly host: string; readonly reason: string }
  | {
      readonly kind: "KernelRejected";
      readonly host: string;
      readonly step: string;
      /** The script line the kernel refused, when the tool said which. */
      readonly line?: string;
      readonly message: string;
      /** False when a cleanup failed too: the host may not be exactly as before. */
      readonly hostUnchanged: boolean;
    }
  | { readonly kind: "VerifyFailed"; readonly host: string; readonly detail: string; readonly restored: boolean };

export type TransactionError = Error & TransactionErrorDetail & { readonly brand: "pulumi-docker-firewall/tx-error" };

function formatTxError(d: TransactionErrorDetail): string {
  switch (d.kind) {
    case "Unsupported":
      return `${d.host}: cannot manage this host: ${d.reason}`;
    case "Refused":
      return `${d.host}: ${d.reason}`;
    case "KernelRejected":
      return (
        `${d.host}: ${d.step.startsWith("persisted files") ? "could not write the" : "the kernel refused"} ${d.step}${d.line ? ` at ${JSON.stringify(d.line)}` : ""}: ${d.message}` +
        (d.hostUnchanged ? " (nothing was changed on the host)" : " (WARNING: a cleanup failed too; check the host)")
      );
    case "VerifyFailed":
      return `${d.host}: the state read back after applying differs from the plan (${d.detail}); ${
        d.restored ? "what this run touched was restored" : "restoring what this run touched FAILED: check the host"
      }. Another tool may be changing DOCKER-USER at the same time.`;
  }
}

export function txError(d: TransactionErrorDetail): TransactionError {
  // KernelRejected's own `message` (the tool's output) must not replace the sentence that names host and step.
  const message = formatTxError(d);
  return Object.assign(new Error(message), d, { message, brand: "pulumi-docker-firewall/tx-error" as const });
}

export function isTxError(e: unknown): e is TransactionError {
  return typeof e === "object" && e !== null && (e as { brand?: unknown }).brand === "pulumi-docker-firewall/tx-error";
}
