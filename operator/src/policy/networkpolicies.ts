import type {
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
} from "@kubernetes/client-node";
import {
  IDENTITY_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  POLICY_LABEL,
  TARGET_LABEL,
} from "../api/names.ts";
import { allowNetworkPolicyName, denyNetworkPolicyName, labelValue, NAMESPACE_NAME_LABEL } from "./names.ts";

// Inputs carry exactly the AccessPolicy field names, so the types inferred from the API schemas
// fit them structurally. Optional fields are the ones the schemas default.
export interface AccessPolicyPortInput {
  port: number;
  protocol?: "TCP" | "UDP" | "SCTP";
}

export interface AccessPolicySourceInput {
  identity: string;
  namespace?: string;
  /** Layer 7 only (signet proxy): NetworkPolicies ignore it. */
  http?: { methods?: readonly string[]; paths?: readonly string[] };
}

export interface AccessPolicySpecInput {
  target: { identity: string; ports?: readonly AccessPolicyPortInput[] };
  allowFrom: readonly AccessPolicySourceInput[];
  scheduleRef?: { name: string };
  suspend?: boolean;
}

export interface AccessPolicyInput {
  metadata: { name: string; namespace: string };
  spec: AccessPolicySpecInput;
}

/** What the policy translation needs from an AccessSchedule's state (a ScheduleState fits). */
export interface ScheduleSignal {
  active: boolean;
  reason?: string;
  nextTransition?: Date;
}

/** The state of the AccessSchedule `scheduleName` in `namespace`; undefined when it does not exist. */
export type ScheduleStateLookup = (namespace: string, scheduleName: string) => ScheduleSignal | undefined;

/**
 * Whether the MachineIdentity `identity` in `namespace` is suspended (spec.suspend). An identity
 * that does not exist is not suspended: policies may name identities before they are created.
 */
export type IdentitySuspendedLookup = (namespace: string, identity: string) => boolean;

const noneSuspended: IdentitySuspendedLookup = () => false;

export const AccessPolicyReason = {
  /** No scheduleRef: the allow rule stands while the policy exists. */
  Active: "Active",
  ScheduleActive: "ScheduleActive",
  ScheduleInactive: "ScheduleInactive",
  ScheduleNotFound: "ScheduleNotFound",
  Suspended: "Suspended",
  NoSources: "NoSources",
  /** The target MachineIdentity is suspended: its pods keep only the default deny. */
  TargetSuspended: "TargetSuspended",
  /** Every source MachineIdentity is suspended: no allow rule is left to write. */
  SourcesSuspended: "SourcesSuspended",
} as const;
export type AccessPolicyReason = (typeof AccessPolicyReason)[keyof typeof AccessPolicyReason];

export interface AccessPolicyDecision {
  active: boolean;
  reason: AccessPolicyReason;
  message: string;
  /** The schedule's next transition, passed through; undefined without a schedule or when suspended. */
  nextTransition?: Date;
  /** The Signet NetworkPolicies in force for this policy (its target's deny, and its allow while active), sorted. */
  networkPolicies: string[];
  /**
   * The suspended MachineIdentities that cost this policy access, as namespace/name, sorted: the
   * target, or the sources left out of the allow rule. Absent when none is.
   */
  suspendedIdentities?: string[];
}

export interface DesiredNetworkPolicies {
  /** Every NetworkPolicy Signet wants to exist, sorted by namespace then name. */
  networkPolicies: V1NetworkPolicy[];
  /** Per AccessPolicy, keyed by objectKey(namespace, name): what its status should say. */
  statuses: Map<string, AccessPolicyDecision>;
  /** Per desired NetworkPolicy, keyed by objectKey(namespace, name): the AccessPolicies that own it. */
  owners: Map<string, string[]>;
}

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** objectKey of a Kubernetes object's metadata. */
export function keyOf(object: { metadata?: { namespace?: string; name?: string } }): string {
  return objectKey(object.metadata?.namespace ?? "", object.metadata?.name ?? "");
}

