export {
  type CertificateAuthority,
  type CreateRootCaInput,
  createRootCa,
  loadCa,
  type RootCaMaterial,
} from "./ca.ts";
export {
  chainProblem,
  inspectSecretData,
  type SecretData,
  type SecretInspection,
  type SvidView,
} from "./inspect.ts";
export { type KeyAlgorithm, PkiError, type PrivateKeySpec, resolveKeyAlgorithm } from "./keys.ts";
export {
  DEFAULT_BACKDATE_MS,
  type MintedForKey,
  type MintedSvid,
  type MintSvidInput,
  mintSvid,
  mintSvidForKey,
  type Usage,
} from "./mint.ts";
export {
  DEFAULT_RENEWAL_CHAIN,
  type DesiredSvid,
  defaultRenewBefore,
  dnsNamesChanged,
  evaluateRenewal,
  expired,
  issuerChanged,
  keyAlgorithmChanged,
  nearingRenewal,
  RENEWAL_JITTER_FRACTION,
  type RenewalContext,
  type RenewalDecision,
  type RenewalEvaluation,
  type RenewalInput,
  type RenewalPredicate,
  RenewalReason,
  renewalTime,
  secretMalformed,
  secretMissing,
  spiffeIdChanged,
  ttlChanged,
  usagesChanged,
  windowEndChanged,
} from "./renewal.ts";
export {
  type CaLifetime,
  type CaRotationGeneration,
  type CaRotationInput,
  type CaRotationPlan,
  CaRotationReason,
  type CaRotationThresholds,
  caRotationPlan,
  DEFAULT_CA_ROTATION_THRESHOLDS,
  trustBundle,
} from "./rotation.ts";
export {
  canonicalIpAddresses,
  ipAddressesOf,
  type MintedServingCertificate,
  type MintServingCertificateInput,
  mintServingCertificate,
} from "./serving.ts";
export { parseSpiffeId, type SpiffeId } from "./spiffe-id.ts";
