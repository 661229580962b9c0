// Server-side apply and delete of objects of any kind, through client-node's generic object API
// (the kind's path found by discovery): for the demo and tests that create what a user would.
import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1DeleteOptions,
} from "@kubernetes/client-node";
import { isNotFound } from "../../operator/src/kube/errors.ts";

export interface ApplyOptions {
  /** Owner of the applied fields in managedFields. Default "signet". */
  fieldManager?: string;
  /** Take over fields another manager owns. Default true: the operator is the source of truth. */
  force?: boolean;
}

const objectClients = new WeakMap<KubeConfig, KubernetesObjectApi>();

/** One client per KubeConfig, so its discovery cache (kind -> resource path) is shared. */
function objectClient(kc: KubeConfig): KubernetesObjectApi {
  let client = objectClients.get(kc);
  if (!client) {
    client = KubernetesObjectApi.makeApiClient(kc);
    objectClients.set(kc, client);
  }
  return client;
}

/**
 * Server-side apply of `obj` (which must carry apiVersion, kind, metadata.name and, when namespaced,
 * metadata.namespace): sent as application/apply-patch+yaml, so the server merges by field ownership
 * and does not write at all when nothing the manager owns changed. Build `obj` deterministically
 * (stable key order does not matter, stable content does) and re-applying it costs no write.
 */
export async function applyObject<T extends KubernetesObject>(
  kc: KubeConfig,
  obj: T,
  options: ApplyOptions = {},
): Promise<T> {
  // KubernetesObjectApi fills in defaults on the object it is given; keep the caller's intact.
  const body = structuredClone(obj);
  return objectClient(kc).patch<T>(
    body,
    undefined,
    undefined,
    options.fieldManager ?? "signet",
    options.force ?? true,
    PatchStrategy.ServerSideApply,
  );
}

export interface CustomResourceRef {
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
  /** The kind; looked up once from discovery when left out. */
  kind?: string;
}

const kindCache = new WeakMap<KubeConfig, Map<string, string>>();

async function kindOf(kc: KubeConfig, ref: CustomResourceRef): Promise<string> {
  if (ref.kind) return ref.kind;
  let kinds = kindCache.get(kc);
  if (!kinds) {
    kinds = new Map();
    kindCache.set(kc, kinds);
  }
  const cacheKey = `${ref.group}/${ref.version}/${ref.plural}`;
  const cached = kinds.get(cacheKey);
  if (cached) return cached;
  const list = await customObjects(kc).getAPIResources({ group: ref.group, version: ref.version });
  const kind = list.resources.find((r) => r.name === ref.plural)?.kind;
  if (!kind) throw new Error(`the API server does not serve ${ref.plural}.${ref.group}/${ref.version}`);
  kinds.set(cacheKey, kind);
  return kind;
}

const customClients = new WeakMap<KubeConfig, CustomObjectsApi>();

function customObjects(kc: KubeConfig): CustomObjectsApi {
  let client = customClients.get(kc);
  if (!client) {
    client = kc.makeApiClient(CustomObjectsApi);
    customClients.set(kc, client);
  }
  return client;
}

/**
 * Server-side apply of `status` to the /status subresource of a namespaced custom resource. Fields this
 * manager set before and leaves out now are removed, so a status is always exactly what the reconciler
 * last computed; an unchanged status costs no write.
 */
export async function applyStatus<S>(
  kc: KubeConfig,
  ref: CustomResourceRef,
  status: S,
  fieldManager = "signet",
): Promise<KubernetesObject & { status?: S }> {
  const kind = await kindOf(kc, ref);
  const body = {
    apiVersion: `${ref.group}/${ref.version}`,
    kind,
    metadata: { name: ref.name, namespace: ref.namespace },
    status,
  };
  // The generated client picks a JSON patch content type; SSA needs apply-patch+yaml, of which JSON is a subset.
  return (await customObjects(kc).patchNamespacedCustomObjectStatus(
    {
      group: ref.group,
      version: ref.version,
      namespace: ref.namespace,
      plural: ref.plural,
      name: ref.name,
      body,
      fieldManager,
      force: true,
    },
    setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
  )) as KubernetesObject & { status?: S };
}

export interface DeleteOptions {
  /** Delete only this exact object (uid) or this exact version of it (resourceVersion); 409 otherwise. */
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
}

/**
 * Deletes the object named by apiVersion, kind, metadata.namespace and metadata.name. Resolves true
 * when it was deleted, false when it did not exist: both mean it is gone.
 */
export async function deleteIfExists(
  kc: KubeConfig,
  ref: KubernetesObject,
  options: DeleteOptions = {},
): Promise<boolean> {
  const body: V1DeleteOptions | undefined = options.preconditions
    ? { preconditions: options.preconditions }
    : undefined;
  try {
    await objectClient(kc).delete(
      structuredClone(ref),
      undefined,
      undefined,
      undefined,
      undefined,
      options.propagationPolicy,
      body,
    );
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}