/** Orders objects by namespace, then name. */
export function compareObjects(
  a: { metadata?: { namespace?: string; name?: string } },
  b: { metadata?: { namespace?: string; name?: string } },
): number {
  return (
    compareStrings(a.metadata?.namespace ?? "", b.metadata?.namespace ?? "") ||
    compareStrings(a.metadata?.name ?? "", b.metadata?.name ?? "")
  );
}

function portsText(ports: readonly V1NetworkPolicyPort[]): string {
  return ports.length === 0 ? "all ports" : ports.map((p) => `${p.port}/${p.protocol}`).join(", ");
}

function identitiesText(keys: readonly string[]): string {
  const names = keys.map((key) => JSON.stringify(key)).join(", ");
  return `MachineIdentit${keys.length === 1 ? "y" : "ies"} ${names}`;
}

/** A decision and the sources its allow rule names (those not suspended). */
interface Judged {
  decision: AccessPolicyDecision;
  sources: Source[];
}

/**
 * Whether one AccessPolicy's allow rule should be in force. Deny by default: suspended, a missing
 * schedule, an inactive schedule, or no sources at all all leave only the target's default deny.
 *
 * A suspended MachineIdentity has no access while it is suspended. As the target, the policy is
 * closed and its pods keep only the default deny (nothing is opened in its place). As a source, it
 * is left out of the allow rule; when no source is left the policy is closed, since an allow rule
 * without peers would admit every pod.
 */
export function accessPolicyDecision(
  policy: AccessPolicyInput,
  scheduleStates: ScheduleStateLookup,
  identitySuspended: IdentitySuspendedLookup = noneSuspended,
): AccessPolicyDecision {
  return judge(policy, scheduleStates, identitySuspended).decision;
}

function judge(
  policy: AccessPolicyInput,
  scheduleStates: ScheduleStateLookup,
  identitySuspended: IdentitySuspendedLookup,
): Judged {
  const { name, namespace } = policy.metadata;
  const { target, allowFrom, scheduleRef } = policy.spec;
  const deny = denyNetworkPolicyName(target.identity);
  const allow = allowNetworkPolicyName(name);
  const all = sources(policy);
  const live = all.filter((s) => !identitySuspended(s.namespace, s.identity));
  const cut = all
    .filter((s) => identitySuspended(s.namespace, s.identity))
    .map((s) => objectKey(s.namespace, s.identity));
  const decide = (
    active: boolean,
    reason: AccessPolicyReason,
    message: string,
    nextTransition?: Date,
    suspendedIdentities: string[] = [],
  ): Judged => {
    const networkPolicies = active ? [deny, allow].sort(compareStrings) : [deny];
    const decision: AccessPolicyDecision = { active, reason, message, networkPolicies };
    if (nextTransition !== undefined) decision.nextTransition = nextTransition;
    if (suspendedIdentities.length > 0) decision.suspendedIdentities = suspendedIdentities;
    return { decision, sources: active ? live : [] };
  };
  const closed = (reason: AccessPolicyReason, message: string, nextTransition?: Date, suspended?: string[]) =>
    decide(false, reason, message, nextTransition, suspended);
  const open = (reason: AccessPolicyReason, message: string, nextTransition?: Date) =>
    decide(true, reason, message, nextTransition, cut);
  const denied = `ingress to identity ${JSON.stringify(target.identity)} is denied`;

  if (policy.spec.suspend === true) {
    return closed(
      AccessPolicyReason.Suspended,
      `spec.suspend is true: ${denied} until the policy is resumed`,
    );
  }
  if (identitySuspended(namespace, target.identity)) {
    const key = objectKey(namespace, target.identity);
    return closed(
      AccessPolicyReason.TargetSuspended,
      `the target ${identitiesText([key])} is suspended: ${denied} until it is resumed`,
      undefined,
      [key],
    );
  }
  if (allowFrom.length === 0) {
    return closed(AccessPolicyReason.NoSources, `spec.allowFrom is empty: ${denied}`);
  }
  if (live.length === 0) {
    return closed(
      AccessPolicyReason.SourcesSuspended,
      `every source is suspended (${identitiesText(cut)}): ${denied} until one is resumed`,
      undefined,
      cut,
    );
  }

  const count = live.length;
  const leftOut = cut.length === 0 ? "" : `; suspended and left out: ${identitiesText(cut)}`;
  const opened = `ingress to identity ${JSON.stringify(target.identity)} on ${portsText(ports(policy))} is allowed from ${count} source identit${count === 1 ? "y" : "ies"}${leftOut}`;

  if (scheduleRef === undefined) return open(AccessPolicyReason.Active, opened);

  const schedule = scheduleStates(namespace, scheduleRef.name);
  const scheduleName = JSON.stringify(scheduleRef.name);
  if (schedule === undefined) {
    return closed(
      AccessPolicyReason.ScheduleNotFound,
      `spec.scheduleRef.name ${scheduleName}: no AccessSchedule of that name in namespace ${JSON.stringify(namespace)}; ${denied} until it exists`,
    );
  }
  if (!schedule.active) {
    const why = schedule.reason === undefined ? "" : ` (${schedule.reason})`;
    return closed(
      AccessPolicyReason.ScheduleInactive,
      `AccessSchedule ${scheduleName} is inactive${why}: ${denied}`,
      schedule.nextTransition,
    );
  }
  return open(
    AccessPolicyReason.ScheduleActive,
    `AccessSchedule ${scheduleName} is active: ${opened}`,
    schedule.nextTransition,
  );
}

