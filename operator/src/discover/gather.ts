import * as k8s from "@kubernetes/client-node";
import { listAll, type Scope } from "../audit/gather.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../policy/index.ts";

/**
 * Reads the Secrets and pods to scan. Signet's own Secrets are left out by the label selector, so
 * the scan never even fetches their keys; the classifier excludes them again should one slip by.
 */
export async function gatherDiscover(
  kc: k8s.KubeConfig,
  scope: Scope,
): Promise<{ secrets: k8s.V1Secret[]; pods: k8s.V1Pod[] }> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const labelSelector = `${MANAGED_BY_LABEL}!=${MANAGED_BY_VALUE}`;
  const [secrets, pods] = await Promise.all([
    listAll<k8s.V1Secret>((params) =>
      "namespace" in scope
        ? core.listNamespacedSecret({ namespace: scope.namespace, labelSelector, ...params })
        : core.listSecretForAllNamespaces({ labelSelector, ...params }),
    ),
    listAll<k8s.V1Pod>((params) =>
      "namespace" in scope
        ? core.listNamespacedPod({ namespace: scope.namespace, ...params })
        : core.listPodForAllNamespaces(params),
    ),
  ]);
  return { secrets, pods };
}
