// Signet proofs: one-time credentials for API calls (docs/proofs.md). A caller signs a proof per
// HTTP request with its X.509 SVID key; the verifier accepts it once, on the TLS connection it was
// made for, from the certificate that connection authenticated.

export { channelBindingOf } from "./channel.ts";
export {
  CHANNEL_BINDING_BYTES,
  DEFAULT_LIFETIME_SECONDS,
  DEFAULT_SKEW_SECONDS,
  EXPORTER_LABEL,
  MAX_LIFETIME_SECONDS,
  NONCE_HEADER,
  PROOF_HEADER,
  PROOF_TYPE,
  type ProofAlgorithm,
  type ProofClaims,
  type ProofHeader,
} from "./format.ts";
export { normaliseHtu } from "./htu.ts";
export { DEFAULT_NONCE_WINDOW_SECONDS, type NonceOptions } from "./nonce.ts";
export { PROOF_REASONS, ProofReason } from "./reasons.ts";
export { ProofSigningError, type SignProofInput, signProof } from "./sign.ts";
export {
  createVerifier,
  DEFAULT_MAX_ENTRIES,
  type ProofVerdict,
  type Verifier,
  type VerifierOptions,
  type VerifierStats,
  type VerifyInput,
} from "./verify.ts";
