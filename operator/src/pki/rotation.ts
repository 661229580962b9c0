import { X509Certificate } from "node:crypto";
import { sha256Fingerprint, splitPemCertificates } from "./certificate.ts";

/**
 * The ca.crt of every identity Secret: each distinct root once, oldest first (ties by
 * fingerprint), whatever order the CAs are given in, so the bundle only changes when the set of
 * roots does. Accepts CAs (their rootPem) or plain PEM, e.g. a retired root kept without its key.
 */
export function trustBundle(cas: readonly ({ rootPem: string } | string | undefined)[]): string {
  const roots = new Map<string, X509Certificate>();
  for (const ca of cas) {
    if (ca === undefined) continue;
    for (const pem of splitPemCertificates(typeof ca === "string" ? ca : ca.rootPem)) {
      const cert = new X509Certificate(pem);
      roots.set(sha256Fingerprint(cert), cert);
    }
  }
  return [...roots.entries()]
    .map(([fingerprint, cert]) => ({ fingerprint, cert, notBefore: new Date(cert.validFrom).getTime() }))
    .sort((a, b) => a.notBefore - b.notBefore || (a.fingerprint < b.fingerprint ? -1 : 1))
    .map(({ cert }) => cert.toString())
    .join("");
}

/** The validity of one CA generation; a CertificateAuthority fits. */
export interface CaLifetime {
  notBefore: Date;
  notAfter: Date;
}

export interface CaRotationThresholds {
  /** Prepare the next CA once the current has less than this fraction of its lifetime left. */
  prepareAtRemainingFraction: number;
  /** Move issuance to the next CA once the current has less than this fraction left. */
  switchAtRemainingFraction: number;
  /**
   * How long the next root must have been in the bundle before issuance moves to it. Every SVID
   * is reissued (and its ca.crt refreshed) within one leaf lifetime, so by then every workload
   * trusts the next root before it meets a leaf signed by it. Default: leafMaxTtl.
   */
  minTrustOverlapMs: number | undefined;
}

export const DEFAULT_CA_ROTATION_THRESHOLDS: CaRotationThresholds = {
  prepareAtRemainingFraction: 1 / 3,
  switchAtRemainingFraction: 1 / 6,
  minTrustOverlapMs: undefined,
};

export interface CaRotationInput {
  current: CaLifetime;
  /** When issuance moved to the current CA; absent for the first one. */
  currentSince?: Date | undefined;
  /** A prepared CA that is trusted but does not issue yet. */
  next?: (CaLifetime & { preparedAt: Date }) | undefined;
  /** The CA that issued before the current one; still trusted while its leaves may live. */
  previous?: CaLifetime | undefined;
  now: Date;
  /** The longest lifetime any SVID may have (ttl plus backdate), in milliseconds. */
  leafMaxTtl: number;
  thresholds?: Partial<CaRotationThresholds> | undefined;
}

export type CaRotationGeneration = "previous" | "current" | "next";

export const CaRotationReason = {
  Steady: "Steady",
  PrepareNext: "PrepareNext",
  AwaitingTrustOverlap: "AwaitingTrustOverlap",
  SwitchToNext: "SwitchToNext",
  DropPrevious: "DropPrevious",
} as const;
export type CaRotationReason = (typeof CaRotationReason)[keyof typeof CaRotationReason];

export interface CaRotationPlan {
  /** Create the next CA and add its root to the bundle. */
  prepareNext: boolean;
  /** Issue from `next` from now on: it becomes current, current becomes previous (since = now). */
  switchToNext: boolean;
  /** Remove `previous` from the bundle: its last leaf has expired. */
  dropPrevious: boolean;
  /** Which generations (named as in the input) the bundle holds once the plan is applied. */
  bundle: CaRotationGeneration[];
  reason: CaRotationReason;
  message: string;
  /** The next instant at which the plan changes on its own, for requeueing. */
  nextCheck: Date | undefined;
}

