import type * as k8s from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.ts";
import {
  createInformer,
  type Informer,
  type InformerEvent,
  type Unsubscribe,
  withoutManagedFields,
} from "../kube/informer.ts";
import { listInPages, type PageRequest } from "../kube/pages.ts";
import { collectionPath, METADATA_ACCEPT, METADATA_LIST_ACCEPT } from "../kube/resources.ts";
import type { Logger } from "../telemetry/logger.ts";

/**
 * One informer per watched namespace (or one cluster-wide), behind a single cache facade. With a
 * namespace list, Signet needs RBAC only in those namespaces.
 */
export class MultiInformer<T extends k8s.KubernetesObject> {
  readonly #parts: Informer<T>[];

  constructor(parts: Informer<T>[]) {
    this.#parts = parts;
  }

  start(): Promise<void> {
    return Promise.all(this.#parts.map((p) => p.start())).then(() => undefined);
  }
  stop(): void {
    for (const p of this.#parts) p.stop();
  }
  hasSynced(): boolean {
    return this.#parts.every((p) => p.hasSynced());
  }
  list(namespace?: string): T[] {
    return this.#parts.flatMap((p) => p.list(namespace));
  }
  get(namespace: string, name: string): T | undefined {
    for (const p of this.#parts) {
      const found = p.get(namespace, name);
      if (found) return found;
    }
    return undefined;
  }
  /** Registers a handler on every part; the returned function removes it from all of them. */
  on(event: InformerEvent, callback: (obj: T) => void): Unsubscribe {
    const offs = this.#parts.map((p) => p.on(event, callback));
    return () => {
      for (const off of offs) off();
    };
  }
  onError(callback: (error: unknown) => void): Unsubscribe {
    const offs = this.#parts.map((p) => p.on("error", callback));
    return () => {
      for (const off of offs) off();
    };
  }
}

interface ResourceRef {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
}

export interface InformerForOptions<T extends k8s.KubernetesObject = k8s.KubernetesObject> {
  labelSelector?: string | undefined;
  /** e.g. metadata.name=<name>: one named object, which RBAC can grant by resourceNames. */
  fieldSelector?: string | undefined;
  /**
   * Cache PartialObjectMetadata (apiVersion meta.k8s.io/v1, kind, metadata) instead of whole
   * objects: for caches that read only names, labels, annotations and owners, such as pods.
   */
  metadataOnly?: boolean;
  /**
   * Applied to every listed or watched object after managedFields are dropped, before it enters
   * the cache: what is kept of it. It may be applied twice to a listed object, so it must give the
   * same result again.
   */
  transform?: ((obj: T) => T) | undefined;
}

/**
 * Informers for one resource over the given namespaces (all when empty), with optional label
 * selector, listed in pages. Cached objects carry no metadata.managedFields, and only what the
 * transform keeps.
 */
export function informerFor<T extends k8s.KubernetesObject>(
  kube: KubeClient,
  ref: ResourceRef,
  namespaces: readonly (string | undefined)[],
  options: InformerForOptions<T> = {},
): MultiInformer<T> {
  const { labelSelector, fieldSelector, metadataOnly, transform } = options;
  const keep = transform ? (obj: T) => transform(withoutManagedFields(obj)) : withoutManagedFields<T>;
  const scopes = namespaces.length === 0 ? [undefined] : namespaces;
  return new MultiInformer(
    scopes.map((namespace) => {
      const path = collectionPath(ref, namespace);
      const listPage = (page: PageRequest): Promise<k8s.KubernetesListObject<T>> =>
        kube.request<k8s.KubernetesListObject<T>>("GET", path, {
          query: {
            labelSelector: labelSelector || undefined,
            fieldSelector: fieldSelector || undefined,
            limit: page.limit,
            continue: page.continue || undefined,
          },
          ...(metadataOnly ? { accept: METADATA_LIST_ACCEPT } : {}),
        });
      // Each page is stripped as it arrives; the informer's transform then finds nothing left to do.
      const list = () => listInPages(listPage, keep);
      return createInformer<T>(kube, {
        path,
        list,
        transform: keep,
        ...(labelSelector ? { labelSelector } : {}),
        ...(fieldSelector ? { fieldSelector } : {}),
        ...(metadataOnly ? { accept: METADATA_ACCEPT } : {}),
      });
    }),
  );
}

/**
 * Logs the watch failures of one cache. While the API server is down an informer fails a few times
 * a second: one line every 10 s says so, with how many failures it folded.
 */
export function logWatchErrors(
  log: Logger,
  cache: string,
  informer: MultiInformer<k8s.KubernetesObject>,
): Unsubscribe {
  let quietUntil = 0;
  let folded = 0;
  return informer.onError((err) => {
    const at = Date.now();
    if (at < quietUntil) {
      folded++;
      return;
    }
    log.warn(
      { cache, err: (err as Error).message, ...(folded ? { alsoFailed: folded } : {}) },
      "watch restarted",
    );
    quietUntil = at + 10_000;
    folded = 0;
  });
}
