/** The API group of every Signet resource. */
export const GROUP = "signet.dev";
/** The only served and stored version. */
export const VERSION = "v1alpha1";
/** `apiVersion` of every Signet object. */
export const API_VERSION = `${GROUP}/${VERSION}`;

export const MACHINE_IDENTITY_KIND = "MachineIdentity";
export const ACCESS_POLICY_KIND = "AccessPolicy";
export const ACCESS_SCHEDULE_KIND = "AccessSchedule";
export const ISSUANCE_POLICY_KIND = "IssuancePolicy";
export const ENROLLMENT_KIND = "Enrollment";
export const TRUSTED_ISSUER_KIND = "TrustedIssuer";

export const MACHINE_IDENTITY_PLURAL = "machineidentities";
export const ACCESS_POLICY_PLURAL = "accesspolicies";
export const ACCESS_SCHEDULE_PLURAL = "accessschedules";
export const ISSUANCE_POLICY_PLURAL = "issuancepolicies";
export const ENROLLMENT_PLURAL = "enrollments";
export const TRUSTED_ISSUER_PLURAL = "trustedissuers";

/** Every kind, in the order the CRDs are generated and documented. */
export const KINDS = [
  MACHINE_IDENTITY_KIND,
  ACCESS_POLICY_KIND,
  ACCESS_SCHEDULE_KIND,
  ISSUANCE_POLICY_KIND,
  ENROLLMENT_KIND,
  TRUSTED_ISSUER_KIND,
] as const;
export type SignetKind = (typeof KINDS)[number];

export const PLURALS: Readonly<Record<SignetKind, string>> = {
  MachineIdentity: MACHINE_IDENTITY_PLURAL,
  AccessPolicy: ACCESS_POLICY_PLURAL,
  AccessSchedule: ACCESS_SCHEDULE_PLURAL,
  IssuancePolicy: ISSUANCE_POLICY_PLURAL,
  Enrollment: ENROLLMENT_PLURAL,
  TrustedIssuer: TRUSTED_ISSUER_PLURAL,
};

/** Kinds that live outside namespaces: the cluster admin's. */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<SignetKind> = new Set([
  ISSUANCE_POLICY_KIND,
  TRUSTED_ISSUER_KIND,
]);
