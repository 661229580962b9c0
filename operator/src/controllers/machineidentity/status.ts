import type { MachineIdentityStatus } from "../../api/index.ts";
import { IssuanceReason } from "../../issuance/claims.ts";
import { type ConditionInput, setConditions } from "../shared/conditions.ts";

/** Reasons that appear verbatim in conditions and events. */
export const Reason = {
  Issued: "Issued",
  Rotated: "Rotated",
  Revoked: "Revoked",
  Suspended: "Suspended",
  Active: "Active",
  OutsideWindow: "OutsideWindow",
  ScheduleNotFound: "ScheduleNotFound",
  InvalidSpec: "InvalidSpec",
  IssuanceFailed: "IssuanceFailed",
  SecretConflict: "SecretConflict",
  SecretNameReserved: "SecretNameReserved",
  ClaimNotPermitted: IssuanceReason.ClaimNotPermitted,
  SpiffeIDConflict: IssuanceReason.SpiffeIDConflict,
  TamperDetected: "TamperDetected",
  UpToDate: "UpToDate",
  /** The Secret holds no certificate Signet can serve (missing, malformed or changed by hand). */
  SecretMissing: "SecretMissing",
  Expired: "Expired",
  NotYetValid: "NotYetValid",
  /** Delivery PodCertificate: the signer issues to each pod's kubelet on request. */
  SignerReady: "SignerReady",
  PodCertificate: "PodCertificate",
  /** Delivery External: enrolled machines outside the cluster are issued to on enrollment and renewal. */
  EnrollmentReady: "EnrollmentReady",
  External: "External",
} as const;

/** The certificate the identity's Secret holds once the reconcile is done. */
export interface Credential {
  /** The certificate's SPIFFE ID; undefined when it carries none or several URI SANs. */
  spiffeID: string | undefined;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  renewalTime: Date | undefined;
  /**
   * Why it no longer serves the current spec and trust bundle (its SPIFFE ID, DNS names, key, ttl
   * or window changed, or the bundle stopped trusting its issuer), as the renewal chain said it;
   * undefined when it serves them. Its validity in time is judged against `now`, not here.
   */
  unfit?: { reason: string; message: string } | undefined;
}

/** What one reconcile of a MachineIdentity found and did: all the status depends on besides its past. */
export interface IdentityFacts {
  /** metadata.generation of the MachineIdentity that was reconciled. */
  generation: number | undefined;
  /** Pods that carry the identity label. */
  consumers: number;
  state: IdentityState;
  /** What the PodCertificate signer did for the identity, when it answered for it in this process. */
  podCertificates?: MachineIdentityStatus["podCertificates"];
}

export type IdentityState =
  /** The spec cannot be minted for; the Secret is left as it is. */
  | { kind: "InvalidSpec"; message: string }
  /** The claim was refused (Secret held by another, reserved name, claim not permitted, SPIFFE ID held). */
  | { kind: "Refused"; reason: string; message: string }
  /** spec.suspend is true and the credential was revoked. */
  | { kind: "Suspended" }
  /** Delivery PodCertificate, and the signer may issue now: each pod's kubelet asks for its certificate. */
  | { kind: "Signing"; spiffeID: string; windowEnd?: Date | undefined; external?: boolean | undefined }
  /** Outside the schedule's windows, or the schedule is missing: the credential was revoked. */
  | {
      kind: "Inactive";
      reason: typeof Reason.OutsideWindow | typeof Reason.ScheduleNotFound;
      message: string;
    }
  /** The identity is to hold a credential now. */
  | {
      kind: "Active";
      /** What the Secret holds after this reconcile; undefined when nothing Signet can use. */
      credential: Credential | undefined;
      /**
       * Set when this reconcile wrote `credential` into the Secret: whether it replaced an earlier
       * credential of this identity (a rotation) or was its first.
       */
      minted?: { replaced: boolean } | undefined;
      /** Why this reconcile's attempt to issue failed, when it tried and failed. */
      issuanceError?: string | undefined;
      /** The end of the current access window, for an identity with a schedule. */
      windowEnd?: Date | undefined;
    };

type Fields = Pick<
  MachineIdentityStatus,
  "spiffeID" | "serialNumber" | "notBefore" | "notAfter" | "renewalTime"
>;

const ACTIVE: ConditionInput = {
  type: "Suspended",
  status: "False",
  reason: Reason.Active,
  message: "spec.suspend is false",
};

