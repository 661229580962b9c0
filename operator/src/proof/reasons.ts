/**
 * Why a proof was refused, in the order the verifier checks (docs/proofs.md, "Verification").
 * The values are CamelCase constants that appear verbatim in results, logs and metrics labels.
 */
export const ProofReason = {
  /** No Signet-Proof header. */
  ProofMissing: "ProofMissing",
  /** Not a compact JWS, wrong typ, unknown alg, unexpected header members or claims, bad claim syntax. */
  ProofMalformed: "ProofMalformed",
  /** x5t#S256 is not the thumbprint of the leaf certificate presented in the TLS handshake. */
  ProofBindingMismatch: "ProofBindingMismatch",
  /** Not signed by the presented leaf's key (or with an alg that key cannot make). */
  ProofSignatureInvalid: "ProofSignatureInvalid",
  /** sub is not the SPIFFE ID of the presented leaf, or the leaf carries no single SPIFFE ID. */
  ProofSubjectMismatch: "ProofSubjectMismatch",
  /** aud is not the verifier's own SPIFFE ID. */
  ProofAudienceMismatch: "ProofAudienceMismatch",
  /** htm is not the request's method. */
  ProofMethodMismatch: "ProofMethodMismatch",
  /** htu is not the normal form of the request's URL. */
  ProofUrlMismatch: "ProofUrlMismatch",
  /** cb is not the keying material exported from the connection the request arrived on. */
  ProofChannelMismatch: "ProofChannelMismatch",
  /** ath does not hash the bearer token sent, or a token was sent without ath, or ath without a token. */
  ProofTokenMismatch: "ProofTokenMismatch",
  /** exp has passed by more than the allowed clock skew. */
  ProofExpired: "ProofExpired",
  /** iat lies further in the future than the allowed clock skew. */
  ProofNotYetValid: "ProofNotYetValid",
  /** exp - iat is more than 60 seconds. */
  ProofLifetimeTooLong: "ProofLifetimeTooLong",
  /** The verifier demands a nonce and the proof carries none. */
  NonceRequired: "NonceRequired",
  /** The nonce was not issued by this verifier's secret, or is outside its window. */
  NonceInvalid: "NonceInvalid",
  /** This jti was accepted before. */
  ProofReplayed: "ProofReplayed",
  /** The replay cache holds its maximum of entries: new proofs are refused until some expire. */
  ReplayCacheFull: "ReplayCacheFull",
} as const;

export type ProofReason = (typeof ProofReason)[keyof typeof ProofReason];

/** Every reason, in check order. */
export const PROOF_REASONS: readonly ProofReason[] = Object.values(ProofReason);
