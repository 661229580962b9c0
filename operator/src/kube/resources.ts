import type {
  CoreV1Event,
  KubernetesListObject,
  KubernetesObject,
  V1ConfigMap,
  V1Deployment,
  V1Lease,
  V1MutatingWebhookConfiguration,
  V1Namespace,
  V1NetworkPolicy,
  V1Pod,
  V1Secret,
  V1ServiceAccount,
  V1ValidatingWebhookConfiguration,
} from "@kubernetes/client-node";
import {
  ACCESS_POLICY_KIND,
  ACCESS_POLICY_PLURAL,
  ACCESS_SCHEDULE_KIND,
  ACCESS_SCHEDULE_PLURAL,
  ENROLLMENT_KIND,
  ENROLLMENT_PLURAL,
  GROUP,
  ISSUANCE_POLICY_KIND,
  ISSUANCE_POLICY_PLURAL,
  MACHINE_IDENTITY_KIND,
  MACHINE_IDENTITY_PLURAL,
  TRUSTED_ISSUER_KIND,
  TRUSTED_ISSUER_PLURAL,
  VERSION,
} from "../api/constants.ts";
import type {
  AccessPolicy,
  AccessSchedule,
  Enrollment,
  IssuancePolicy,
  MachineIdentity,
  TrustedIssuer,
} from "../api/index.ts";
import type { KubeClient, Query } from "./client.ts";
import { isNotFound } from "./errors.ts";

/** An object as a metadata-only list or watch returns it (meta.k8s.io/v1 PartialObjectMetadata). */
export type PartialObjectMetadata = KubernetesObject;

/** A resource type of the API: where its objects live and what they are called. */
export interface ResourceType<T extends KubernetesObject> {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Only for the type parameter; never set. */
  readonly _type?: T;
}

const type = <T extends KubernetesObject>(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced = true,
): ResourceType<T> => ({ group, version, plural, kind, namespaced });

export const SECRETS = type<V1Secret>("", "v1", "secrets", "Secret");
export const CONFIG_MAPS = type<V1ConfigMap>("", "v1", "configmaps", "ConfigMap");
export const PODS = type<V1Pod>("", "v1", "pods", "Pod");
export const SERVICE_ACCOUNTS = type<V1ServiceAccount>("", "v1", "serviceaccounts", "ServiceAccount");
export const NAMESPACES = type<V1Namespace>("", "v1", "namespaces", "Namespace", false);
export const EVENTS = type<CoreV1Event>("", "v1", "events", "Event");
export const LEASES = type<V1Lease>("coordination.k8s.io", "v1", "leases", "Lease");
export const DEPLOYMENTS = type<V1Deployment>("apps", "v1", "deployments", "Deployment");
export const NETWORK_POLICIES = type<V1NetworkPolicy>(
  "networking.k8s.io",
  "v1",
  "networkpolicies",
  "NetworkPolicy",
);
export const MUTATING_WEBHOOKS = type<V1MutatingWebhookConfiguration>(
  "admissionregistration.k8s.io",
  "v1",
  "mutatingwebhookconfigurations",
  "MutatingWebhookConfiguration",
  false,
);
export const VALIDATING_WEBHOOKS = type<V1ValidatingWebhookConfiguration>(
  "admissionregistration.k8s.io",
  "v1",
  "validatingwebhookconfigurations",
  "ValidatingWebhookConfiguration",
  false,
);

