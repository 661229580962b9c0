import type { KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";

/** Objects per list request; client-go's reflector pages its lists by 500 too. */
export const LIST_PAGE_SIZE = 500;

export interface PageRequest {
  limit: number;
  /** The continue token of the previous page; absent for the first. */
  continue?: string;
}

/**
 * A whole collection, listed one page at a time, each object passed through `keep` as its page
 * arrives. Unpaged, 10,000 Secrets come as one response of tens of MB that is held, parsed and
 * deserialized whole beside the cache it fills; paged, one page's response is in memory at a time,
 * and what `keep` drops (managedFields) is garbage after each page. The pages are one consistent
 * snapshot: the server serves every continuation at the first page's resourceVersion, which the
 * result carries so that a watch starts there. A continuation that expired (410) fails the list,
 * and its caller lists again from the first page.
 */
export async function listInPages<T extends KubernetesObject>(
  listPage: (request: PageRequest) => Promise<KubernetesListObject<T>>,
  keep: (obj: T) => T = (obj) => obj,
  pageSize = LIST_PAGE_SIZE,
): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  let resourceVersion: string | undefined;
  let next: string | undefined;
  do {
    const page = await listPage({ limit: pageSize, ...(next ? { continue: next } : {}) });
    // A metadata-only list (PartialObjectMetadataList) leaves items out when there are none.
    for (const item of page.items ?? []) items.push(keep(item));
    resourceVersion ??= page.metadata?.resourceVersion;
    next = continueToken(page);
  } while (next);
  return { items, metadata: resourceVersion === undefined ? {} : { resourceVersion } };
}

/** Typed clients deserialize the token as `_continue`; custom objects keep the wire name. */
function continueToken(page: KubernetesListObject<KubernetesObject>): string | undefined {
  const metadata = page.metadata as { _continue?: string; continue?: string } | undefined;
  return metadata?._continue || metadata?.continue || undefined;
}
