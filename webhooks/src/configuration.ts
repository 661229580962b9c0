import type {
  V1LabelSelector,
  V1MutatingWebhookConfiguration,
  V1ValidatingWebhook,
  V1ValidatingWebhookConfiguration,
  AdmissionregistrationV1WebhookClientConfig as WebhookClientConfig,
} from "@kubernetes/client-node";
import { INJECT_LABEL, INJECT_LABEL_VALUE } from "../../operator/src/api/names.ts";
import { MUTATE_PODS_PATH, VALIDATE_PODS_PATH, VALIDATE_WORKLOADS_PATH } from "./server.ts";

export const WEBHOOK_CONFIGURATION_NAME = "signet-pod-identity";
export const WEBHOOK_NAME = "pod-identity.signet.dev";
export const VALIDATING_WEBHOOK_CONFIGURATION_NAME = "signet-validating";
export const POD_REFERENCES_WEBHOOK_NAME = "pod-references.signet.dev";
export const WORKLOAD_REFERENCES_WEBHOOK_NAME = "workload-references.signet.dev";
export const MACHINE_IDENTITIES_WEBHOOK_NAME = "machineidentities.signet.dev";
/** Served by the operator's own handler for MachineIdentities (passed to startWebhookServer). */
export const VALIDATE_MACHINE_IDENTITIES_PATH = "/validate-machineidentities";
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
        clientConfig: clientConfigOf(options.target, MUTATE_PODS_PATH, options.caBundlePem),
        rules: [
          {
            apiGroups: [""],
            apiVersions: ["v1"],
            operations: ["CREATE"],
            resources: ["pods"],
            scope: "Namespaced",
          },
        ],
        objectSelector: { matchLabels: { [INJECT_LABEL]: INJECT_LABEL_VALUE } },
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

/** Where the API server calls one webhook, and the CAs it trusts there. */
function clientConfigOf(
  target: WebhookTarget,
  path: string,
  caBundlePem: string | undefined,
): WebhookClientConfig {
  return {
    ...("url" in target
      ? { url: target.url }
      : {
          service: {
            namespace: target.service.namespace,
            name: target.service.name,
            path,
            port: target.service.port ?? 443,
          },
        }),
    ...(caBundlePem ? { caBundle: Buffer.from(caBundlePem).toString("base64") } : {}),
  };
}

export type ValidatingWebhookTarget =
  | { service: { namespace: string; name: string; port?: number } }
  /** The server's https base URL, e.g. https://127.0.0.1:9443; each webhook appends its path. */
  | { baseUrl: string };

export interface ValidatingWebhookConfigurationOptions {
  target: ValidatingWebhookTarget;
  caBundlePem?: string;
  name?: string;
  /** The namespaces Signet serves, as for the mutating webhook; by default every namespace. */
  namespaceSelector?: V1LabelSelector;
  /**
   * Namespaces whose pods and workloads are never sent to the webhook: by default kube-system and the
   * Service's namespace. Under failurePolicy Fail and with no objectSelector, a webhook that judged
   * those would keep Signet's own pods (and the cluster networking that reaches them) from being
   * created while Signet is down, and Signet could never come back.
   */
  exemptNamespaces?: string[];
  timeoutSeconds?: number;
}

/**
 * The ValidatingWebhookConfiguration: references to identity Secrets in pods (CREATE, and UPDATE of
 * pods/ephemeralcontainers) and in workloads' pod templates, and MachineIdentity claims.
 * webhooks/manifests/validating-webhook-configuration.yaml holds it for the default Service.
 *
 * - No objectSelector: any pod can name an identity Secret, opted in or not.
 * - failurePolicy Fail: a reference that was never checked is a stolen key.
 * - sideEffects None, matchPolicy Equivalent: as for the mutating webhook; Equivalent also sends the
 *   same objects through other API versions.
 */
export function renderValidatingWebhookConfiguration(
  options: ValidatingWebhookConfigurationOptions,
): V1ValidatingWebhookConfiguration {
  const target = options.target;
  const clientConfig = (path: string): WebhookClientConfig =>
    clientConfigOf(
      "baseUrl" in target ? { url: `${target.baseUrl}${path}` } : target,
      path,
      options.caBundlePem,
    );
  const exempt =
    options.exemptNamespaces ??
    ("service" in target ? [target.service.namespace, "kube-system"] : ["kube-system"]);
  const served = options.namespaceSelector ?? {};
  const workloadSelector: V1LabelSelector = {
    ...served,
    matchExpressions: [
      ...(served.matchExpressions ?? []),
      { key: "kubernetes.io/metadata.name", operator: "NotIn", values: exempt },
    ],
  };
  const common = (name: string, path: string): Omit<V1ValidatingWebhook, "rules"> => ({
    name,
    admissionReviewVersions: ["v1"],
    clientConfig: clientConfig(path),
    failurePolicy: "Fail",
    matchPolicy: "Equivalent",
    sideEffects: "None",
    timeoutSeconds: options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
  });
  const rule = (apiGroup: string, apiVersion: string, operations: string[], resources: string[]) => ({
    apiGroups: [apiGroup],
    apiVersions: [apiVersion],
    operations,
    resources,
    scope: "Namespaced",
  });
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: {
      name: options.name ?? VALIDATING_WEBHOOK_CONFIGURATION_NAME,
      labels: { "app.kubernetes.io/name": "signet", "app.kubernetes.io/component": "webhook" },
    },
    webhooks: [
      {
        ...common(POD_REFERENCES_WEBHOOK_NAME, VALIDATE_PODS_PATH),
        rules: [
          rule("", "v1", ["CREATE"], ["pods"]),
          rule("", "v1", ["UPDATE"], ["pods/ephemeralcontainers"]),
        ],
        namespaceSelector: workloadSelector,
      },
      {
        ...common(WORKLOAD_REFERENCES_WEBHOOK_NAME, VALIDATE_WORKLOADS_PATH),
        rules: [
          rule(
            "apps",
            "v1",
            ["CREATE", "UPDATE"],
            ["deployments", "replicasets", "statefulsets", "daemonsets"],
          ),
          rule("batch", "v1", ["CREATE", "UPDATE"], ["jobs", "cronjobs"]),
        ],
        namespaceSelector: workloadSelector,
      },
      {
        ...common(MACHINE_IDENTITIES_WEBHOOK_NAME, VALIDATE_MACHINE_IDENTITIES_PATH),
        rules: [rule("signet.dev", "v1alpha1", ["CREATE", "UPDATE"], ["machineidentities"])],
        ...(options.namespaceSelector ? { namespaceSelector: options.namespaceSelector } : {}),
      },
    ],
  };
}
