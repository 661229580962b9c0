export { type NetworkPolicyDiff, networkPolicyDiff } from "./diff.ts";
export {
  type AccessScheduleObjectInput,
  AuthorizationReason,
  type HttpDecision,
  type HttpRequestInput,
  httpDecision,
  type IdentityRef,
  pathMatches,
} from "./http.ts";
export {
  allowNetworkPolicyName,
  boundedName,
  denyNetworkPolicyName,
  labelValue,
  NAMESPACE_NAME_LABEL,
  SIGNET_LABEL_KEYS,
} from "./names.ts";
export {
  type AccessPolicyDecision,
  type AccessPolicyInput,
  type AccessPolicyPortInput,
  AccessPolicyReason,
  type AccessPolicySourceInput,
  type AccessPolicySpecInput,
  accessPolicyDecision,
  type DesiredNetworkPolicies,
  type IdentitySuspendedLookup,
  keyOf,
  networkPoliciesFor,
  networkPolicyOwners,
  objectKey,
  type ScheduleSignal,
  type ScheduleStateLookup,
} from "./networkpolicies.ts";
