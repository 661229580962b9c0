import type { V1NetworkPolicy, V1OwnerReference } from "@kubernetes/client-node";
import {
  ACCESS_POLICY_KIND,
  type AccessPolicy,
  type AccessPolicyStatus,
  API_VERSION,
  type MachineIdentity,
} from "../../api/index.ts";
import {
  type AccessPolicyDecision,
  AccessPolicyReason,
  keyOf,
  type NetworkPolicyDiff,
  networkPolicyDiff,
  type AccessPolicyInput as PolicyInput,
} from "../../policy/index.ts";
import { type ConditionInput, jsonEqual, setConditions } from "../shared/conditions.ts";

/** The translation's view of a cached AccessPolicy. */
export function policyInput(policy: AccessPolicy, namespace: string): PolicyInput {
  return { metadata: { name: policy.metadata.name, namespace }, spec: policy.spec };
}

/**
 * A policy being deleted (a finalizer of someone else holds it) no longer grants anything: its
 * allow goes at once instead of when the object finally disappears.
 */
export function isLive(policy: AccessPolicy): boolean {
  return (policy.metadata as { deletionTimestamp?: unknown }).deletionTimestamp === undefined;
}

function uidOf(policy: AccessPolicy): string | undefined {
  const uid = (policy.metadata as { uid?: unknown }).uid;
  return typeof uid === "string" && uid !== "" ? uid : undefined;
}

/**
 * The desired NetworkPolicies with one ownerReference per owning AccessPolicy, none of them the
 * controller: a target's deny is shared by every policy naming the target, so no single policy
 * controls it, and the garbage collector removes it only after the last owner is gone. Owners
 * without a uid (not yet read back from the server) are left out rather than written wrong.
 */
export function withOwnerReferences(
  networkPolicies: readonly V1NetworkPolicy[],
  owners: ReadonlyMap<string, readonly string[]>,
  policyOf: (namespace: string, name: string) => AccessPolicy | undefined,
): V1NetworkPolicy[] {
  return networkPolicies.map((np) => {
    const namespace = np.metadata?.namespace ?? "";
    const references: V1OwnerReference[] = [];
    for (const name of owners.get(keyOf(np)) ?? []) {
      const policy = policyOf(namespace, name);
      const uid = policy && uidOf(policy);
      if (uid === undefined) continue;
      references.push({ apiVersion: API_VERSION, kind: ACCESS_POLICY_KIND, name, uid });
    }
    return { ...np, metadata: { ...np.metadata, ownerReferences: references } };
  });
}

function ownerKey(reference: V1OwnerReference): string {
  return `${reference.apiVersion}/${reference.kind}/${reference.name}/${reference.uid}/${reference.controller === true}`;
}

/** Whether two objects carry the same ownerReferences, in any order. */
export function sameOwners(a: V1NetworkPolicy, b: V1NetworkPolicy): boolean {
  const keys = (np: V1NetworkPolicy) => (np.metadata?.ownerReferences ?? []).map(ownerKey).sort();
  return jsonEqual(keys(a), keys(b));
}

/**
 * What to write so that the namespace's Signet NetworkPolicies match `desired` (which carries the
 * ownerReferences): the policy module's diff of spec and Signet labels, plus updates for objects
 * whose owners alone changed. Each update keeps labels and annotations that others put on the
 * existing object and is guarded by its resourceVersion.
 */
export function networkPolicyWrites(
  desired: readonly V1NetworkPolicy[],
  actual: readonly V1NetworkPolicy[],
): NetworkPolicyDiff {
  const diff = networkPolicyDiff(desired, actual);
  const existing = new Map(actual.map((np) => [keyOf(np), np]));
  const updating = new Set(diff.update.map(keyOf));
  const creating = new Set(diff.create.map(keyOf));
  for (const np of desired) {
    const key = keyOf(np);
    const current = existing.get(key);
    if (current === undefined || updating.has(key) || creating.has(key) || sameOwners(np, current)) continue;
    diff.update.push({
      ...np,
      metadata: { ...np.metadata, resourceVersion: current.metadata?.resourceVersion },
    });
  }
  diff.update = diff.update.map((np) => {
    const current = existing.get(keyOf(np));
    if (current === undefined) return np;
    const labels = { ...current.metadata?.labels, ...np.metadata?.labels };
    const annotations = current.metadata?.annotations;
    return { ...np, metadata: { ...np.metadata, labels, ...(annotations ? { annotations } : {}) } };
  });
  diff.update.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  return diff;
}

