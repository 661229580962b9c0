import { createHash, X509Certificate } from "node:crypto";
import { splitPemCertificates } from "../../pki/certificate.ts";
import {
  chainProblem,
  DEFAULT_RENEWAL_CHAIN,
  evaluateRenewal,
  issuerChanged,
  type RenewalEvaluation,
  type RenewalInput,
  RenewalReason,
} from "../../pki/index.ts";

/**
 * How a CA rotation reaches the identities without a storm. A trust-bundle change rewrites only
 * ca.crt; a leaf signed by a CA that no longer issues, but that the bundle still trusts, moves to
 * the new issuer at a moment spread over a window, and every re-key passes one shared limiter.
 */

/** Default spread of the move to a new issuer: 10 minutes. */
export const DEFAULT_ISSUER_SPREAD_MS = 600_000;
/** Default limit of re-keys per second over all identities. */
export const DEFAULT_REKEYS_PER_SECOND = 20;

/**
 * When a leaf that still chains to the bundle moves to the issuer that appeared at `anchorMs`:
 * a deterministic point of [anchor, anchor + window), where the window is the configured spread
 * cut short by the leaf's own renewal time (it would be renewed then anyway). The point comes from
 * SHA-256 of the identity's key and the issuer, so one identity always gets the same moment for
 * one issuer, and N identities spread evenly.
 */
export function issuerMoveAt(input: {
  anchorMs: number;
  spreadMs: number;
  /** When the current leaf is due for renewal anyway. */
  renewalAtMs: number;
  jitterKey: string;
  /** The new issuer's fingerprint: a later rotation spreads the identities afresh. */
  issuer: string;
}): number {
  const window = Math.max(0, Math.min(input.spreadMs, input.renewalAtMs - input.anchorMs));
  const digest = createHash("sha256").update(`${input.jitterKey}\n${input.issuer}`).digest();
  const unit = digest.readUInt32BE(0) / 2 ** 32;
  return input.anchorMs + Math.floor(unit * window);
}

export type RekeyGrant = { granted: true } | { granted: false; retryAfterMs: number };

/**
 * One limiter for every re-key of the operator: in any second, at most `perSecond` re-keys, and
 * paced ones at least 1/perSecond apart so they do not bunch at the start of a second. A paced
 * re-key asks (`tryAcquire`) with its key; when it cannot go at once it is given a slot of its own,
 * the next free one, and comes back then: a thousand identities moving to a new issuer at the same
 * moment ask about twice each, instead of all retrying at every freed slot. An urgent re-key
 * (untrusted, expired, due, missing or changed) is never held back (`force`), yet it is counted, so
 * paced ones yield to it (a slot it took is given again, later). Times are the caller's clock, in
 * milliseconds.
 */
export class RekeyLimiter {
  readonly perSecond: number;
  readonly #spacingMs: number;
  /** Grant times within the last second, oldest first. */
  readonly #recent: number[] = [];
  /** The slot each waiting key was given. */
  readonly #slots = new Map<string, number>();
  /** The earliest time the next slot may be given. */
  #nextSlot = Number.NEGATIVE_INFINITY;
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(perSecond: number = DEFAULT_REKEYS_PER_SECOND) {
    if (!(perSecond > 0)) throw new Error(`the re-key limit must be positive, got ${perSecond}`);
    this.perSecond = perSecond;
    this.#spacingMs = Math.ceil(1000 / perSecond);
  }

  tryAcquire(nowMs: number, key = ""): RekeyGrant {
    this.#prune(nowMs);
    const slot = this.#slots.get(key);
    if (slot !== undefined && slot > nowMs) return { granted: false, retryAfterMs: slot - nowMs };
    const wait = this.#wait(nowMs);
    // Without a slot of its own, a newcomer waits behind the slots already given.
    const queued = slot === undefined && this.#nextSlot > nowMs;
    if (wait <= 0 && !queued) {
      this.#slots.delete(key);
      this.#recent.push(nowMs);
      this.#nextSlot = Math.max(this.#nextSlot, nowMs + this.#spacingMs);
      return { granted: true };
    }
    const given = Math.max(nowMs + Math.max(wait, 1), this.#nextSlot);
    this.#slots.set(key, given);
    this.#nextSlot = given + this.#spacingMs;
    return { granted: false, retryAfterMs: given - nowMs };
  }

  force(nowMs: number): void {
    this.#prune(nowMs);
    this.#recent.push(nowMs);
  }

  /** Slots waiting to be used; for tests and metrics. */
  get waiting(): number {
    return this.#slots.size;
  }

  /** How long until a grant would keep both rules (spacing after the last, perSecond per second). */
  #wait(nowMs: number): number {
    const last = this.#recent.at(-1);
    let wait = last === undefined ? 0 : last + this.#spacingMs - nowMs;
    if (this.#recent.length >= this.perSecond) {
      wait = Math.max(wait, (this.#recent[this.#recent.length - this.perSecond] as number) + 1000 - nowMs);
    }
    return wait;
  }

  #prune(nowMs: number): void {
    while (this.#recent.length > 0 && (this.#recent[0] as number) <= nowMs - 1000) this.#recent.shift();
    // A slot not claimed a minute after its time belongs to an identity that no longer needed it.
    if (nowMs - this.#sweptAt < 60_000) return;
    this.#sweptAt = nowMs;
    for (const [key, slot] of this.#slots) if (slot < nowMs - 60_000) this.#slots.delete(key);
  }
}

/** Whether the leaf in `input.secret` chains to one of the roots of the bundle it is judged against. */
function chainsToBundle(evaluation: RenewalEvaluation, input: RenewalInput): boolean {
  const view = evaluation.view;
  if (!view) return false;
  const roots = splitPemCertificates(input.trustBundlePem ?? input.issuer.rootPem).map(
    (pem) => new X509Certificate(pem),
  );
  return chainProblem(view.leaf, view.intermediates, roots) === undefined;
}

const WITHOUT_ISSUER = DEFAULT_RENEWAL_CHAIN.filter((p) => p !== issuerChanged);

/**
 * Whether a reissue only moves a leaf to the new issuer and so may wait: the issuer changed, the
 * leaf still chains to the trust bundle, and nothing else (spec drift, expiry, renewal time) asks
 * for a new certificate. Anything else is urgent: deny-by-default never keeps an untrusted or
 * expired credential in place to respect the pace.
 */
export function onlyIssuerMoved(evaluation: RenewalEvaluation, input: RenewalInput): boolean {
  if (!evaluation.reissue || evaluation.reason !== RenewalReason.IssuerChanged) return false;
  if (!chainsToBundle(evaluation, input)) return false;
  return !evaluateRenewal(input, WITHOUT_ISSUER).reissue;
}
