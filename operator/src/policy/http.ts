import type { AccessScheduleSpecInput } from "../schedule/state.ts";
import { scheduleState } from "../schedule/state.ts";
import {
  type AccessPolicyInput,
  type AccessPolicySourceInput,
  accessPolicyDecision,
  compareStrings,
  type IdentitySuspendedLookup,
  objectKey,
} from "./networkpolicies.ts";

// What `signet proxy` asks of the AccessPolicies for one request: the same active state the
// NetworkPolicies follow (suspend, schedule windows, suspended identities), then the caller's
// allowFrom entries and their http rules, which only a layer 7 verifier can apply.

export const AuthorizationReason = {
  /** An active AccessPolicy allows this caller this method and path on this target. */
  Allowed: "Allowed",
  /** The caller's SPIFFE ID is not of the form spiffe://<trust domain>/ns/<namespace>/id/<name>. */
  CallerNotAnIdentity: "CallerNotAnIdentity",
  /** No active AccessPolicy of the target names the caller. */
  CallerNotAllowed: "CallerNotAllowed",
  /** An active policy names the caller, but none of its entries for the caller allows this method. */
  MethodNotAllowed: "MethodNotAllowed",
  /** An active policy names the caller and allows the method, but not for this path. */
  PathNotAllowed: "PathNotAllowed",
} as const;
export type AuthorizationReason = (typeof AuthorizationReason)[keyof typeof AuthorizationReason];

export interface IdentityRef {
  namespace: string;
  identity: string;
}

export interface HttpRequestInput {
  source: IdentityRef;
  target: IdentityRef;
  /** Upper case, as HTTP/1.1 carries it. */
  method: string;
  /** The request's path in the normal form of the proofs' htu (docs/proofs.md section 5), without query. */
  path: string;
  now: Date;
}

export interface AccessScheduleObjectInput {
  metadata: { name: string; namespace: string };
  spec: AccessScheduleSpecInput;
}

export type HttpDecision =
  | { allowed: true; reason: typeof AuthorizationReason.Allowed; policy: string; message: string }
  | {
      allowed: false;
      reason: Exclude<AuthorizationReason, typeof AuthorizationReason.Allowed>;
      message: string;
      /** The policy that names the caller but not this request, for MethodNotAllowed and PathNotAllowed. */
      policy?: string;
    };

/** Whether a path pattern admits `path`: exact ("/v1/pay"), or a prefix ending in "/*" ("/v1/*"). */
export function pathMatches(pattern: string, path: string): boolean {
  return pattern.endsWith("/*") ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}

function allowsMethod(source: AccessPolicySourceInput, method: string): boolean {
  return source.http?.methods === undefined || source.http.methods.includes(method);
}

function allowsPath(source: AccessPolicySourceInput, path: string): boolean {
  return source.http?.paths === undefined || source.http.paths.some((p) => pathMatches(p, path));
}

/**
 * Whether `source` may send `method path` to `target` at `now`. Policies of other namespaces and
 * other targets play no part. A schedule a policy names but `schedules` lacks leaves that policy
 * inactive (deny by default), as it does for the NetworkPolicies.
 */
export function httpDecision(
  policies: readonly AccessPolicyInput[],
  request: HttpRequestInput,
  schedules: readonly AccessScheduleObjectInput[] = [],
  identitySuspended?: IdentitySuspendedLookup,
): HttpDecision {
  const { source, target, method, path, now } = request;
  const caller = JSON.stringify(objectKey(source.namespace, source.identity));
  const what = `${method} ${path}`;
  const scheduleLookup = (namespace: string, name: string) => {
    const schedule = schedules.find((s) => s.metadata.namespace === namespace && s.metadata.name === name);
    return schedule === undefined ? undefined : scheduleState(schedule.spec, now);
  };
  const mine = policies
    .filter((p) => p.metadata.namespace === target.namespace && p.spec.target.identity === target.identity)
    .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));

  const inactive: string[] = [];
  let methodRefusal: string | undefined;
  let pathRefusal: string | undefined;
  for (const policy of mine) {
    const entries = policy.spec.allowFrom.filter(
      (s) =>
        s.identity === source.identity && (s.namespace ?? policy.metadata.namespace) === source.namespace,
    );
    if (entries.length === 0) continue;
    const state = accessPolicyDecision(policy, scheduleLookup, identitySuspended);
    if (!state.active) {
      inactive.push(`${JSON.stringify(policy.metadata.name)} (${state.reason})`);
      continue;
    }
    const withMethod = entries.filter((s) => allowsMethod(s, method));
    if (withMethod.some((s) => allowsPath(s, path))) {
      return {
        allowed: true,
        reason: AuthorizationReason.Allowed,
        policy: policy.metadata.name,
        message: `AccessPolicy ${JSON.stringify(policy.metadata.name)} allows ${caller} ${what}`,
      };
    }
    if (withMethod.length > 0) pathRefusal ??= policy.metadata.name;
    else methodRefusal ??= policy.metadata.name;
  }
  if (pathRefusal !== undefined) {
    return {
      allowed: false,
      reason: AuthorizationReason.PathNotAllowed,
      policy: pathRefusal,
      message: `AccessPolicy ${JSON.stringify(pathRefusal)} allows ${caller} ${method}, but not on the path ${path}`,
    };
  }
  if (methodRefusal !== undefined) {
    return {
      allowed: false,
      reason: AuthorizationReason.MethodNotAllowed,
      policy: methodRefusal,
      message: `AccessPolicy ${JSON.stringify(methodRefusal)} names ${caller}, but not for the method ${method}`,
    };
  }
  const targetKey = JSON.stringify(objectKey(target.namespace, target.identity));
  const why =
    inactive.length === 0
      ? "no AccessPolicy names it"
      : `the AccessPolicies that name it are inactive: ${inactive.join(", ")}`;
  return {
    allowed: false,
    reason: AuthorizationReason.CallerNotAllowed,
    message: `${caller} may not reach ${targetKey}: ${why}`,
  };
}
