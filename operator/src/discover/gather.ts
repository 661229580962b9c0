import * as k8s from "@kubernetes/client-node";
import type { IdentitySecretOwner } from "../api/identity-secret.ts";
import { MACHINE_IDENTITY_PLURAL } from "../api/index.ts";
import { isForbidden, listAll, listCustom, type Scope } from "../audit/gather.ts";
import { isNotFound } from "../kube/errors.ts";

export interface GatheredDiscover {
  secrets: k8s.V1Secret[];
  pods: k8s.V1Pod[];
  identities: IdentitySecretOwner[];
  /** What could not be read, in words for stderr. */
  warnings: string[];
}

/**
 * Reads the Secrets and pods to scan, and the MachineIdentities that decide which Secrets are
 * Signet's. Every Secret is read: no label selector, since a label is what a tenant could set to
 * keep a static credential out of the scan.
 */
export async function gatherDiscover(kc: k8s.KubeConfig, scope: Scope): Promise<GatheredDiscover> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const warnings: string[] = [];
  const identities = async (): Promise<IdentitySecretOwner[]> => {
    try {
      return await listCustom<IdentitySecretOwner>(kc, MACHINE_IDENTITY_PLURAL, scope);
    } catch (err) {
      if (!isForbidden(err) && !isNotFound(err)) throw err;
      warnings.push(
        `cannot list machineidentities${"namespace" in scope ? ` in namespace ${scope.namespace}` : ""} (${isForbidden(err) ? "forbidden" : "not installed"}); Signet's identity Secrets are reported as findings too`,
      );
      return [];
    }
  };
  const [secrets, pods, owners] = await Promise.all([
    listAll<k8s.V1Secret>((params) =>
      "namespace" in scope
        ? core.listNamespacedSecret({ namespace: scope.namespace, ...params })
        : core.listSecretForAllNamespaces(params),
    ),
    listAll<k8s.V1Pod>((params) =>
      "namespace" in scope
        ? core.listNamespacedPod({ namespace: scope.namespace, ...params })
        : core.listPodForAllNamespaces(params),
    ),
    identities(),
  ]);
  return { secrets, pods, identities: owners, warnings };
}
