/**
 * The JWT-SVID signing key schedule, as a pure function of the key set and the clock. Verifiers
 * cache a JWKS for minutes, so a key is published `publishAhead` before it signs anything; it signs
 * for `rotationPeriod`; once retired it stays published until the last token it can have signed has
 * expired (its successor's start + the longest JWT-SVID ttl + clock skew), then it leaves.
 */

/** One key of the set, as the plan sees it (no key material). */
export interface SigningKeyTimes {
  kid: string;
  /** When the key was created and first published. */
  createdAt: Date;
  /** From when it signs (until a newer key's signingFrom). */
  signingFrom: Date;
}

export interface SigningKeySchedule {
  /** How long a key signs before its successor takes over. Default 24 h. */
  rotationPeriodMs: number;
  /** How long a next key is published before it signs. Default 15 min. */
  publishAheadMs: number;
  /** The longest lifetime of a JWT-SVID (1 h). */
  maxTokenTtlMs: number;
  /** Allowance for verifiers' clocks. Default 5 min. */
  clockSkewMs: number;
}

export const DEFAULT_SIGNING_KEY_SCHEDULE: SigningKeySchedule = {
  rotationPeriodMs: 24 * 3_600_000,
  publishAheadMs: 15 * 60_000,
  maxTokenTtlMs: 3_600_000,
  clockSkewMs: 5 * 60_000,
};

export const SigningKeyReason = {
  Steady: "Steady",
  CreateFirst: "CreateFirst",
  PublishNext: "PublishNext",
  AwaitingNext: "AwaitingNext",
  DropRetired: "DropRetired",
} as const;
export type SigningKeyReason = (typeof SigningKeyReason)[keyof typeof SigningKeyReason];

export interface SigningKeyPlan {
  /** Create a key that signs from this instant on (and publish it now), if any. */
  create: { signingFrom: Date } | undefined;
  /** Keys to remove from the set: every token they signed has expired. */
  drop: string[];
  /** The key that signs at `now`, before the plan is applied (undefined with no usable key). */
  signing: string | undefined;
  reason: SigningKeyReason;
  message: string;
  /** The next instant at which the plan changes on its own (or the signing key does). */
  nextCheck: Date | undefined;
}

/** The key that signs at `now`: the latest whose signingFrom has come; ties by kid. */
export function signingKeyAt<K extends SigningKeyTimes>(keys: readonly K[], now: Date): K | undefined {
  let best: K | undefined;
  for (const key of keys) {
    if (key.signingFrom.getTime() > now.getTime()) continue;
    if (
      !best ||
      key.signingFrom.getTime() > best.signingFrom.getTime() ||
      (key.signingFrom.getTime() === best.signingFrom.getTime() && key.kid > best.kid)
    )
      best = key;
  }
  return best;
}

/**
 * When each key stopped signing: the signingFrom of the first key after it, or undefined while it
 * still signs (or has not started).
 */
export function retiredAt(keys: readonly SigningKeyTimes[], key: SigningKeyTimes): Date | undefined {
  const later = keys
    .filter((k) => k !== key && k.signingFrom.getTime() > key.signingFrom.getTime())
    .map((k) => k.signingFrom.getTime());
  return later.length > 0 ? new Date(Math.min(...later)) : undefined;
}

export function signingKeyPlan(
  keys: readonly SigningKeyTimes[],
  now: Date,
  schedule: Partial<SigningKeySchedule> = {},
): SigningKeyPlan {
  const s = { ...DEFAULT_SIGNING_KEY_SCHEDULE, ...schedule };
  const t = now.getTime();
  const signing = signingKeyAt(keys, now);
  const pending = keys.filter((k) => k.signingFrom.getTime() > t);
  const upcoming: number[] = [];
  const notes: string[] = [];
  let reason: SigningKeyReason = SigningKeyReason.Steady;

  const drop: string[] = [];
  for (const key of keys) {
    if (key === signing || key.signingFrom.getTime() > t) continue;
    const retired = retiredAt(keys, key);
    if (!retired) continue;
    const leaveAt = retired.getTime() + s.maxTokenTtlMs + s.clockSkewMs;
    if (t >= leaveAt) drop.push(key.kid);
    else upcoming.push(leaveAt);
  }
  if (drop.length > 0) {
    reason = SigningKeyReason.DropRetired;
    notes.push(`${drop.join(", ")} leave the JWKS: every token they signed has expired`);
  }

  let create: SigningKeyPlan["create"];
  if (!signing) {
    // Nothing can sign: a key that signs at once beats waiting for a verifier cache that has
    // never held a key of this issuer.
    create = pending.length === 0 ? { signingFrom: now } : undefined;
    if (create) {
      reason = SigningKeyReason.CreateFirst;
      notes.push("no key signs: create one that signs now");
    } else {
      reason = SigningKeyReason.AwaitingNext;
      notes.push("no key signs until the published next key starts");
    }
  } else {
    const due = signing.signingFrom.getTime() + s.rotationPeriodMs;
    if (pending.length === 0) {
      const publishAt = due - s.publishAheadMs;
      if (t >= publishAt) {
        create = { signingFrom: new Date(Math.max(due, t + s.publishAheadMs)) };
        reason = SigningKeyReason.PublishNext;
        notes.push(`publish the next key now; it signs from ${create.signingFrom.toISOString()}`);
      } else upcoming.push(publishAt);
    } else if (reason === SigningKeyReason.Steady) {
      reason = SigningKeyReason.AwaitingNext;
      notes.push(`the next key is published and signs from ${minDate(pending).toISOString()}`);
    }
  }
  for (const key of pending) upcoming.push(key.signingFrom.getTime());
  if (create) upcoming.push(create.signingFrom.getTime());
  if (notes.length === 0) notes.push(`${signing?.kid} signs; nothing to rotate`);
  const future = upcoming.filter((x) => x > t);
  return {
    create,
    drop,
    signing: signing?.kid,
    reason,
    message: notes.join("; "),
    nextCheck: future.length > 0 ? new Date(Math.min(...future)) : undefined,
  };
}

function minDate(keys: readonly SigningKeyTimes[]): Date {
  return new Date(Math.min(...keys.map((k) => k.signingFrom.getTime())));
}
