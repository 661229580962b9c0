import type { MachineIdentityStatus } from "../api/index.ts";
import { timeString } from "../kube/resources.ts";

export type PodCertificateCounts = NonNullable<MachineIdentityStatus["podCertificates"]>;

/**
 * What the signer did for each identity (namespace/name), for the identity's status: counts that
 * start from what the status recorded when the signer first answered for it in this process, so a
 * new leader counts on from its predecessor's last status write. The MachineIdentity controller
 * writes them; the signer only tells it that they changed.
 */
export class PodCertificateTally {
  readonly #counts = new Map<string, PodCertificateCounts>();
  readonly #listeners = new Set<(identity: string) => void>();

  issued(identity: string, recorded: PodCertificateCounts | undefined, at: Date): void {
    const counts = this.#entry(identity, recorded);
    counts.issued = (counts.issued ?? 0) + 1;
    counts.lastIssueTime = timeString(at);
    this.#changed(identity);
  }

  denied(
    identity: string,
    recorded: PodCertificateCounts | undefined,
    denial: { at: Date; pod: string; reason: string; message: string },
  ): void {
    const counts = this.#entry(identity, recorded);
    counts.denied = (counts.denied ?? 0) + 1;
    counts.lastDenial = {
      time: timeString(denial.at),
      pod: denial.pod,
      reason: denial.reason,
      message: denial.message,
    };
    this.#changed(identity);
  }

  /** The counts to report for `identity`, or undefined when the signer has not answered for it here. */
  get(identity: string): PodCertificateCounts | undefined {
    const counts = this.#counts.get(identity);
    return counts && structuredClone(counts);
  }

  forget(identity: string): void {
    this.#counts.delete(identity);
  }

  /** Called with the identity whose counts changed; the returned function unsubscribes. */
  onChange(listener: (identity: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #entry(identity: string, recorded: PodCertificateCounts | undefined): PodCertificateCounts {
    let counts = this.#counts.get(identity);
    if (!counts) {
      counts = structuredClone(recorded ?? {});
      this.#counts.set(identity, counts);
    }
    return counts;
  }

  #changed(identity: string): void {
    for (const listener of this.#listeners) listener(identity);
  }
}
