import type { z } from "zod";
import { type AccessPolicy, AccessPolicySchema } from "./access-policy.ts";
import { type AccessSchedule, AccessScheduleSchema } from "./access-schedule.ts";
import type { SignetKind } from "./constants.ts";
import { type Enrollment, EnrollmentSchema } from "./enrollment.ts";
import { fieldPathOf, type Problem } from "./fields.ts";
import { type IssuancePolicy, IssuancePolicySchema } from "./issuance-policy.ts";
import { type MachineIdentity, MachineIdentitySchema } from "./machine-identity.ts";
import { type TrustedIssuer, TrustedIssuerSchema } from "./trusted-issuer.ts";

export interface KindTypes {
  MachineIdentity: MachineIdentity;
  AccessPolicy: AccessPolicy;
  AccessSchedule: AccessSchedule;
  IssuancePolicy: IssuancePolicy;
  Enrollment: Enrollment;
  TrustedIssuer: TrustedIssuer;
}

export const SCHEMAS: { readonly [K in SignetKind]: z.ZodType<KindTypes[K]> } = {
  MachineIdentity: MachineIdentitySchema,
  AccessPolicy: AccessPolicySchema,
  AccessSchedule: AccessScheduleSchema,
  IssuancePolicy: IssuancePolicySchema,
  Enrollment: EnrollmentSchema,
  TrustedIssuer: TrustedIssuerSchema,
};

/** The parsed object with every default applied, or the problems that keep it from being one. */
export type Validation<T> =
  | { ok: true; value: T; problems: [] }
  | { ok: false; value?: undefined; problems: Problem[] };

/** True when Intl (and so the schedule evaluation) knows the IANA time zone. */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** The reserved SPIFFE path form /ns/<namespace>/... names the namespace it belongs to. */
const NAMESPACED_PATH = /^spiffe:\/\/[^/]+\/ns\/([^/]+)(\/|$)/;

/**
 * What the API server cannot check because it needs the runtime (Intl's time-zone database) or
 * fields CEL cannot see (metadata.namespace). Expects an object the schema already accepted.
 */
function semanticProblems<K extends SignetKind>(kind: K, obj: KindTypes[K]): Problem[] {
  const problems: Problem[] = [];
  if (kind === "AccessSchedule") {
    const { timeZone } = (obj as AccessSchedule).spec;
    if (!isKnownTimeZone(timeZone)) {
      problems.push({
        field: "spec.timeZone",
        message: `unknown time zone ${JSON.stringify(timeZone)}; use an IANA name such as "Europe/Berlin" or "UTC"`,
      });
    }
  }
  if (kind === "MachineIdentity") {
    const identity = obj as MachineIdentity;
    const claimed = identity.spec.spiffeID?.match(NAMESPACED_PATH)?.[1];
    const namespace = identity.metadata.namespace;
    // Claiming another namespace's ID would let anyone with rights here impersonate its workloads.
    if (claimed !== undefined && namespace !== undefined && claimed !== namespace) {
      problems.push({
        field: "spec.spiffeID",
        message: `spiffeID claims namespace ${JSON.stringify(claimed)} but the identity lives in ${JSON.stringify(namespace)}; use /ns/${namespace}/... or a path outside /ns/`,
      });
    }
  }
  return problems;
}

/** Validates an object of the kind: the schema (as the CRD enforces it) and then the semantic checks. */
export function validate<K extends SignetKind>(kind: K, obj: unknown): Validation<KindTypes[K]> {
  const parsed = SCHEMAS[kind].safeParse(obj, {
    error: (issue) =>
      issue.code === "invalid_type" && issue.input === undefined ? "is required" : undefined,
  });
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => ({ field: fieldPathOf(i.path), message: i.message })),
    };
  }
  const problems = semanticProblems(kind, parsed.data);
  return problems.length ? { ok: false, problems } : { ok: true, value: parsed.data, problems: [] };
}

/** Every problem with the object, schema and semantics alike; empty when it is valid. */
export function checkSemantics(kind: SignetKind, obj: unknown): Problem[] {
  return validate(kind, obj).problems;
}

export const validateMachineIdentity = (obj: unknown) => validate("MachineIdentity", obj);
export const validateAccessPolicy = (obj: unknown) => validate("AccessPolicy", obj);
export const validateAccessSchedule = (obj: unknown) => validate("AccessSchedule", obj);
export const validateIssuancePolicy = (obj: unknown) => validate("IssuancePolicy", obj);
