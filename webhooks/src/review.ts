import { z } from "zod";
import type { JsonPatchOperation } from "./decide.ts";

/**
 * AdmissionReview v1 as the API server sends it. Only what the webhook reads is checked; the rest
 * of the request passes through loosely, since newer API servers add fields.
 */
export const admissionReviewSchema = z.object({
  apiVersion: z.literal("admission.k8s.io/v1"),
  kind: z.literal("AdmissionReview"),
  request: z.looseObject({
    uid: z.string().min(1),
    kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }),
    operation: z.enum(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
    namespace: z.string().optional(),
    name: z.string().optional(),
    subResource: z.string().optional(),
    object: z.unknown(),
    oldObject: z.unknown().optional(),
    dryRun: z.boolean().optional(),
  }),
});

export type AdmissionReview = z.infer<typeof admissionReviewSchema>;
export type AdmissionRequest = AdmissionReview["request"];

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string };
  patchType?: "JSONPatch";
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  response: AdmissionResponse;
}

/** A refusal that is not a policy decision: the request could not be decided (yet). */
export interface Refusal {
  code: 400 | 500 | 503;
  message: string;
}

const STATUS_REASON = {
  400: "BadRequest",
  403: "Forbidden",
  500: "InternalError",
  503: "ServiceUnavailable",
};

/**
 * What an admission handler answers: admitted (with a patch only on a mutating path), denied by a
 * rule (403, `reason` a CamelCase constant counted in signet_admission_denials_total), or refused
 * because it could not be decided (a Refusal).
 */
export type AdmissionAnswer =
  | { allowed: true; patch?: JsonPatchOperation[]; warnings?: string[] }
  | { allowed: false; reason: string; message: string }
  | Refusal;

/** The review that answers `uid`: a patch is sent only when there is something to change. */
export function reviewResponse(uid: string, outcome: AdmissionAnswer): AdmissionReviewResponse {
  let response: AdmissionResponse;
  if ("code" in outcome) {
    response = {
      uid,
      allowed: false,
      status: { code: outcome.code, reason: STATUS_REASON[outcome.code], message: outcome.message },
    };
  } else if (!outcome.allowed) {
    response = {
      uid,
      allowed: false,
      status: { code: 403, reason: STATUS_REASON[403], message: outcome.message },
    };
  } else {
    response = { uid, allowed: true };
    if (outcome.patch && outcome.patch.length > 0) {
      response.patchType = "JSONPatch";
      response.patch = Buffer.from(JSON.stringify(outcome.patch)).toString("base64");
    }
    if (outcome.warnings && outcome.warnings.length > 0) response.warnings = outcome.warnings;
  }
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}

/** A short, single-line reason for input that failed validation: the first issue and where. */
export function describeInvalidReview(error: z.ZodError, what = "AdmissionReview", root = "body"): string {
  const issue = error.issues[0];
  if (!issue) return `invalid ${what}`;
  const where = issue.path.length > 0 ? issue.path.join(".") : root;
  return `invalid ${what}: ${where}: ${issue.message}`;
}
