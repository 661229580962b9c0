import type { V1LabelSelector, V1MutatingWebhookConfiguration } from "@kubernetes/client-node";
import { INJECT_LABEL } from "./identity.ts";
import { MUTATE_PODS_PATH } from "./server.ts";

export const WEBHOOK_CONFIGURATION_NAME = "signet-pod-identity";
export const WEBHOOK_NAME = "pod-identity.signet.dev";
/** The Service the shipped manifest points at; the operator's Deployment backs it. */
export const DEFAULT_WEBHOOK_SERVICE = {
  namespace: "signet-system",
  name: "signet-webhook",
  port: 443,
} as const;
/** Well below the API server's 30 s ceiling: a decision is a cache read, so a slow answer is a broken one. */
export const DEFAULT_TIMEOUT_SECONDS = 5;

export type WebhookTarget =
  | { service: { namespace: string; name: string; port?: number } }
  /** The full https URL of the admission path, e.g. https://127.0.0.1:9443/mutate-pods. */
  | { url: string };

export interface WebhookConfigurationOptions {
  target: WebhookTarget;
  /** PEM bundle of the CAs that sign the serving certificate; omitted, the API server's roots apply. */
  caBundlePem?: string;
  name?: string;
  /** Limits the webhook to matching namespaces; by default every namespace. */
  namespaceSelector?: V1LabelSelector;
  timeoutSeconds?: number;
}

/**
 * The MutatingWebhookConfiguration for the pod identity webhook. webhooks/manifests holds the same
 * object for the default Service (a unit test keeps them equal); the operator renders it with its
 * current CA bundle.
 *
 * - objectSelector on the opt-in label: pods that do not opt in never reach the webhook, so they are
 *   neither slowed down nor put at risk by its availability.
 * - failurePolicy Fail: a pod that opted in must never start without its identity check; the
 *   ValidatingAdmissionPolicy would also reject it, since nothing else may set the identity label.
 * - reinvocationPolicy IfNeeded: another webhook may add containers after ours; the patch for an
 *   already injected pod is empty, so a second call only fills in what is new.
 * - CREATE only: a pod's volumes and containers are immutable afterwards.
 */
export function renderMutatingWebhookConfiguration(
  options: WebhookConfigurationOptions,
): V1MutatingWebhookConfiguration {
  const clientConfig =
    "url" in options.target
      ? { url: options.target.url }
      : {
          service: {
            namespace: options.target.service.namespace,
            name: options.target.service.name,
            path: MUTATE_PODS_PATH,
            port: options.target.service.port ?? 443,
          },
        };
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: {
      name: options.name ?? WEBHOOK_CONFIGURATION_NAME,
      labels: { "app.kubernetes.io/name": "signet", "app.kubernetes.io/component": "webhook" },
    },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        admissionReviewVersions: ["v1"],
        clientConfig: {
          ...clientConfig,
          ...(options.caBundlePem ? { caBundle: Buffer.from(options.caBundlePem).toString("base64") } : {}),
        },
        rules: [
          {
            apiGroups: [""],
            apiVersions: ["v1"],
            operations: ["CREATE"],
            resources: ["pods"],
            scope: "Namespaced",
          },
        ],
        objectSelector: { matchLabels: { [INJECT_LABEL]: "true" } },
        ...(options.namespaceSelector ? { namespaceSelector: options.namespaceSelector } : {}),
        failurePolicy: "Fail",
        matchPolicy: "Equivalent",
        reinvocationPolicy: "IfNeeded",
        sideEffects: "None",
        timeoutSeconds: options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
      },
    ],
  };
}
