import {
  ACCESS_POLICY_KIND,
  ACCESS_POLICY_PLURAL,
  ACCESS_SCHEDULE_KIND,
  ACCESS_SCHEDULE_PLURAL,
  GROUP,
  MACHINE_IDENTITY_KIND,
  MACHINE_IDENTITY_PLURAL,
} from "../api/index.ts";

/** The kinds whose access a person switches from the command line: each has spec.suspend. */
export const TARGET_KINDS = [MACHINE_IDENTITY_KIND, ACCESS_POLICY_KIND, ACCESS_SCHEDULE_KIND] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export const PLURAL_OF: Readonly<Record<TargetKind, string>> = {
  MachineIdentity: MACHINE_IDENTITY_PLURAL,
  AccessPolicy: ACCESS_POLICY_PLURAL,
  AccessSchedule: ACCESS_SCHEDULE_PLURAL,
};

/** The word the commands print for each kind, and the first of the names they accept for it. */
export const WORD_OF: Readonly<Record<TargetKind, string>> = {
  MachineIdentity: "identity",
  AccessPolicy: "policy",
  AccessSchedule: "schedule",
};

/**
 * Every name a target's kind may be written as, lower case: the word, the kind, the CRD's singular,
 * plural and short names (as kubectl accepts them, also with the group: accesspolicies.signet.dev),
 * and "mi" beside the CRD's "mid". The tests check that every name the CRDs define is here.
 */
export const KIND_NAMES: Readonly<Record<TargetKind, readonly string[]>> = {
  MachineIdentity: ["identity", "identities", "mi", "mid", "machineidentity", MACHINE_IDENTITY_PLURAL],
  AccessPolicy: ["policy", "policies", "ap", "accesspolicy", ACCESS_POLICY_PLURAL],
  AccessSchedule: ["schedule", "schedules", "as", "accessschedule", ACCESS_SCHEDULE_PLURAL],
};

/** A command line argument that names no object: the message says what was expected. */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetError";
  }
}

export interface Target {
  kind: TargetKind;
  namespace: string;
  name: string;
}

/** A grant's target: a schedule, a policy (granted on its schedule), or either when `kind` is absent. */
export interface GrantTarget {
  kind?: TargetKind;
  namespace: string;
  name: string;
}

/** The kind a name stands for, or undefined: case does not matter, nor a ".signet.dev" suffix. */
export function kindOf(text: string): TargetKind | undefined {
  const lower = text.toLowerCase();
  const bare = lower.endsWith(`.${GROUP}`) ? lower.slice(0, -GROUP.length - 1) : lower;
  return TARGET_KINDS.find((kind) => KIND_NAMES[kind].includes(bare));
}

const KIND_CHOICES = TARGET_KINDS.map((k) => WORD_OF[k]).join(", ");

function segments(text: string, what: string): string[] {
  const parts = text.split("/");
  if (parts.some((p) => p === "")) throw new TargetError(`${what} ${JSON.stringify(text)} has an empty part`);
  return parts;
}

/** "identity shop/checkout": how a target is named in messages. */
export function describeTarget(target: Pick<Target, "kind" | "namespace" | "name">): string {
  return `${WORD_OF[target.kind]} ${target.namespace}/${target.name}`;
}

/**
 * `<kind>/<namespace>/<name>`, or `<kind>/<name>` in `defaultNamespace` (the -n flag, else the
 * kubeconfig context's namespace), e.g. policy/shop/checkout-to-payments or mi/checkout.
 */
export function parseTarget(text: string, defaultNamespace: string): Target {
  const parts = segments(text, "target");
  if (parts.length < 2 || parts.length > 3) {
    throw new TargetError(
      `target ${JSON.stringify(text)} must be <kind>/<namespace>/<name> or <kind>/<name>, e.g. policy/shop/checkout-to-payments`,
    );
  }
  const [kindText = "", ...rest] = parts;
  const kind = kindOf(kindText);
  if (kind === undefined) {
    throw new TargetError(
      `target ${JSON.stringify(text)}: unknown kind ${JSON.stringify(kindText)}; use ${KIND_CHOICES}`,
    );
  }
  const [namespace, name] =
    rest.length === 2 ? (rest as [string, string]) : [defaultNamespace, rest[0] ?? ""];
  return { kind, namespace, name };
}

/**
 * What a grant is opened on: `<namespace>/<name>` or `<name>` (a schedule or a policy of that
 * name), or `<kind>/<namespace>/<name>` to say which. Two parts are always namespace and name.
 */
export function parseGrantTarget(text: string, defaultNamespace: string): GrantTarget {
  const parts = segments(text, "target");
  if (parts.length === 1) return { namespace: defaultNamespace, name: parts[0] ?? "" };
  if (parts.length === 2) return { namespace: parts[0] ?? "", name: parts[1] ?? "" };
  if (parts.length === 3) return parseTarget(text, defaultNamespace);
  throw new TargetError(
    `target ${JSON.stringify(text)} must be <namespace>/<name>, <name>, or <kind>/<namespace>/<name>, e.g. shop/on-call or policy/shop/checkout-to-payments`,
  );
}
