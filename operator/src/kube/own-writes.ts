import type { KubernetesObject } from "@kubernetes/client-node";
import { keyOf } from "./informer.ts";

/**
 * The resourceVersion of this process's last write to each object. The watch event that reports
 * that write carries exactly this resourceVersion, and the reconcile that made the write has
 * already accounted for it, so the event need not queue the object again: without this every
 * issuance costs two more reconciles (one for the Secret, one for the status), each parsing the
 * certificate it just wrote. Any other change (a user's edit, a deletion, a relist) carries another
 * resourceVersion and is queued as usual. Entries are per object, replaced by the next write and
 * dropped on delete, so the map never outgrows the objects written.
 */
export class OwnWrites {
  readonly #written = new Map<string, string>();

  /** Notes the object a write returned. */
  record(kind: string, written: KubernetesObject | undefined): void {
    const resourceVersion = written?.metadata?.resourceVersion;
    if (written && resourceVersion) this.#written.set(`${kind}/${keyOf(written)}`, resourceVersion);
  }

  /** True, once, for the watched object that is our own last write. */
  isOwn(kind: string, observed: KubernetesObject): boolean {
    const key = `${kind}/${keyOf(observed)}`;
    const resourceVersion = observed.metadata?.resourceVersion;
    if (resourceVersion === undefined || this.#written.get(key) !== resourceVersion) return false;
    this.#written.delete(key);
    return true;
  }

  forget(kind: string, gone: KubernetesObject): void {
    this.#written.delete(`${kind}/${keyOf(gone)}`);
  }

  get size(): number {
    return this.#written.size;
  }
}
