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

export const MACHINE_IDENTITY_PLURAL = "machineidentities";
export const ACCESS_POLICY_PLURAL = "accesspolicies";
export const ACCESS_SCHEDULE_PLURAL = "accessschedules";
export const ISSUANCE_POLICY_PLURAL = "issuancepolicies";

/** Every kind, in the order the CRDs are generated and documented. */
export const KINDS = [
  MACHINE_IDENTITY_KIND,
  ACCESS_POLICY_KIND,
  ACCESS_SCHEDULE_KIND,
  ISSUANCE_POLICY_KIND,
] as const;
export type SignetKind = (typeof KINDS)[number];

export const PLURALS: Readonly<Record<SignetKind, string>> = {
  MachineIdentity: MACHINE_IDENTITY_PLURAL,
  AccessPolicy: ACCESS_POLICY_PLURAL,
  AccessSchedule: ACCESS_SCHEDULE_PLURAL,
  IssuancePolicy: ISSUANCE_POLICY_PLURAL,
};

/** Kinds that live outside namespaces: the cluster admin's. */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<SignetKind> = new Set([ISSUANCE_POLICY_KIND]);

/**
 * Pod label `signet.dev/inject: "true"` opts a pod into identity injection.
 */
export const INJECT_LABEL = "signet.dev/inject";
/** The value of {@link INJECT_LABEL} that opts a pod in. */
export const INJECT_LABEL_VALUE = "true";
/**
 * Pod annotation naming the MachineIdentity (in the pod's namespace) the pod asks for.
 * The same key is also the pod label that only Signet's webhook sets and NetworkPolicies select on.
 */
export const IDENTITY_ANNOTATION = "signet.dev/identity";
/** Pod label carrying the admitted identity's name; set only by Signet's admission path. */
export const IDENTITY_LABEL = "signet.dev/identity";