interface Source {
  namespace: string;
  identity: string;
}

/** The policy's sources with the default namespace filled in, de-duplicated and sorted. */
function sources(policy: AccessPolicyInput): Source[] {
  const byKey = new Map<string, Source>();
  for (const source of policy.spec.allowFrom) {
    const namespace = source.namespace ?? policy.metadata.namespace;
    byKey.set(objectKey(namespace, source.identity), { namespace, identity: source.identity });
  }
  return [...byKey.values()].sort(
    (a, b) => compareStrings(a.namespace, b.namespace) || compareStrings(a.identity, b.identity),
  );
}

/** The target's ports with the protocol defaulted to TCP (as the API server would), de-duplicated and sorted. */
function ports(policy: AccessPolicyInput): V1NetworkPolicyPort[] {
  const byKey = new Map<string, V1NetworkPolicyPort & { port: number; protocol: string }>();
  for (const p of policy.spec.target.ports ?? []) {
    const protocol = p.protocol ?? "TCP";
    byKey.set(`${p.port}/${protocol}`, { port: p.port, protocol });
  }
  return [...byKey.values()].sort((a, b) => a.port - b.port || compareStrings(a.protocol, b.protocol));
}

function identitySelector(identity: string) {
  return { matchLabels: { [IDENTITY_LABEL]: identity } };
}

function peer(source: Source, policyNamespace: string): V1NetworkPolicyPeer {
  if (source.namespace === policyNamespace) return { podSelector: identitySelector(source.identity) };
  // Both selectors in one peer: pods with the identity label AND in that namespace. As two peers
  // they would mean either, which would open the target to the whole namespace.
  return {
    namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: source.namespace } },
    podSelector: identitySelector(source.identity),
  };
}

function labels(entries: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).sort(([a], [b]) => compareStrings(a, b)));
}

function denyNetworkPolicy(namespace: string, identity: string): V1NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: denyNetworkPolicyName(identity),
      namespace,
      labels: labels({ [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [TARGET_LABEL]: labelValue(identity) }),
    },
    // Ingress listed with no rules: selected pods accept no traffic except what allow policies add.
    spec: { podSelector: identitySelector(identity), policyTypes: ["Ingress"] },
  };
}

