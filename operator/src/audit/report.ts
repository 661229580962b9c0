import type { AccessPolicyStatus, Condition } from "../api/index.ts";
import { IDENTITY_LABEL, spiffeIDOf } from "../api/index.ts";
import { type AccessPolicySpecInput, accessPolicyDecision } from "../policy/index.ts";
import { type AccessScheduleSpecInput, scheduleState } from "../schedule/index.ts";
import { compareStrings, relativeExpiry } from "./time.ts";

// Inputs are what the API server returns, read leniently: a report about a broken cluster must
// still come out, so every spec and status field the audit reads may be missing.
export interface AuditMeta {
  name: string;
  namespace?: string;
  generation?: number;
  labels?: Record<string, string>;
}

export interface AuditIdentityObject {
  metadata: AuditMeta;
  spec?: { spiffeID?: string; suspend?: boolean; delivery?: string };
  status?: {
    conditions?: Condition[];
    spiffeID?: string;
    notAfter?: string;
    rotations?: number;
    podCertificates?: PodCertificateSummary;
  };
}

/** What the pod certificate signer did for an identity (its status.podCertificates). */
export interface PodCertificateSummary {
  issued?: number;
  denied?: number;
  lastIssueTime?: string;
  lastDenial?: { time: string; pod: string; reason: string; message: string };
}

export interface AuditPolicyObject {
  metadata: AuditMeta;
  spec: AccessPolicySpecInput;
  status?: Pick<AccessPolicyStatus, "active" | "reason" | "observedGeneration">;
}

export interface AuditScheduleObject {
  metadata: AuditMeta;
  spec: AccessScheduleSpecInput;
}

export interface AuditPodObject {
  metadata: AuditMeta;
}

export interface AuditInput {
  now: Date;
  /** For identities whose status has no SPIFFE ID yet and whose spec names none. */
  trustDomain: string;
  identities: readonly AuditIdentityObject[];
  policies: readonly AuditPolicyObject[];
  schedules: readonly AuditScheduleObject[];
  pods: readonly AuditPodObject[];
  /**
   * Limits the report to one namespace: its identities, and the edges with either end in it (a
   * policy elsewhere may let this namespace's identities out).
   */
  namespace?: string;
}

/** Where an `active` flag came from: the operator's status, or computed by the audit at `generatedAt`. */
export type ActiveSource = "status" | "computed";

export interface PolicyLink {
  /** "namespace/name" of the AccessPolicy. */
  policy: string;
  /** "namespace/identity" at the other end: the source for inbound links, the target for outbound. */
  peer: string;
  active: boolean;
  reason: string;
  activeFrom: ActiveSource;
}

export interface IdentityReport {
  namespace: string;
  name: string;
  spiffeID: string;
  ready: boolean;
  /** The Ready condition's reason, or "Unknown" when the operator has not reported one. */
  readyReason: string;
  suspended: boolean;
  /** Names of the pods in the identity's namespace carrying the identity label, sorted. */
  consumers: string[];
  notAfter: string | null;
  /** "in 42m" or "expired 3m ago"; null without a certificate. */
  expiry: string | null;
  rotations: number;
  /** How its pods receive it: "Secret" or "PodCertificate" (keys born on the node). */
  delivery: string;
  /** With delivery PodCertificate: what the signer issued and denied; null otherwise. */
  podCertificates: PodCertificateSummary | null;
  /** AccessPolicies targeting this identity, one link per allowed source. */
  inbound: PolicyLink[];
  /** AccessPolicies listing this identity as a source, one link per policy. */
  outbound: PolicyLink[];
}

export interface AccessEdge {
  /** "namespace/identity" of the source. */
  from: string;
  /** "namespace/identity" of the target. */
  to: string;
  /** "namespace/name" of the AccessPolicy. */
  policy: string;
  active: boolean;
  activeFrom: ActiveSource;
  reason: string;
  /** "8443/TCP" each, sorted; empty means all ports. */
  ports: string[];
}

export interface AuditReport {
  generatedAt: string;
  identities: IdentityReport[];
  edges: AccessEdge[];
}

interface PolicyState {
  active: boolean;
  reason: string;
  activeFrom: ActiveSource;
}