/**
 * The complete status after a reconcile, from its facts and the status before it.
 *
 * - Ready is True only while the Secret holds a certificate that serves the current spec and is
 *   valid at `now`. A failed issuance keeps it True only when such a certificate is still in place
 *   (a failed renewal); otherwise Ready is False with IssuanceFailed. Issuing carries the failure.
 * - `rotations` grows by one for each credential that replaced an earlier one and that the status
 *   had not yet recorded, so a rotation whose status write was lost is counted by the next reconcile,
 *   and never twice.
 * - lastTransitionTime moves only when a condition's status changes; observedGeneration is the
 *   generation reconciled. Equal facts give an equal status, so a reconcile that changed nothing
 *   writes nothing.
 */
export function statusFor(
  facts: IdentityFacts,
  previous: MachineIdentityStatus | undefined,
  now: Date,
): MachineIdentityStatus {
  const { conditions, fields, rotations } =
    facts.state.kind === "Active"
      ? activeOutcome(facts.state, previous, now)
      : heldOutcome(facts.state, previous);
  return {
    ...definedOnly(fields),
    ...(rotations === undefined ? {} : { rotations }),
    consumers: facts.consumers,
    ...((facts.podCertificates ?? previous?.podCertificates)
      ? { podCertificates: facts.podCertificates ?? previous?.podCertificates }
      : {}),
    ...(facts.generation === undefined ? {} : { observedGeneration: facts.generation }),
    conditions: setConditions(previous?.conditions, conditions, now, facts.generation),
  };
}

interface Outcome {
  conditions: ConditionInput[];
  fields: Fields;
  rotations: number | undefined;
}

/** Every state but Active: no credential is issued, and the count stays where it was. */
function heldOutcome(
  state: Exclude<IdentityState, { kind: "Active" }>,
  previous: MachineIdentityStatus | undefined,
): Outcome {
  const rotations = previous?.rotations;
  switch (state.kind) {
    case "InvalidSpec":
      return {
        conditions: [
          { type: "Ready", status: "False", reason: Reason.InvalidSpec, message: state.message },
          { type: "Issuing", status: "False", reason: Reason.InvalidSpec, message: state.message },
        ],
        // Nothing was revoked: the Secret still holds what the status says.
        fields: recordedFields(previous),
        rotations,
      };
    case "Refused":
      return {
        conditions: [
          { type: "Ready", status: "False", reason: state.reason, message: state.message },
          { type: "Issuing", status: "False", reason: state.reason, message: state.message },
        ],
        fields: {},
        rotations,
      };
    case "Suspended": {
      const message = "spec.suspend is true: no credential exists until it is set to false";
      return {
        conditions: [
          { type: "Ready", status: "False", reason: Reason.Suspended, message },
          { type: "Suspended", status: "True", reason: Reason.Suspended, message },
          { type: "Issuing", status: "False", reason: Reason.Suspended, message },
        ],
        fields: {},
        rotations,
      };
    }
    case "Signing": {
      const window = state.windowEnd
        ? ` until the access window ends at ${state.windowEnd.toISOString()}`
        : "";
      const message = state.external
        ? `enrolled machines outside the cluster receive ${state.spiffeID} from Signet's enrollment endpoint for keys they generate themselves${window}; no Secret holds a key`
        : `pods receive ${state.spiffeID} from the kubelet's podCertificate volume, signed by signet.dev/svid${window}; no Secret holds a key`;
      const [ready, issuing] = state.external
        ? [Reason.EnrollmentReady, Reason.External]
        : [Reason.SignerReady, Reason.PodCertificate];
      return {
        conditions: [
          { type: "Ready", status: "True", reason: ready, message },
          ACTIVE,
          { type: "Issuing", status: "False", reason: issuing, message },
        ],
        fields: { spiffeID: state.spiffeID },
        rotations,
      };
    }
    case "Inactive":
      return {
        conditions: [
          { type: "Ready", status: "False", reason: state.reason, message: state.message },
          ACTIVE,
          { type: "Issuing", status: "False", reason: state.reason, message: state.message },
        ],
        fields: {},
        rotations,
      };
  }
}

