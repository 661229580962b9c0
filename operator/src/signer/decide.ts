import type { AccessSchedule, MachineIdentity } from "../api/index.ts";
import { IDENTITY_LABEL, POD_CERTIFICATE_SIGNER, parseDuration, spiffeIDOf } from "../api/index.ts";
import { desiredIdentity, type IdentityPolicy } from "../controllers/machineidentity/desired.ts";
import { windowOf } from "../controllers/machineidentity/issuable.ts";
import { describeKeyAlgorithm, type KeyAlgorithm, resolveKeyAlgorithm } from "../pki/keys.ts";
import { DEFAULT_BACKDATE_MS } from "../pki/mint.ts";
import { renewalTime } from "../pki/renewal.ts";
import { keyTypeOf, type RequestKey } from "./public-key.ts";
import type { PodCertificateRequest } from "./request.ts";

/** The API server's bounds on a pod certificate (KEP-4317), which every issue must meet. */
export const MIN_LIFETIME_MS = 3_600_000;
/** beginRefreshAt must lie at least this far from notBefore and from notAfter. */
export const REFRESH_MARGIN_MS = 600_000;
/** The API server's default maxExpirationSeconds, for a request that somehow lacks it. */
const DEFAULT_MAX_EXPIRATION_SECONDS = 86_400;

/** Reasons of Denied and Failed conditions, verbatim in the request, the pod's events and metrics. */
export const SignerReason = {
  /** The API's own reason for a key the signer does not issue for (the message names the right one). */
  UnsupportedKeyType: "UnsupportedKeyType",
  /** The API's own reason for userAnnotations the signer does not know. */
  InvalidUserAnnotations: "InvalidUnverifiedUserAnnotations",
  InvalidRequest: "InvalidRequest",
  PodNotFound: "PodNotFound",
  PodMismatch: "PodMismatch",
  NoIdentity: "NoIdentity",
  IdentityNotFound: "IdentityNotFound",
  DeliveryNotPodCertificate: "DeliveryNotPodCertificate",
  ServiceAccountNotListed: "ServiceAccountNotListed",
  InvalidSpec: "InvalidSpec",
  Suspended: "Suspended",
  OutsideWindow: "OutsideWindow",
  ScheduleNotFound: "ScheduleNotFound",
  WindowClosing: "WindowClosing",
  CaExpiring: "CAExpiring",
  CaNotYetValid: "CANotYetValid",
} as const;

/** What the signer reads of the pod a request names: from the cache, or one GET when it is not there. */
export interface PodFacts {
  uid: string;
  labels: Readonly<Record<string, string>>;
  serviceAccountName: string;
  nodeName: string;
}

export interface SignerInput {
  request: PodCertificateRequest;
  /** The request's key, read from it (public-key.ts). */
  key: RequestKey;
  /** The pod the request names; undefined when the API has no pod of that name. */
  pod: PodFacts | undefined;
  /** The MachineIdentity the pod's identity label names, in the request's namespace. */
  identity: MachineIdentity | undefined;
  /** The AccessSchedule the identity's scheduleRef names, when it exists. */
  schedule: AccessSchedule | undefined;
  /** Why the namespace may not claim what the identity names (issuable.ts), if it may not. */
  issuanceRefusal: { reason: string; message: string } | undefined;
  policy: IdentityPolicy;
  /** The issuing CA's validity. */
  ca: { notBefore: Date; notAfter: Date };
  now: Date;
}

export type SignerDecision =
  | {
      kind: "Issue";
      /** namespace/name of the MachineIdentity. */
      identity: string;
      spiffeId: string;
      dnsNames: string[];
      keyAlgorithm: KeyAlgorithm;
      notBefore: Date;
      notAfter: Date;
      beginRefreshAt: Date;
    }
  | {
      kind: "Deny" | "Fail";
      reason: string;
      message: string;
      /** namespace/name of the MachineIdentity the request was for, when one was found. */
      identity?: string | undefined;
    };

const SECOND = 1000;
const floorSecond = (ms: number) => Math.floor(ms / SECOND) * SECOND;

