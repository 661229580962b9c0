/** The part of a MachineIdentity the expiry gauge reads. */
export interface ExpiryLike {
  status?: { notAfter?: string | Date | undefined } | undefined;
}

/**
 * The soonest status.notAfter among the identities, in milliseconds since the epoch, or undefined
 * when none has a readable one. A loop, not Math.min(...all): spreading every identity into one
 * call throws a RangeError past about 1e5 arguments, and inside the gauge's timer that ends the
 * process.
 */
export function soonestExpiry(identities: Iterable<ExpiryLike>): number | undefined {
  let soonest = Number.POSITIVE_INFINITY;
  for (const identity of identities) {
    const notAfter = identity.status?.notAfter;
    if (notAfter === undefined) continue;
    const at = new Date(notAfter).getTime();
    if (at < soonest) soonest = at;
  }
  return Number.isFinite(soonest) ? soonest : undefined;
}