export const MACHINE_IDENTITIES = type<MachineIdentity>(
  GROUP,
  VERSION,
  MACHINE_IDENTITY_PLURAL,
  MACHINE_IDENTITY_KIND,
);
export const ACCESS_POLICIES = type<AccessPolicy>(GROUP, VERSION, ACCESS_POLICY_PLURAL, ACCESS_POLICY_KIND);
export const ACCESS_SCHEDULES = type<AccessSchedule>(
  GROUP,
  VERSION,
  ACCESS_SCHEDULE_PLURAL,
  ACCESS_SCHEDULE_KIND,
);
export const ISSUANCE_POLICIES = type<IssuancePolicy>(
  GROUP,
  VERSION,
  ISSUANCE_POLICY_PLURAL,
  ISSUANCE_POLICY_KIND,
  false,
);
export const ENROLLMENTS = type<Enrollment>(GROUP, VERSION, ENROLLMENT_PLURAL, ENROLLMENT_KIND);
export const TRUSTED_ISSUERS = type<TrustedIssuer>(
  GROUP,
  VERSION,
  TRUSTED_ISSUER_PLURAL,
  TRUSTED_ISSUER_KIND,
  false,
);

/** Asks the API server for metadata only: lists and watches of this Accept carry PartialObjectMetadata. */
export const METADATA_LIST_ACCEPT =
  "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1,application/json";
export const METADATA_ACCEPT =
  "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1,application/json";

/** The collection path of a type, in one namespace or across all (or for a cluster-scoped type). */
export function collectionPath(
  ref: Pick<ResourceType<KubernetesObject>, "group" | "version" | "plural">,
  namespace?: string,
): string {
  const base = ref.group === "" ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  return namespace
    ? `${base}/namespaces/${encodeURIComponent(namespace)}/${ref.plural}`
    : `${base}/${ref.plural}`;
}

export interface ListOptions {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  limit?: number | undefined;
  continue?: string | undefined;
  resourceVersion?: string | undefined;
}

export interface WriteOptions {
  fieldManager?: string;
  dryRun?: boolean;
}

export interface ApplyOptions {
  /** Owner of the applied fields in managedFields. Default "signet". */
  fieldManager?: string;
  /** Take over fields another manager owns. Default true: the operator is the source of truth. */
  force?: boolean;
}

export type PatchType = "merge" | "strategic" | "json";

const PATCH_CONTENT: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
};

/** The calls on one resource type. Namespace is ignored for cluster-scoped types. */
export interface ResourceClient<T extends KubernetesObject> {
  readonly type: ResourceType<T>;
  /** Rejects with a 404 ApiError when the object does not exist. */
  get(namespace: string, name: string): Promise<T>;
  /** The object, or undefined when it does not exist. */
  find(namespace: string, name: string): Promise<T | undefined>;
  /** In one namespace, or across all when `namespace` is undefined. */
  list(namespace: string | undefined, options?: ListOptions): Promise<KubernetesListObject<T>>;
  /** Metadata only (PartialObjectMetadataList), for caches that need no more. */
  listMetadata(
    namespace: string | undefined,
    options?: ListOptions,
  ): Promise<KubernetesListObject<PartialObjectMetadata>>;
  create(obj: T, options?: WriteOptions): Promise<T>;
  /** A write guarded by metadata.resourceVersion when the object carries one. */
  replace(obj: T, options?: WriteOptions): Promise<T>;
  replaceStatus(obj: T, options?: WriteOptions): Promise<T>;
  patch(
    namespace: string,
    name: string,
    patch: unknown,
    patchType: PatchType,
    options?: WriteOptions,
  ): Promise<T>;
  /** Server-side apply of `obj` (apiVersion, kind and metadata.name needed). */
  apply(obj: T, options?: ApplyOptions): Promise<T>;
  /** Server-side apply to the status subresource. */
  applyStatus(obj: T, options?: ApplyOptions): Promise<T>;
  delete(
    namespace: string,
    name: string,
    options?: {
      propagationPolicy?: "Foreground" | "Background" | "Orphan";
      preconditions?: { uid?: string; resourceVersion?: string };
    },
  ): Promise<unknown>;
}

