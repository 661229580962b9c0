import type { AccessSchedule, Enrollment, MachineIdentity } from "../api/index.ts";
import { parseDuration } from "../api/index.ts";
import { windowOf } from "../controllers/machineidentity/issuable.ts";

/** Machine-readable reasons of the enrollment endpoint's refusals, also the metric's label values. */
export const EnrollReason = {
  InvalidRequest: "InvalidRequest",
  InvalidCSR: "InvalidCSR",
  UnsupportedKeyType: "UnsupportedKeyType",
  /** This replica cannot decide yet (caches not synced, no CA read): retry. */
  NotReady: "NotReady",
  UnknownToken: "UnknownToken",
  /** The token was used before: whoever presents it again may have stolen it. */
  TokenReplayed: "TokenReplayed",
  TokenExpired: "TokenExpired",
  WrongIdentity: "WrongIdentity",
  IdentityNotFound: "IdentityNotFound",
  DeliveryNotExternal: "DeliveryNotExternal",
  Suspended: "Suspended",
  OutsideWindow: "OutsideWindow",
  ScheduleNotFound: "ScheduleNotFound",
  /** Another replica changed the Enrollment at the same instant; the request may be retried. */
  Conflict: "Conflict",
  UnknownCertificate: "UnknownCertificate",
  /** A certificate already renewed was presented again, after the grace for a lost answer. */
  SupersededCertificate: "SupersededCertificate",
  SpiffeIdMismatch: "SpiffeIdMismatch",
} as const;
export type EnrollReasonValue = (typeof EnrollReason)[keyof typeof EnrollReason];

/** How long a renewed certificate may renew once more: the client may have lost the answer. */
export const RENEWAL_GRACE_MS = 120_000;
/** How far before now a certificate's notBefore is put, for clocks a little behind. */
export const BACKDATE_MS = 60_000;

export interface Refusal {
  ok: false;
  status: number;
  reason: EnrollReasonValue | string;
  message: string;
  /** A possible theft: a Warning event and the replay metric. */
  alarm?: boolean;
}

/** A refusal; with `alarm`, one that is reported as a possible theft. */
export const refuse = (status: number, reason: string, message: string, alarm = false): Refusal => ({
  ok: false,
  status,
  reason,
  message,
  ...(alarm ? { alarm } : {}),
});

/**
 * Whether an identity may be issued to an outside machine now: it exists, has delivery External,
 * is not suspended, its access window is open and the issuance rules let it hold what it claims.
 * On success, the end of the open window bounds the certificate.
 */
export function externalIssuance(input: {
  ref: string;
  identity: MachineIdentity | undefined;
  schedule: AccessSchedule | undefined;
  claimRefusal: { reason: string; message: string } | undefined;
  now: Date;
}): { ok: true; windowEnd: Date | undefined } | Refusal {
  const { identity, ref } = input;
  const where = `MachineIdentity ${ref}`;
  if (!identity) return refuse(403, EnrollReason.IdentityNotFound, `${where} does not exist`);
  if (identity.spec.delivery !== "External") {
    return refuse(
      403,
      EnrollReason.DeliveryNotExternal,
      `${where} has spec.delivery ${identity.spec.delivery}: only an identity with delivery External is held outside the cluster`,
    );
  }
  if (identity.spec.suspend) {
    return refuse(
      403,
      EnrollReason.Suspended,
      `${where} is suspended (spec.suspend: true); nothing is issued until it is resumed`,
    );
  }
  const window = windowOf(identity, input.schedule, input.now);
  if (!window.open) return refuse(403, window.reason, window.message);
  if (input.claimRefusal) return refuse(403, input.claimRefusal.reason, input.claimRefusal.message);
  return { ok: true, windowEnd: window.windowEnd };
}

/**
 * When an Enrollment's token expires: spec.ttl after its creation, never later than the identity's
 * own ttl after it (a token outliving the certificates it yields guards nothing) nor the end of the
 * identity's open access window.
 */
export function tokenExpiry(input: {
  createdAt: Date;
  ttl: string;
  identityTtl: string | undefined;
  windowEnd?: Date | undefined;
}): Date {
  const created = input.createdAt.getTime();
  let end = created + parseDuration(input.ttl);
  if (input.identityTtl) end = Math.min(end, created + parseDuration(input.identityTtl));
  if (input.windowEnd) end = Math.min(end, input.windowEnd.getTime());
  return new Date(end);
}