export const PolicyConditionReason = {
  NetworkPoliciesPending: "NetworkPoliciesPending",
} as const;

/**
 * The status an AccessPolicy should carry for its decision. Ready says whether the operator has
 * put the decision in force: True once the NetworkPolicies match (whether access is open or
 * closed), False while writes are pending or when the policy names a schedule that does not exist.
 */
export function accessPolicyStatus(
  policy: AccessPolicy,
  decision: AccessPolicyDecision,
  applied: boolean,
  now: Date,
): AccessPolicyStatus {
  const generation = policy.metadata.generation;
  let ready: ConditionInput;
  if (decision.reason === AccessPolicyReason.ScheduleNotFound) {
    ready = { type: "Ready", status: "False", reason: decision.reason, message: decision.message };
  } else if (!applied) {
    ready = {
      type: "Ready",
      status: "False",
      reason: PolicyConditionReason.NetworkPoliciesPending,
      message: `NetworkPolicies ${decision.networkPolicies.join(", ")} are being written: ${decision.message}`,
    };
  } else {
    ready = { type: "Ready", status: "True", reason: decision.reason, message: decision.message };
  }
  const status: AccessPolicyStatus = {
    active: decision.active,
    reason: decision.reason,
    networkPolicies: [...decision.networkPolicies],
    conditions: setConditions(policy.status?.conditions, [ready], now, generation),
  };
  if (decision.nextTransition) status.nextTransition = decision.nextTransition.toISOString();
  if (generation !== undefined) status.observedGeneration = generation;
  return status;
}

export const AccessEventReason = {
  AccessGranted: "AccessGranted",
  AccessRevoked: "AccessRevoked",
  ScheduleNotFound: "ScheduleNotFound",
} as const;

export interface AccessEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/**
 * The event that explains a decision, judged against the status last written: access granted or
 * revoked when `active` flips (a new policy that opens access counts as granted; one that starts
 * closed is silent), a warning while the referenced schedule is missing.
 */
export function accessEvent(
  previous: AccessPolicyStatus | undefined,
  decision: AccessPolicyDecision,
): AccessEvent | undefined {
  if (decision.reason === AccessPolicyReason.ScheduleNotFound) {
    return previous?.reason === decision.reason
      ? undefined
      : { type: "Warning", reason: AccessEventReason.ScheduleNotFound, message: decision.message };
  }
  const was = previous?.active === true;
  if (was === decision.active) return undefined;
  return decision.active
    ? { type: "Normal", reason: AccessEventReason.AccessGranted, message: decision.message }
    : { type: "Normal", reason: AccessEventReason.AccessRevoked, message: decision.message };
}

/** Whether a cached object's spec has changes its status has not seen (status-only writes do not). */
export function hasUnobservedSpec(object: {
  metadata?: { generation?: number | undefined };
  status?: { observedGeneration?: number | undefined } | undefined;
}): boolean {
  const generation = object.metadata?.generation;
  return generation === undefined || object.status?.observedGeneration !== generation;
}

/** Whether the MachineIdentity exists and is suspended (a missing one has nothing to suspend). */
export function isSuspended(identity: Pick<MachineIdentity, "spec"> | undefined): boolean {
  return identity?.spec?.suspend === true;
}

/**
 * The namespaces whose policies name the identity `namespace/name`, as target (policies of its own
 * namespace) or as a source (policies of any namespace), sorted: those to reconcile again when the
 * identity's suspend changes.
 */
export function namespacesNaming(
  policies: readonly AccessPolicy[],
  namespace: string,
  name: string,
): string[] {
  const found = new Set<string>();
  for (const policy of policies) {
    const own = policy.metadata.namespace ?? "";
    const asTarget = own === namespace && policy.spec.target.identity === name;
    const asSource = policy.spec.allowFrom.some(
      (source) => source.identity === name && (source.namespace ?? own) === namespace,
    );
    if (asTarget || asSource) found.add(own);
  }
  return [...found].sort();
}

/** Whether any of the policies (of the schedule's namespace) names the schedule. */
export function referencesSchedule(policies: readonly AccessPolicy[], scheduleName: string): boolean {
  return policies.some((p) => p.spec.scheduleRef?.name === scheduleName);
}
