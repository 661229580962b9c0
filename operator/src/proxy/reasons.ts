// Apart from the server so that readers of audit lines (signet audit proofs) need not load it.

/** Refusals of the proxy's own, beside ProofReason and AuthorizationReason. */
export const ProxyReason = {
  /** The upstream did not answer: connection refused, reset, or closed before its response. */
  UpstreamUnavailable: "UpstreamUnavailable",
  /** The proxy failed on this request; nothing was forwarded. */
  InternalError: "InternalError",
} as const;