function namespaceOf(meta: AuditMeta): string {
  return meta.namespace ?? "default";
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * The operator's word when its status is about the current spec; otherwise the same decision the
 * operator would make, computed from the policy and its schedule at `now`. A status written for
 * an older generation is stale: the spec has changed since and the operator has not caught up.
 */
export function policyState(
  policy: AuditPolicyObject,
  schedules: readonly AuditScheduleObject[],
  now: Date,
  suspended: (namespace: string, identity: string) => boolean = () => false,
): PolicyState {
  const status = policy.status;
  const stale =
    status?.observedGeneration !== undefined &&
    policy.metadata.generation !== undefined &&
    status.observedGeneration !== policy.metadata.generation;
  if (typeof status?.active === "boolean" && !stale) {
    return { active: status.active, reason: status.reason ?? "", activeFrom: "status" };
  }
  const namespace = namespaceOf(policy.metadata);
  const decision = accessPolicyDecision(
    { metadata: { name: policy.metadata.name, namespace }, spec: policy.spec },
    (scheduleNamespace, scheduleName) => {
      const schedule = schedules.find(
        (s) => namespaceOf(s.metadata) === scheduleNamespace && s.metadata.name === scheduleName,
      );
      return schedule === undefined ? undefined : scheduleState(schedule.spec, now);
    },
    suspended,
  );
  return { active: decision.active, reason: decision.reason, activeFrom: "computed" };
}

function portsOf(policy: AuditPolicyObject): string[] {
  const ports = new Set((policy.spec.target.ports ?? []).map((p) => `${p.port}/${p.protocol ?? "TCP"}`));
  return [...ports].sort((a, b) => {
    const [pa, qa] = a.split("/") as [string, string];
    const [pb, qb] = b.split("/") as [string, string];
    return Number(pa) - Number(pb) || compareStrings(qa, qb);
  });
}

/**
 * One edge per (policy, distinct source): who may reach whom through which policy. A suspended
 * MachineIdentity (among `identities`) reaches nothing and is reached by nothing, as the operator
 * compiles it: its edges are inactive, with the reason SourceSuspended or TargetSuspended.
 */
export function accessEdges(
  policies: readonly AuditPolicyObject[],
  schedules: readonly AuditScheduleObject[],
  now: Date,
  identities: readonly AuditIdentityObject[] = [],
): AccessEdge[] {
  const suspendedSet = new Set(
    identities
      .filter((i) => i.spec?.suspend === true)
      .map((i) => key(namespaceOf(i.metadata), i.metadata.name)),
  );
  const suspended = (namespace: string, identity: string) => suspendedSet.has(key(namespace, identity));
  const edges: AccessEdge[] = [];
  for (const policy of policies) {
    const namespace = namespaceOf(policy.metadata);
    const state = policyState(policy, schedules, now, suspended);
    const to = key(namespace, policy.spec.target.identity);
    const ports = portsOf(policy);
    const sources = new Set(policy.spec.allowFrom.map((s) => key(s.namespace ?? namespace, s.identity)));
    for (const from of sources) {
      const cut = suspendedSet.has(to)
        ? "TargetSuspended"
        : suspendedSet.has(from)
          ? "SourceSuspended"
          : undefined;
      edges.push({
        from,
        to,
        policy: key(namespace, policy.metadata.name),
        active: cut === undefined && state.active,
        activeFrom: cut === undefined ? state.activeFrom : "computed",
        reason: cut ?? state.reason,
        ports,
      });
    }
  }
  return edges.sort(
    (a, b) =>
      compareStrings(a.from, b.from) || compareStrings(a.to, b.to) || compareStrings(a.policy, b.policy),
  );
}

function readyOf(identity: AuditIdentityObject): { ready: boolean; reason: string } {
  const ready = identity.status?.conditions?.find((c) => c.type === "Ready");
  return { ready: ready?.status === "True", reason: ready?.reason ?? "Unknown" };
}

function link(edge: AccessEdge, peer: string): PolicyLink {
  return { policy: edge.policy, peer, active: edge.active, reason: edge.reason, activeFrom: edge.activeFrom };
}

const comparePolicyLinks = (a: PolicyLink, b: PolicyLink) =>
  compareStrings(a.policy, b.policy) || compareStrings(a.peer, b.peer);

/**
 * The audit of identities and the access between them at `input.now`: a pure function of what was
 * read from the cluster, ordered by namespace and name so that equal clusters give equal reports.
 */
export function buildAuditReport(input: AuditInput): AuditReport {
  const { now, namespace: only } = input;
  const inScope = (id: string) => only === undefined || id.startsWith(`${only}/`);
  const edges = accessEdges(input.policies, input.schedules, now, input.identities).filter(
    (e) => inScope(e.from) || inScope(e.to),
  );

  const consumersByIdentity = new Map<string, string[]>();
  for (const pod of input.pods) {
    const identity = pod.metadata.labels?.[IDENTITY_LABEL];
    if (identity === undefined) continue;
    const k = key(namespaceOf(pod.metadata), identity);
    consumersByIdentity.set(k, [...(consumersByIdentity.get(k) ?? []), pod.metadata.name]);
  }

  const identities = input.identities
    .filter((identity) => only === undefined || namespaceOf(identity.metadata) === only)
    .map((identity): IdentityReport => {
      const namespace = namespaceOf(identity.metadata);
      const name = identity.metadata.name;
      const self = key(namespace, name);
      const notAfter = identity.status?.notAfter;
      const notAfterDate = notAfter === undefined ? undefined : new Date(notAfter);
      const validNotAfter =
        notAfterDate !== undefined && !Number.isNaN(notAfterDate.getTime()) ? notAfterDate : undefined;
      const { ready, reason } = readyOf(identity);
      return {
        namespace,
        name,
        spiffeID:
          identity.status?.spiffeID ??
          spiffeIDOf({ metadata: { name, namespace }, spec: identity.spec }, input.trustDomain),
        ready,
        readyReason: reason,
        suspended: identity.spec?.suspend === true,
        consumers: [...(consumersByIdentity.get(self) ?? [])].sort(compareStrings),
        notAfter: validNotAfter === undefined ? null : validNotAfter.toISOString(),
        expiry: validNotAfter === undefined ? null : relativeExpiry(validNotAfter, now),
        rotations: identity.status?.rotations ?? 0,
        delivery: identity.spec?.delivery ?? "Secret",
        podCertificates:
          identity.spec?.delivery === "PodCertificate"
            ? { issued: 0, denied: 0, ...(identity.status?.podCertificates ?? {}) }
            : null,
        inbound: edges
          .filter((e) => e.to === self)
          .map((e) => link(e, e.from))
          .sort(comparePolicyLinks),
        outbound: edges
          .filter((e) => e.from === self)
          .map((e) => link(e, e.to))
          .sort(comparePolicyLinks),
      };
    })
    .sort((a, b) => compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name));

  return { generatedAt: now.toISOString(), identities, edges };
}
