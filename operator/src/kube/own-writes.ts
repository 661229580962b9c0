import type { KubernetesObject } from "@kubernetes/client-node";
import { keyOf } from "./informer.ts";

/**
 * How long a write of ours may stay unseen by the cache before the cache is believed again. A
 * healthy watch delivers it within milliseconds; this bounds what a stalled one can hold back.
 */
export const OBSERVE_TIMEOUT_MS = 3_000;

interface Write {
  resourceVersion: string;
  at: number;
}

/**
 * The resourceVersion of this process's last write to each object. The watch event that reports
 * that write carries exactly this resourceVersion, and the reconcile that made the write has
 * already accounted for it, so the event need not queue the object again: without this every
 * issuance costs two more reconciles (one for the Secret, one for the status), each parsing the
 * certificate it just wrote. Any other change (a user's edit, a deletion, a relist) carries another
 * resourceVersion and is queued as usual. Entries are per object, replaced by the next write and
 * dropped on delete, so the map never outgrows the objects written.
 *
 * Until that event arrives, the entry is also an expectation, as client-go's ReplicaSet
 * expectations are: a cache that lacks the object, or shows a version older than ours, has not
 * caught up yet (see `unobserved`).
 */
export class OwnWrites {
  readonly #written = new Map<string, Write>();
  readonly #now: () => number;
  readonly #timeoutMs: number;

  constructor(options: { now?: () => number; timeoutMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? OBSERVE_TIMEOUT_MS;
  }

  /** Notes the object a write returned. */
  record(kind: string, written: KubernetesObject | undefined): void {
    const resourceVersion = written?.metadata?.resourceVersion;
    if (written && resourceVersion) {
      this.#written.set(`${kind}/${keyOf(written)}`, { resourceVersion, at: this.#now() });
    }
  }

  /** True, once, for the watched object that is our own last write. */
  isOwn(kind: string, observed: KubernetesObject): boolean {
    const key = `${kind}/${keyOf(observed)}`;
    const resourceVersion = observed.metadata?.resourceVersion;
    if (resourceVersion === undefined || this.#written.get(key)?.resourceVersion !== resourceVersion) {
      return false;
    }
    this.#written.delete(key);
    return true;
  }

  /**
   * True while the cache has yet to show our last write of namespace/name: `cached` (what the cache
   * holds now) is missing or older than that write. Missing cannot mean deleted, since a delete
   * event forgets the entry; and a change by someone else after our write always carries a newer
   * version. False once the cache holds our version or a newer one, and after OBSERVE_TIMEOUT_MS.
   */
  unobserved(kind: string, namespace: string, name: string, cached: KubernetesObject | undefined): boolean {
    const key = `${kind}/${namespace ? `${namespace}/${name}` : name}`;
    const write = this.#written.get(key);
    if (!write) return false;
    const seen = cached?.metadata?.resourceVersion;
    if (seen === write.resourceVersion) return false;
    if (this.#now() - write.at >= this.#timeoutMs || (seen !== undefined && !olderThan(seen, write))) {
      // The event of our write was skipped (a relist found a later version) or never came.
      this.#written.delete(key);
      return false;
    }
    return true;
  }

  forget(kind: string, gone: KubernetesObject): void {
    this.#written.delete(`${kind}/${keyOf(gone)}`);
  }

  get size(): number {
    return this.#written.size;
  }
}

/**
 * The API server's resourceVersions are etcd revisions, decimal integers that grow with every
 * write. Another form cannot be compared: since a watch delivers our write before any later
 * change, a different version seen before ours arrived is an older one.
 */
function olderThan(seen: string, write: Write): boolean {
  const decimal = /^[0-9]+$/;
  if (decimal.test(seen) && decimal.test(write.resourceVersion)) {
    return BigInt(seen) < BigInt(write.resourceVersion);
  }
  return true;
}
