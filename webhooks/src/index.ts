/** What the operator process wires in: the admission server, its configuration and the decision. */
export {
  DEFAULT_TIMEOUT_SECONDS,
  DEFAULT_WEBHOOK_SERVICE,
  renderMutatingWebhookConfiguration,
  WEBHOOK_CONFIGURATION_NAME,
  WEBHOOK_NAME,
  type WebhookConfigurationOptions,
  type WebhookTarget,
} from "./configuration.ts";
export {
  type AdmissionDecision,
  DenialReason,
  decidePodAdmission,
  type InjectionConfig,
  type JsonPatchOperation,
  type PodAdmissionRequest,
  requestedIdentityName,
} from "./decide.ts";
export {
  type AdmissionHandler,
  mutatePods,
  validatePods,
  validateWorkloads,
  WORKLOAD_KINDS,
} from "./handlers.ts";
export * from "./identity.ts";
export {
  decidePodReferences,
  decideTemplateReferences,
  indexIdentities,
  secretReferences,
} from "./references.ts";
export type { AdmissionAnswer, AdmissionRequest } from "./review.ts";
export {
  DEFAULT_MAX_BODY_BYTES,
  MUTATE_PODS_PATH,
  startWebhookServer,
  VALIDATE_PODS_PATH,
  VALIDATE_WORKLOADS_PATH,
  type WebhookServer,
  type WebhookServerOptions,
} from "./server.ts";
