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
 * re-key asks (`tryAcquire`) with its key; when it cannot go at once it takes a place in line and
 * is told when its turn should come, so a thousand identities moving to a new issuer at the same
 * moment ask two or three times each, instead of all retrying at every freed slot. Any of the first
 * few in line may take a free slot, so one that comes back late (its work queue was busy) holds up
 * nobody. An urgent re-key (untrusted, expired, due, missing or changed) is never held back
 * (`force`), yet it is counted, so paced ones yield to it. Times are the caller's clock, in
 * milliseconds.
 */
export class RekeyLimiter {
  readonly perSecond: number;
  readonly #spacingMs: number;
  /** How many at the front of the line may take a free slot. */
  readonly #front: number;
  /** Grant times within the last second, oldest first. */
  readonly #recent: number[] = [];
  /** Keys waiting, in the order they first asked, with when each is given up if it does not ask again. */
  readonly #line = new Map<string, number>();

  constructor(perSecond: number = DEFAULT_REKEYS_PER_SECOND) {
    if (!(perSecond > 0)) throw new Error(`the re-key limit must be positive, got ${perSecond}`);
    this.perSecond = perSecond;
    this.#spacingMs = Math.ceil(1000 / perSecond);
    this.#front = Math.max(1, Math.ceil(perSecond / 4));
  }

  tryAcquire(nowMs: number, key = ""): RekeyGrant {
    this.#prune(nowMs);
    const wait = this.#wait(nowMs);
    let position = 0;
    for (const waiting of this.#line.keys()) {
      if (waiting === key) break;
      position++;
    }
    if (wait <= 0 && position < this.#front) {
      this.#line.delete(key);
      this.#recent.push(nowMs);
      return { granted: true };
    }
    // Its turn: after the ones ahead of it have gone, one spacing each.
    const retryAfterMs = Math.max(wait, 1) + position * this.#spacingMs;
    // Given up when it has not asked again well after its turn: it no longer needed the re-key.
    const giveUpAt = nowMs + retryAfterMs + 10_000;
    // Map.set keeps a key's place in line; a newcomer goes to the back.
    this.#line.set(key, giveUpAt);
    return { granted: false, retryAfterMs };
  }

  force(nowMs: number): void {
    this.#prune(nowMs);
    this.#recent.push(nowMs);
  }

  /** Keys waiting in line; for tests and metrics. */
  get waiting(): number {
    return this.#line.size;
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
    for (const [key, giveUpAt] of this.#line) if (giveUpAt < nowMs) this.#line.delete(key);
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