/**
 * How Signet's signer answers one PodCertificateRequest: exactly one of issue, deny or fail, from
 * what the API says of the pod, its ServiceAccount and its identity. The tenant who created the pod
 * chose its labels, volumes and userAnnotations; the API server vouches only for the request's
 * namespace, pod, ServiceAccount, node and key. So the identity is the one the pod's label names
 * (a label only Signet's admission sets), in the request's namespace only, and it must list the
 * ServiceAccount the API server recorded; everything the Secret controller refuses is refused too.
 *
 * The certificate lives min(ttl, maxExpirationSeconds), never past the access window or the CA,
 * and at least the hour the API server demands; beginRefreshAt is renewBefore ahead of notAfter,
 * jittered by the request, and kept 10 minutes from either end as the API server demands.
 */
export function decidePodCertificate(input: SignerInput): SignerDecision {
  const { request, pod, now } = input;
  const namespace = request.metadata?.namespace ?? "";
  const spec = request.spec;
  const podRef = `pod ${namespace}/${spec.podName}`;
  const deny = (reason: string, message: string, identity?: string): SignerDecision => ({
    kind: "Deny",
    reason,
    message,
    identity,
  });

  if (spec.signerName !== POD_CERTIFICATE_SIGNER) {
    return deny(
      SignerReason.InvalidRequest,
      `the request is for signer ${spec.signerName}, not ${POD_CERTIFICATE_SIGNER}`,
    );
  }
  const annotations = Object.keys(spec.unverifiedUserAnnotations ?? {});
  if (annotations.length > 0) {
    return deny(
      SignerReason.InvalidUserAnnotations,
      `${POD_CERTIFICATE_SIGNER} accepts no userAnnotations, and this request has ${annotations.sort().join(", ")}; remove them from the podCertificate volume source`,
    );
  }
  if (!pod) {
    return deny(
      SignerReason.PodNotFound,
      `${podRef} does not exist; no certificate is issued for a pod that is gone`,
    );
  }
  if (pod.uid !== spec.podUID) {
    return deny(
      SignerReason.PodMismatch,
      `${podRef} is now another pod (uid ${pod.uid}, the request names uid ${spec.podUID}); no certificate is issued for the pod that is gone`,
    );
  }
  if (pod.serviceAccountName !== spec.serviceAccountName || pod.nodeName !== spec.nodeName) {
    return deny(
      SignerReason.PodMismatch,
      `${podRef} runs as ServiceAccount ${pod.serviceAccountName} on node ${pod.nodeName}, but the request names ServiceAccount ${spec.serviceAccountName} on node ${spec.nodeName}`,
    );
  }
  const name = pod.labels[IDENTITY_LABEL];
  if (!name) {
    return deny(
      SignerReason.NoIdentity,
      `${podRef} carries no ${IDENTITY_LABEL} label: ${POD_CERTIFICATE_SIGNER} signs only for pods admitted with a Signet identity (label signet.dev/inject: "true" and annotation ${IDENTITY_LABEL}: <MachineIdentity>)`,
    );
  }
  const ref = `${namespace}/${name}`;
  const where = `MachineIdentity ${ref}`;
  const { identity: mi } = input;
  if (!mi) {
    return deny(
      SignerReason.IdentityNotFound,
      `${where}, named by the ${IDENTITY_LABEL} label of ${podRef}, does not exist`,
      ref,
    );
  }
  if (mi.spec.delivery !== "PodCertificate") {
    return deny(
      SignerReason.DeliveryNotPodCertificate,
      `${where} has spec.delivery ${mi.spec.delivery ?? "Secret"}: its pods mount its Secret, and ${POD_CERTIFICATE_SIGNER} signs nothing for it; set spec.delivery to PodCertificate`,
      ref,
    );
  }
  const serviceAccounts = mi.spec.serviceAccounts ?? [];
  if (!serviceAccounts.includes(spec.serviceAccountName)) {
    return deny(
      SignerReason.ServiceAccountNotListed,
      `${where} does not list ServiceAccount ${spec.serviceAccountName} in spec.serviceAccounts (it lists ${serviceAccounts.join(", ")}); add it there or run the pod as one of them`,
      ref,
    );
  }
  const desired = desiredIdentity(mi, input.policy);
  if (!desired.ok) return deny(SignerReason.InvalidSpec, desired.message, ref);
  if (input.issuanceRefusal) return deny(input.issuanceRefusal.reason, input.issuanceRefusal.message, ref);
  if (mi.spec.suspend) {
    return deny(
      SignerReason.Suspended,
      `${where} is suspended (spec.suspend: true): no certificate is issued until it is false`,
      ref,
    );
  }
  const window = windowOf(mi, input.schedule, now);
  if (!window.open) return deny(window.reason, `${where}: ${window.message}`, ref);

  const wanted = resolveKeyAlgorithm(mi.spec.privateKey ?? { algorithm: "ECDSA", size: 256 });
  const wantedType = keyTypeOf(wanted) ?? "ECDSAP256";
  const { key } = input;
  if (!key.ok) {
    return key.unsupported
      ? deny(SignerReason.UnsupportedKeyType, `${key.message}; ${where} asks for keyType ${wantedType}`, ref)
      : deny(SignerReason.InvalidRequest, key.message, ref);
  }
  if (describeKeyAlgorithm(key.algorithm) !== describeKeyAlgorithm(wanted)) {
    return deny(
      SignerReason.UnsupportedKeyType,
      `${where} is issued for ${describeKeyAlgorithm(wanted)} keys only (spec.privateKey), and the request's key is ${describeKeyAlgorithm(key.algorithm)}; use keyType ${wantedType} in the podCertificate volume source`,
      ref,
    );
  }

  // A CA that starts later than the API server's 5 minutes of tolerance would give a notBefore it refuses.
  if (input.ca.notBefore.getTime() > now.getTime()) {
    return {
      kind: "Fail",
      reason: SignerReason.CaNotYetValid,
      message: `the issuing CA is valid only from ${input.ca.notBefore.toISOString()}; check the operator's clock against the CA's`,
      identity: ref,
    };
  }
  // Validity: whole seconds, notBefore reaching back for clock skew but not before the CA's.
  const notBeforeMs = floorSecond(
    Math.max(now.getTime() - DEFAULT_BACKDATE_MS, input.ca.notBefore.getTime()),
  );
  const maxSeconds = spec.maxExpirationSeconds ?? DEFAULT_MAX_EXPIRATION_SECONDS;
  const wantedMs = Math.min(desired.svid.ttlMs, maxSeconds * SECOND);
  const windowMs = window.windowEnd ? window.windowEnd.getTime() - notBeforeMs : Number.POSITIVE_INFINITY;
  const caMs = input.ca.notAfter.getTime() - notBeforeMs;
  const lifetimeMs = floorSecond(Math.min(wantedMs, windowMs, caMs));
  if (lifetimeMs < MIN_LIFETIME_MS) {
    if (windowMs <= caMs) {
      return deny(
        SignerReason.WindowClosing,
        `${where}: its access window ends at ${window.windowEnd?.toISOString()}, and a pod certificate must live at least 1h; none is issued that would outlive the window`,
        ref,
      );
    }
    return {
      kind: "Fail",
      reason: SignerReason.CaExpiring,
      message: `the issuing CA expires at ${input.ca.notAfter.toISOString()}, too soon for a certificate of at least 1h; Signet rotates it before then`,
      identity: ref,
    };
  }
  const notBefore = new Date(notBeforeMs);
  const notAfter = new Date(notBeforeMs + lifetimeMs);
  const refresh = renewalTime({
    notBefore,
    notAfter,
    renewBeforeMs: mi.spec.renewBefore ? parseDuration(mi.spec.renewBefore) : Math.floor(lifetimeMs / 3),
    jitterKey: request.metadata?.uid ?? `${namespace}/${request.metadata?.name}`,
  }).getTime();
  const beginRefreshAt = new Date(
    floorSecond(
      Math.min(Math.max(refresh, notBeforeMs + REFRESH_MARGIN_MS), notAfter.getTime() - REFRESH_MARGIN_MS),
    ),
  );
  return {
    kind: "Issue",
    identity: ref,
    spiffeId: spiffeIDOf(mi, input.policy.trustDomain),
    dnsNames: desired.svid.dnsNames ? [...desired.svid.dnsNames] : [],
    keyAlgorithm: wanted,
    notBefore,
    notAfter,
    beginRefreshAt,
  };
}