function allowNetworkPolicy(policy: AccessPolicyInput, allowed: readonly Source[]): V1NetworkPolicy {
  const { name, namespace } = policy.metadata;
  const targetPorts = ports(policy);
  const from = allowed.map((source) => peer(source, namespace));
  // client-node's model names this field `_from` and its serializer writes only that one out as
  // `from`; plain JSON.stringify writes keys as they are. An ingress rule that reaches the API
  // server without `from` allows every source, so carry both: each path then sends the peers, and
  // a server that refuses unknown fields rejects the plain-JSON form instead of opening access.
  const rule: V1NetworkPolicyIngressRule & { from: V1NetworkPolicyPeer[] } = { _from: from, from };
  // No ports means every port; an empty list would mean the same, but omitting it matches what the
  // API server returns, so drift comparison sees no difference.
  if (targetPorts.length > 0) rule.ports = targetPorts;
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: allowNetworkPolicyName(name),
      namespace,
      labels: labels({
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [POLICY_LABEL]: labelValue(name),
        [TARGET_LABEL]: labelValue(policy.spec.target.identity),
      }),
    },
    spec: {
      podSelector: identitySelector(policy.spec.target.identity),
      policyTypes: ["Ingress"],
      ingress: [rule],
    },
  };
}

/**
 * Which AccessPolicies own each Signet NetworkPolicy they can give rise to, keyed by
 * objectKey(namespace, NetworkPolicy name), owners sorted by name. A target's deny belongs to every
 * policy naming that target, an allow to its own policy.
 *
 * Suggested use: one non-controller ownerReference per owner (none with controller: true, since
 * no single policy controls a shared deny). The garbage collector then removes a deny only when the
 * last policy naming its target is deleted. Signet still deletes strays itself through
 * networkPolicyDiff, so correctness does not depend on a garbage collector running.
 */
export function networkPolicyOwners(policies: readonly AccessPolicyInput[]): Map<string, string[]> {
  const owners = new Map<string, Set<string>>();
  const add = (namespace: string, networkPolicy: string, policy: string) => {
    const key = objectKey(namespace, networkPolicy);
    let set = owners.get(key);
    if (set === undefined) {
      set = new Set();
      owners.set(key, set);
    }
    set.add(policy);
  };
  for (const policy of policies) {
    const { name, namespace } = policy.metadata;
    add(namespace, denyNetworkPolicyName(policy.spec.target.identity), name);
    add(namespace, allowNetworkPolicyName(name), name);
  }
  const sorted = [...owners.entries()].sort(([a], [b]) => compareStrings(a, b));
  return new Map(sorted.map(([key, set]) => [key, [...set].sort(compareStrings)]));
}

/**
 * The exact set of NetworkPolicies that AccessPolicies call for, with each policy's decision.
 *
 * Every target identity named by any policy gets one default-deny-ingress NetworkPolicy, whatever
 * the policies' states, so that access is closed by default and closing it never waits for a
 * deletion. Every active policy adds one allow NetworkPolicy. Output is deterministic (sorted
 * objects, sources, ports and keys) so an unchanged input never causes a write.
 * A suspended MachineIdentity is in no allow rule (see accessPolicyDecision).
 * Policies are identified by namespace/name; pass each at most once.
 */
export function networkPoliciesFor(
  policies: readonly AccessPolicyInput[],
  scheduleStates: ScheduleStateLookup,
  identitySuspended: IdentitySuspendedLookup = noneSuspended,
): DesiredNetworkPolicies {
  const byKey = new Map<string, V1NetworkPolicy>();
  const statuses = new Map<string, AccessPolicyDecision>();
  const sorted = [...policies].sort(
    (a, b) =>
      compareStrings(a.metadata.namespace, b.metadata.namespace) ||
      compareStrings(a.metadata.name, b.metadata.name),
  );
  for (const policy of sorted) {
    const { name, namespace } = policy.metadata;
    const deny = denyNetworkPolicy(namespace, policy.spec.target.identity);
    byKey.set(objectKey(namespace, denyNetworkPolicyName(policy.spec.target.identity)), deny);
    const { decision, sources: allowed } = judge(policy, scheduleStates, identitySuspended);
    statuses.set(objectKey(namespace, name), decision);
    if (decision.active)
      byKey.set(objectKey(namespace, allowNetworkPolicyName(name)), allowNetworkPolicy(policy, allowed));
  }
  const networkPolicies = [...byKey.values()].sort(compareObjects);
  const allOwners = networkPolicyOwners(sorted);
  const owners = new Map<string, string[]>();
  for (const networkPolicy of networkPolicies) {
    const key = keyOf(networkPolicy);
    owners.set(key, allOwners.get(key) ?? []);
  }
  return { networkPolicies, statuses, owners };
}