/**
 * The CA rotation schedule as a pure function of the CA lifetimes and the clock:
 * 1. prepare: when the current CA has less than `prepareAtRemainingFraction` of its life left, a
 *    next CA is made and its root joins the bundle (issuance stays on current);
 * 2. switch: when the next root has been trusted for `minTrustOverlapMs` and the current CA has
 *    less than `switchAtRemainingFraction` left (or can no longer cover a full leaf lifetime),
 *    issuance moves to next; a current CA that has expired is left at once;
 * 3. drop: the old CA stays in the bundle until `now > switchTime + leafMaxTtl` (or it expires),
 *    because leaves it signed may live that long.
 * A switch waits while a previous CA is still trusted, so the bundle never needs a fourth slot;
 * with lifetimes far above leafMaxTtl the two never meet.
 */
export function caRotationPlan(input: CaRotationInput): CaRotationPlan {
  const thresholds = { ...DEFAULT_CA_ROTATION_THRESHOLDS, ...input.thresholds };
  const now = input.now.getTime();
  const { current, next, previous } = input;
  const life = current.notAfter.getTime() - current.notBefore.getTime();
  const prepareAt = current.notAfter.getTime() - life * thresholds.prepareAtRemainingFraction;
  const switchAt = Math.min(
    current.notAfter.getTime() - life * thresholds.switchAtRemainingFraction,
    current.notAfter.getTime() - input.leafMaxTtl,
  );
  const overlap = thresholds.minTrustOverlapMs ?? input.leafMaxTtl;
  const currentExpired = now >= current.notAfter.getTime();

  const previousDropAt = previous
    ? Math.min(
        (input.currentSince ?? current.notBefore).getTime() + input.leafMaxTtl,
        previous.notAfter.getTime() - 1,
      )
    : undefined;
  const dropPrevious = previousDropAt !== undefined && now > previousDropAt;
  const previousKept = previous !== undefined && !dropPrevious;

  const prepareNext = next === undefined && now >= prepareAt;
  const nextReadyAt = next
    ? Math.max(next.preparedAt.getTime() + overlap, next.notBefore.getTime())
    : undefined;
  const nextUsable = next !== undefined && now >= next.notBefore.getTime() && now < next.notAfter.getTime();
  const switchToNext =
    nextUsable &&
    (currentExpired || (nextReadyAt !== undefined && now >= nextReadyAt && now >= switchAt && !previousKept));

  const bundle: CaRotationGeneration[] = [];
  if (previousKept && !switchToNext) bundle.push("previous");
  bundle.push("current");
  if (next || prepareNext) bundle.push("next");

  const notes: string[] = [];
  let reason: CaRotationReason = CaRotationReason.Steady;
  if (dropPrevious) {
    reason = CaRotationReason.DropPrevious;
    notes.push("the previous CA leaves the bundle: every leaf it signed has expired");
  }
  if (prepareNext) {
    reason = CaRotationReason.PrepareNext;
    notes.push(
      currentExpired
        ? "the current CA has expired: prepare its successor now"
        : `the current CA has less than ${Math.round(thresholds.prepareAtRemainingFraction * 100)}% of its life left: prepare the next CA`,
    );
  }
  if (switchToNext) {
    reason = CaRotationReason.SwitchToNext;
    notes.push(
      currentExpired ? "the current CA has expired: issue from the next CA" : "issuance moves to the next CA",
    );
  } else if (next && !currentExpired) {
    if (nextReadyAt !== undefined && now < nextReadyAt) {
      reason = reason === CaRotationReason.Steady ? CaRotationReason.AwaitingTrustOverlap : reason;
      notes.push(`the next root is trusted but issuance waits until ${new Date(nextReadyAt).toISOString()}`);
    } else if (previousKept && now >= switchAt) {
      reason = reason === CaRotationReason.Steady ? CaRotationReason.AwaitingTrustOverlap : reason;
      notes.push("issuance waits until the previous CA has left the bundle");
    }
  }
  if (notes.length === 0) notes.push("the current CA issues; nothing to rotate");

  const upcoming = [
    next === undefined ? prepareAt : undefined,
    next !== undefined && !switchToNext ? Math.max(nextReadyAt ?? 0, switchAt) : undefined,
    previousKept && previousDropAt !== undefined ? previousDropAt + 1 : undefined,
    !currentExpired ? current.notAfter.getTime() : undefined,
  ].filter((t): t is number => t !== undefined && t > now);
  return {
    prepareNext,
    switchToNext,
    dropPrevious,
    bundle,
    reason,
    message: notes.join("; "),
    nextCheck: upcoming.length > 0 ? new Date(Math.min(...upcoming)) : undefined,
  };
}
