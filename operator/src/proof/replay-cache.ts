// The jti values a verifier has accepted, each remembered until its proof could no longer pass the
// time checks (exp + skew), with a hard bound on their number. Lookups and inserts are one hash
// operation; expiry drops whole one-second buckets, so no request ever scans the cache.

export type Admission = "admitted" | "replayed" | "full";

/**
 * The key under which a jti is remembered: its 16 bytes as a 16-character Latin-1 string (32 bytes
 * of V8 heap against 40 for the 22-character text). It is also a fresh string, so it never keeps
 * alive the decoded payload a JSON.parse substring of the jti would point into.
 */
export function replayKeyOf(jti: string): string {
  return Buffer.from(jti, "base64url").toString("latin1");
}

export class ReplayCache {
  readonly maxEntries: number;
  readonly #seen = new Set<string>();
  /** Keys by the second after which they expire, in a ring of `horizon` seconds. */
  readonly #buckets: string[][];
  /** Every bucket up to and including this second has been emptied. */
  #sweptThrough: number | undefined;

  /**
   * @param horizonSeconds how far past "now" an expiry may lie; the verifier derives it from the
   *   longest lifetime and the skew, and admits nothing beyond it.
   */
  constructor(options: { maxEntries: number; horizonSeconds: number }) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(`maxEntries ${options.maxEntries} must be a positive whole number`);
    }
    this.maxEntries = options.maxEntries;
    this.#buckets = Array.from({ length: options.horizonSeconds + 2 }, () => []);
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Forgets every key whose expiry second lies before `nowMs` (an expiry E lasts through E * 1000 ms). */
  sweep(nowMs: number): void {
    const through = Math.ceil(nowMs / 1000) - 1;
    const from = this.#sweptThrough;
    // A clock that steps back sweeps nothing and forgets nothing.
    if (from !== undefined && through <= from) return;
    this.#sweptThrough = through;
    if (from === undefined) return;
    if (through - from >= this.#buckets.length) {
      // Everything held expired: one clear instead of a pass over the whole ring.
      this.#seen.clear();
      for (const bucket of this.#buckets) bucket.length = 0;
      return;
    }
    for (let second = from + 1; second <= through; second++) {
      const bucket = this.#buckets[second % this.#buckets.length] as string[];
      for (const key of bucket) this.#seen.delete(key);
      bucket.length = 0;
    }
  }

  /**
   * Remembers `key` until the end of second `expirySeconds`, unless it is already remembered
   * ("replayed") or the cache is at its bound ("full": failing closed, since evicting a live key
   * could admit its replay). Check and insert are one synchronous step, so concurrent verifications
   * of one proof cannot both pass.
   */
  admit(key: string, expirySeconds: number, nowMs: number): Admission {
    this.sweep(nowMs);
    const through = this.#sweptThrough as number;
    if (expirySeconds <= through || expirySeconds > through + this.#buckets.length - 1) {
      throw new RangeError(`expiry ${expirySeconds} is outside the cache's horizon after ${through}`);
    }
    if (this.#seen.has(key)) return "replayed";
    if (this.#seen.size >= this.maxEntries) return "full";
    this.#seen.add(key);
    (this.#buckets[expirySeconds % this.#buckets.length] as string[]).push(key);
    return "admitted";
  }
}