export function resourceClient<T extends KubernetesObject>(
  kube: KubeClient,
  rt: ResourceType<T>,
): ResourceClient<T> {
  const objectPath = (namespace: string, name: string, subresource?: string) =>
    `${collectionPath(rt, rt.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ""}`;
  const pathOf = (obj: T, subresource?: string) => {
    const name = obj.metadata?.name;
    if (!name) throw new Error(`a ${rt.kind} without metadata.name cannot be written`);
    const namespace = obj.metadata?.namespace ?? "";
    if (rt.namespaced && !namespace) throw new Error(`${rt.kind} ${name} has no metadata.namespace`);
    return objectPath(namespace, name, subresource);
  };
  const listQuery = (options: ListOptions = {}): Query => ({
    labelSelector: options.labelSelector || undefined,
    fieldSelector: options.fieldSelector || undefined,
    limit: options.limit,
    continue: options.continue || undefined,
    resourceVersion: options.resourceVersion,
  });
  const writeQuery = (options: WriteOptions = {}): Query => ({
    fieldManager: options.fieldManager,
    dryRun: options.dryRun ? "All" : undefined,
  });
  const withKind = (obj: T): T => ({
    ...obj,
    apiVersion: obj.apiVersion ?? (rt.group === "" ? rt.version : `${rt.group}/${rt.version}`),
    kind: obj.kind ?? rt.kind,
  });
  const applyTo = async (obj: T, subresource: string | undefined, options: ApplyOptions = {}) =>
    kube.request<T>("PATCH", pathOf(obj, subresource), {
      query: { fieldManager: options.fieldManager ?? "signet", force: options.force ?? true },
      body: withKind(obj),
      contentType: "application/apply-patch+yaml",
    });
  const listPath = (namespace: string | undefined) =>
    collectionPath(rt, rt.namespaced ? namespace : undefined);
  return {
    type: rt,
    get: (namespace, name) => kube.request<T>("GET", objectPath(namespace, name)),
    find: (namespace, name) =>
      kube.request<T>("GET", objectPath(namespace, name)).catch((error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw error;
      }),
    list: (namespace, options) =>
      kube.request<KubernetesListObject<T>>("GET", listPath(namespace), { query: listQuery(options) }),
    listMetadata: (namespace, options) =>
      kube.request<KubernetesListObject<PartialObjectMetadata>>("GET", listPath(namespace), {
        query: listQuery(options),
        accept: METADATA_LIST_ACCEPT,
      }),
    create: (obj, options) =>
      kube.request<T>("POST", listPath(obj.metadata?.namespace), {
        body: withKind(obj),
        query: writeQuery(options),
      }),
    replace: async (obj, options) =>
      kube.request<T>("PUT", pathOf(obj), { body: withKind(obj), query: writeQuery(options) }),
    replaceStatus: async (obj, options) =>
      kube.request<T>("PUT", pathOf(obj, "status"), { body: withKind(obj), query: writeQuery(options) }),
    patch: (namespace, name, patch, patchType, options) =>
      kube.request<T>("PATCH", objectPath(namespace, name), {
        body: patch,
        contentType: PATCH_CONTENT[patchType],
        query: writeQuery(options),
      }),
    apply: (obj, options) => applyTo(obj, undefined, options),
    applyStatus: (obj, options) => applyTo(obj, "status", options),
    delete: (namespace, name, options = {}) =>
      kube.request("DELETE", objectPath(namespace, name), {
        ...(options.propagationPolicy || options.preconditions
          ? {
              body: {
                apiVersion: "v1",
                kind: "DeleteOptions",
                ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
                ...(options.preconditions ? { preconditions: options.preconditions } : {}),
              },
            }
          : {}),
      }),
  };
}

/** A MicroTime as the API server writes and expects it: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * A MicroTime for a field that client-node types as Date (a Lease's renewTime, an Event's
 * eventTime): the client sends objects as JSON as they are, so the field holds the string the API
 * server expects, typed as the field is declared.
 */
export function microTimeField(ms: number): Date {
  return microTime(ms) as unknown as Date;
}

/** A metav1.Time as the API server writes it: RFC 3339 in whole seconds (the milliseconds cut). */
export function timeString(time: number | Date): string {
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A Time (whole seconds, RFC 3339) for a field that client-node types as Date, as microTimeField. */
export function timeField(ms: number): Date {
  return timeString(ms) as unknown as Date;
}