function activeOutcome(
  state: Extract<IdentityState, { kind: "Active" }>,
  previous: MachineIdentityStatus | undefined,
  now: Date,
): Outcome {
  const { credential, issuanceError } = state;
  const unrecorded = credential !== undefined && isUnrecorded(credential, state.minted, previous);
  const replaced = state.minted ? state.minted.replaced : previous?.serialNumber !== undefined;
  const rotations = (previous?.rotations ?? 0) + (unrecorded && replaced ? 1 : 0);
  const serving = servingAt(credential, now);
  let ready: ConditionInput;
  if (serving.ok) {
    const reason = unrecorded
      ? replaced
        ? Reason.Rotated
        : Reason.Issued
      : keptReadyReason(previous, serving.credential);
    const window = state.windowEnd ? ` (access window ends ${state.windowEnd.toISOString()})` : "";
    const message = `${serving.credential.spiffeID} valid until ${serving.credential.notAfter.toISOString()}${window}`;
    ready = { type: "Ready", status: "True", reason, message };
  } else if (issuanceError !== undefined) {
    const message = `${issuanceError}; ${serving.message}`;
    ready = { type: "Ready", status: "False", reason: Reason.IssuanceFailed, message };
  } else {
    ready = { type: "Ready", status: "False", reason: serving.reason, message: serving.message };
  }
  const issuing: ConditionInput =
    issuanceError !== undefined
      ? { type: "Issuing", status: "True", reason: Reason.IssuanceFailed, message: issuanceError }
      : serving.ok
        ? { type: "Issuing", status: "False", reason: Reason.UpToDate, message: "the credential is current" }
        : { type: "Issuing", status: "False", reason: serving.reason, message: serving.message };
  return {
    conditions: [ready, ACTIVE, issuing],
    // When the Secret holds nothing usable, the status keeps naming the last credential issued:
    // Ready says it is gone, and its serial lets the next mint count as the rotation it is.
    fields: credential ? fieldsOf(credential) : recordedFields(previous),
    rotations,
  };
}

function recordedFields(previous: MachineIdentityStatus | undefined): Fields {
  return {
    spiffeID: previous?.spiffeID,
    serialNumber: previous?.serialNumber,
    notBefore: previous?.notBefore,
    notAfter: previous?.notAfter,
    renewalTime: previous?.renewalTime,
  };
}

/**
 * Whether `credential` is one the status has not recorded yet: written by this reconcile, or by an
 * earlier one whose status write was lost. A different serial alone is not enough: a Secret cache
 * that lags behind the status shows the older certificate, which is no new one.
 */
function isUnrecorded(
  credential: Credential,
  minted: { replaced: boolean } | undefined,
  previous: MachineIdentityStatus | undefined,
): boolean {
  if (credential.serialNumber === previous?.serialNumber) return false;
  if (minted || previous?.serialNumber === undefined) return true;
  const recordedNotBefore = Date.parse(previous.notBefore ?? "");
  return credential.notBefore.getTime() > recordedNotBefore;
}

/** Ready keeps naming what made the credential ready (Issued, Rotated) for as long as it is the one in place. */
function keptReadyReason(previous: MachineIdentityStatus | undefined, credential: Credential): string {
  const ready = previous?.conditions?.find((c) => c.type === "Ready");
  return ready?.status === "True" &&
    (ready.reason === Reason.Issued || ready.reason === Reason.Rotated) &&
    previous?.serialNumber === credential.serialNumber
    ? ready.reason
    : Reason.UpToDate;
}

/** Whether the Secret's credential makes the identity Ready at `now`, and why not when it does not. */
function servingAt(
  credential: Credential | undefined,
  now: Date,
): { ok: true; credential: Credential } | { ok: false; reason: string; message: string } {
  if (!credential) {
    return {
      ok: false,
      reason: Reason.SecretMissing,
      message: "the Secret holds no certificate Signet issued for this identity",
    };
  }
  if (credential.unfit) return { ok: false, ...credential.unfit };
  if (now.getTime() >= credential.notAfter.getTime()) {
    return {
      ok: false,
      reason: Reason.Expired,
      message: `the certificate in the Secret expired at ${credential.notAfter.toISOString()}`,
    };
  }
  if (now.getTime() < credential.notBefore.getTime()) {
    return {
      ok: false,
      reason: Reason.NotYetValid,
      message: `the certificate in the Secret is valid only from ${credential.notBefore.toISOString()}`,
    };
  }
  return { ok: true, credential };
}

function fieldsOf(credential: Credential): Fields {
  return {
    spiffeID: credential.spiffeID,
    serialNumber: credential.serialNumber,
    notBefore: credential.notBefore.toISOString(),
    notAfter: credential.notAfter.toISOString(),
    renewalTime: credential.renewalTime?.toISOString(),
  };
}

function definedOnly(fields: Fields): Fields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Fields;
}