/** The validity of a certificate for an outside machine, in whole seconds, inside the window and the CA. */
export function externalValidity(input: {
  now: Date;
  ttl: string;
  windowEnd: Date | undefined;
  caNotBefore: Date;
  caNotAfter: Date;
}): { notBefore: Date; notAfter: Date } | undefined {
  const floor = (ms: number) => Math.floor(ms / 1000) * 1000;
  const notBefore = floor(Math.max(input.now.getTime() - BACKDATE_MS, input.caNotBefore.getTime()));
  let notAfter = input.now.getTime() + parseDuration(input.ttl);
  if (input.windowEnd) notAfter = Math.min(notAfter, input.windowEnd.getTime());
  notAfter = floor(Math.min(notAfter, input.caNotAfter.getTime()));
  if (notAfter <= input.now.getTime()) return undefined;
  return { notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
}

/**
 * Whether a token presented for `requested` (namespace/name of a MachineIdentity) may enroll,
 * given the Enrollment it names (undefined: none, or its hash differs). A used token is always a
 * replay, whatever else is wrong: that is the alarm that matters. Nothing here consumes the token.
 */
export function decideEnrollment(input: {
  enrollment: Enrollment | undefined;
  requested: string;
  identity: MachineIdentity | undefined;
  schedule: AccessSchedule | undefined;
  claimRefusal: { reason: string; message: string } | undefined;
  now: Date;
}): { ok: true; windowEnd: Date | undefined; expiresAt: Date } | Refusal {
  const { enrollment, now } = input;
  if (!enrollment) {
    return refuse(
      401,
      EnrollReason.UnknownToken,
      "the token is not one Signet issued, or its Enrollment was deleted; ask for a new one with signet enroll",
    );
  }
  const where = `Enrollment ${enrollment.metadata.namespace}/${enrollment.metadata.name}`;
  if (enrollment.status?.phase === "Enrolled" || enrollment.status?.enrolledAt) {
    return refuse(
      401,
      EnrollReason.TokenReplayed,
      `the token of ${where} was already used at ${enrollment.status?.enrolledAt ?? "an earlier time"}; a token enrolls once, so this use is reported as a possible theft`,
      true,
    );
  }
  const identityRef = `${enrollment.metadata.namespace}/${enrollment.spec.identity}`;
  const expiresAt = tokenExpiry({
    createdAt: new Date(String(enrollment.metadata.creationTimestamp ?? now.toISOString())),
    ttl: enrollment.spec.ttl,
    identityTtl: input.identity?.spec.ttl,
  });
  if (now >= expiresAt || enrollment.status?.phase === "Expired") {
    return refuse(
      401,
      EnrollReason.TokenExpired,
      `the token of ${where} expired at ${expiresAt.toISOString()}; ask for a new one with signet enroll`,
    );
  }
  if (input.requested !== identityRef) {
    return refuse(
      403,
      EnrollReason.WrongIdentity,
      `the token of ${where} enrolls as MachineIdentity ${identityRef}, not ${input.requested}`,
    );
  }
  const issuable = externalIssuance({
    ref: identityRef,
    identity: input.identity,
    schedule: input.schedule,
    claimRefusal: input.claimRefusal,
    now,
  });
  if (!issuable.ok) return issuable;
  return { ok: true, windowEnd: issuable.windowEnd, expiresAt };
}

/**
 * Whether the holder of the certificate `serialNumber` with `spiffeId` may renew through the
 * Enrollment that recorded it: the current certificate may, the one renewed last only within the
 * grace for a lost answer; the identity must still be issuable and hold that SPIFFE ID.
 */
export function decideRenewal(input: {
  enrollment: Enrollment | undefined;
  serialNumber: string;
  spiffeId: string;
  identitySpiffeId: string | undefined;
  identity: MachineIdentity | undefined;
  schedule: AccessSchedule | undefined;
  claimRefusal: { reason: string; message: string } | undefined;
  now: Date;
}): { ok: true; windowEnd: Date | undefined } | Refusal {
  const { enrollment, now } = input;
  if (!enrollment) {
    return refuse(
      403,
      EnrollReason.UnknownCertificate,
      "no Enrollment records this certificate (it was deleted, or the certificate was never enrolled); enroll again with a new token",
    );
  }
  const where = `Enrollment ${enrollment.metadata.namespace}/${enrollment.metadata.name}`;
  const current = enrollment.status?.certificate?.serialNumber;
  const previous = enrollment.status?.previous;
  if (current !== input.serialNumber) {
    const within =
      previous?.serialNumber === input.serialNumber &&
      now.getTime() - Date.parse(previous.supersededAt) <= RENEWAL_GRACE_MS;
    if (!within) {
      return refuse(
        403,
        EnrollReason.SupersededCertificate,
        `the certificate ${input.serialNumber} of ${where} was already renewed; only the newest may renew, so this use is reported as a possible copy`,
        true,
      );
    }
  }
  const ref = `${enrollment.metadata.namespace}/${enrollment.spec.identity}`;
  const issuable = externalIssuance({
    ref,
    identity: input.identity,
    schedule: input.schedule,
    claimRefusal: input.claimRefusal,
    now,
  });
  if (!issuable.ok) return issuable;
  if (input.identitySpiffeId !== input.spiffeId) {
    return refuse(
      403,
      EnrollReason.SpiffeIdMismatch,
      `MachineIdentity ${ref} now holds ${input.identitySpiffeId}, not ${input.spiffeId}; enroll again with a new token`,
    );
  }
  return issuable;
}
