// A rule's `target`: the container, compose service or label whose published ports the rule follows. Names are
// held to Docker's own charsets (they travel to no shell: containers/resolve.ts compares them with the host's list).
import { z } from "zod";
import { doc } from "./argument-doc";
import type { Lift } from "./unknown";

/** Docker's container-name pattern (moby's restrictedNamePattern: two characters at least), without the API's leading slash. */
export const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Compose's project-name charset (lowercase, as `docker compose` normalizes it). */
export const COMPOSE_PROJECT = /^[a-z0-9][a-z0-9_-]*$/;
/** Compose's service-name charset. */
export const COMPOSE_SERVICE = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/;
/** A label key: reverse-DNS words as Docker recommends (no `=`, no spaces, no control characters). */
export const LABEL_KEY = /^[a-zA-Z0-9][a-zA-Z0-9._/-]*$/;
const NAME_MAX = 128;
const LABEL_VALUE_MAX = 256;

const named = (re: RegExp, why: string) =>
  z
    .string()
    .max(NAME_MAX, { message: `must be at most ${NAME_MAX} characters` })
    .regex(re, { message: why });

/** `key=value` (the label has that value) or `key` (the container has the label). */
export const labelSelector = z.string().superRefine((s, ctx) => {
  const eq = s.indexOf("=");
  const key = eq < 0 ? s : s.slice(0, eq);
  const value = eq < 0 ? "" : s.slice(eq + 1);
  if (!LABEL_KEY.test(key) || key.length > NAME_MAX)
    ctx.addIssue({ code: "custom", message: "must be key=value or key, the key made of letters, digits and . _ / -" });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (value.length > LABEL_VALUE_MAX || /[\u0000-\u001f\u007f-\u009f]/.test(value))
    ctx.addIssue({
      code: "custom",
      message: `value must be at most ${LABEL_VALUE_MAX} characters, no control characters`,
    });
});

const SERVICE_WHY = "must be a compose service name: letters, digits, _ . -, starting with a letter or digit";
const PROJECT_WHY = "must be a compose project name: lowercase letters, digits, _ -, starting with a letter or digit";

/** The target object; `u` lifts the fields a program may pass as another resource's output. */
export const targetOf = (u: Lift) =>
  z
    .object({
      container: u(
        named(CONTAINER_NAME, "must be a container name: 2+ letters, digits, _ . -, starting with a letter or digit"),
      )
        .optional()
        .meta(doc({ description: "The container's name (`docker run --name`)." })),
      composeService: u(named(COMPOSE_SERVICE, SERVICE_WHY))
        .optional()
        .meta(
          doc({
            description:
              "A compose service (label `com.docker.compose.service`): every running replica's ports. Found in several projects: an error asking for `composeProject`.",
          }),
        ),
      composeProject: u(named(COMPOSE_PROJECT, PROJECT_WHY))
        .optional()
        .meta(doc({ description: "The compose project of `composeService` (label `com.docker.compose.project`)." })),
      label: u(labelSelector)
        .optional()
        .meta(doc({ description: "`key=value` (the label has that value) or `key` (the container has the label)." })),
    })
    .strict()
    .superRefine((t, ctx) => {
      if (t.container === undefined && t.composeService === undefined && t.label === undefined)
        ctx.addIssue({ code: "custom", message: "must name a container, a composeService or a label" });
      if (t.composeProject !== undefined && t.composeService === undefined)
        ctx.addIssue({ code: "custom", path: ["composeProject"], message: "needs composeService" });
    });

export type RuleTarget = z.output<ReturnType<typeof targetOf>>;

/** How errors and outputs name a target, e.g. `container web` or `compose service shop/api, label tier=web`. */
export function describeTarget(t: RuleTarget): string {
  const parts = [
    ...(t.container !== undefined ? [`container ${t.container}`] : []),
    ...(t.composeService !== undefined
      ? [`compose service ${t.composeProject !== undefined ? `${t.composeProject}/` : ""}${t.composeService}`]
      : []),
    ...(t.label !== undefined ? [`label ${t.label}`] : []),
  ];
  return parts.join(", ");
}

/** A published host port (or run of ports) a target resolved to, with its protocol. */
export interface PublishedPort {
  readonly protocol: "tcp" | "udp";
  readonly from: number;
  readonly to: number;
}

export const TARGET_DOC = {
  description:
    'The container whose published ports the rule matches, resolved on the host at every apply: `{ container }`, `{ composeService, composeProject? }` and/or `{ label: "k=v" }` (all given must match; a label selector may match several containers). Instead of `publishedPorts`; a republish on another port shows at refresh (`resolvedPorts`) and is followed at the next up; no running container matching is an error naming it.',
} as const;
