// signet proxy: verifies Signet proofs and AccessPolicies in front of a workload (docs/proofs.md,
// "Verifying proxy").
export { type AuditLine, type AuditSink, stdoutAudit } from "./audit.ts";
export { identityOfSpiffeId, trustDomainOf } from "./caller.ts";
export { CALLER_HEADER, endToEndHeaders, parseUpstream } from "./forward.ts";
export { IdentityError, type IdentityFiles, loadIdentity, type ServingIdentity } from "./identity.ts";
export { ProxyMetrics, startMetricsServer } from "./metrics.ts";
export {
  type ProxyOptions,
  ProxyReason,
  proofRefusalStatus,
  type RunningProxy,
  startProxy,
} from "./server.ts";
