import type { Logger } from "pino";
import { decidePodAdmission, optsIn, type PodCertificateSupport, requestedIdentityName } from "./decide.ts";
import type { IdentityList, IdentityLookup, MachineIdentityLike } from "./identity.ts";
import { podSchema } from "./pod.ts";
import {
  decidePodReferences,
  decideTemplateReferences,
  type NamespaceIdentities,
  NOT_SYNCED_MESSAGE,
  type ReferencingPod,
  referencingPodSchema,
  type Workload,
  workloadSchema,
} from "./references.ts";
import { type AdmissionAnswer, type AdmissionRequest, describeInvalidReview } from "./review.ts";

/**
 * Answers one AdmissionReview request. It runs synchronously on the server's event loop, so it reads
 * caches only, never the API server. The server echoes the uid, encodes a patch, counts the answer
 * and logs denials; a handler that throws is answered 500 ("internal error") and logged.
 */
export type AdmissionHandler = (request: AdmissionRequest) => AdmissionAnswer;

export interface MutatePodsOptions {
  trustDomain: string;
  lookupIdentity: IdentityLookup;
  identitiesSynced: () => boolean;
  /** Whether the cluster serves pod certificates, asked at each decision; absent, it does not. */
  podCertificates?: () => PodCertificateSupport;
  /** The image of the signet-proxy sidecar; absent, pods that ask for it are denied. */
  proxyImage?: string;
  logger: Logger;
}

function isCorePod(request: AdmissionRequest): boolean {
  const k = request.kind;
  return k.group === "" && k.version === "v1" && k.kind === "Pod";
}

function notCorePod(request: AdmissionRequest): AdmissionAnswer {
  const k = request.kind;
  return {
    code: 400,
    message: `this webhook admits core/v1 Pods only, not ${k.group || "core"}/${k.version} ${k.kind}; check its rules`,
  };
}

/** /mutate-pods: identity injection into pods that opt in (decidePodAdmission). */
export function mutatePods(options: MutatePodsOptions): AdmissionHandler {
  return (request) => {
    if (!isCorePod(request)) return notCorePod(request);
    // Only CREATE is decided; see decidePodAdmission. Other operations may carry no object at all.
    if (request.operation !== "CREATE") return { allowed: true };
    if (!request.namespace)
      return { code: 400, message: "the review names no namespace; a Pod is always namespaced" };
    const parsed = podSchema.safeParse(request.object);
    if (!parsed.success) {
      return { code: 400, message: describeInvalidReview(parsed.error, "Pod in request.object", "object") };
    }
    const pod = parsed.data;
    const name = requestedIdentityName(pod);
    let identity: MachineIdentityLike | undefined;
    if (name !== undefined) {
      // Deny by default: while the cache is incomplete, "not found" could be wrong.
      if (!options.identitiesSynced()) return { code: 503, message: NOT_SYNCED_MESSAGE };
      identity = options.lookupIdentity(request.namespace, name);
    }
    const decision = decidePodAdmission(
      { operation: request.operation, namespace: request.namespace, pod },
      identity,
      {
        trustDomain: options.trustDomain,
        ...(options.podCertificates ? { podCertificates: options.podCertificates() } : {}),
        ...(options.proxyImage ? { proxyImage: options.proxyImage } : {}),
      },
    );
    if (decision.allowed && optsIn(pod)) {
      options.logger.debug(
        {
          uid: request.uid,
          namespace: request.namespace,
          identity: name,
          patchOperations: decision.patch.length,
        },
        "identity injected",
      );
    }
    return decision;
  };
}

export interface ValidateReferencesOptions {
  listIdentities: IdentityList;
  identitiesSynced: () => boolean;
}

function namespaceIdentities(options: ValidateReferencesOptions, namespace: string): NamespaceIdentities {
  return () => (options.identitiesSynced() ? options.listIdentities(namespace) : undefined);
}

/** /validate-pods: only Signet's injection may reference an identity Secret (decidePodReferences). */
export function validatePods(options: ValidateReferencesOptions): AdmissionHandler {
  return (request) => {
    if (!isCorePod(request)) return notCorePod(request);
    if (request.operation !== "CREATE" && request.operation !== "UPDATE") return { allowed: true };
    if (!request.namespace)
      return { code: 400, message: "the review names no namespace; a Pod is always namespaced" };
    const parsed = referencingPodSchema.safeParse(request.object);
    if (!parsed.success) {
      return { code: 400, message: describeInvalidReview(parsed.error, "Pod in request.object", "object") };
    }
    let oldPod: ReferencingPod | undefined;
    if (request.operation === "UPDATE") {
      const old = referencingPodSchema.safeParse(request.oldObject);
      if (!old.success) {
        return {
          code: 400,
          message: describeInvalidReview(old.error, "Pod in request.oldObject", "oldObject"),
        };
      }
      oldPod = old.data;
    }
    return decidePodReferences(
      { operation: request.operation, namespace: request.namespace, pod: parsed.data, oldPod },
      namespaceIdentities(options, request.namespace),
    );
  };
}

/** The workload kinds whose pod template /validate-workloads reads, by API group. */
export const WORKLOAD_KINDS: Readonly<Record<string, readonly string[]>> = {
  apps: ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"],
  batch: ["Job", "CronJob"],
};

/** /validate-workloads: pod templates may not name identity Secrets (decideTemplateReferences). */
export function validateWorkloads(options: ValidateReferencesOptions): AdmissionHandler {
  return (request) => {
    const k = request.kind;
    if (k.version !== "v1" || !WORKLOAD_KINDS[k.group]?.includes(k.kind)) {
      return {
        code: 400,
        message:
          `this webhook admits apps/v1 Deployments, ReplicaSets, StatefulSets, DaemonSets and batch/v1 Jobs ` +
          `and CronJobs only, not ${k.group || "core"}/${k.version} ${k.kind}; check its rules`,
      };
    }
    if (request.operation !== "CREATE" && request.operation !== "UPDATE") return { allowed: true };
    if (!request.namespace)
      return { code: 400, message: `the review names no namespace; a ${k.kind} is namespaced` };
    const parsed = workloadSchema.safeParse(request.object);
    if (!parsed.success) {
      return {
        code: 400,
        message: describeInvalidReview(parsed.error, `${k.kind} in request.object`, "object"),
      };
    }
    let oldWorkload: Workload | undefined;
    if (request.operation === "UPDATE") {
      const old = workloadSchema.safeParse(request.oldObject);
      if (old.success) oldWorkload = old.data;
    }
    return decideTemplateReferences(
      {
        operation: request.operation,
        namespace: request.namespace,
        kind: k.kind,
        workload: parsed.data,
        oldWorkload,
      },
      namespaceIdentities(options, request.namespace),
    );
  };
}
