import type * as k8s from "@kubernetes/client-node";
import {
  IDENTITY_FILES,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type MachineIdentity,
  TRUST_BUNDLE_CONFIGMAP,
} from "../../api/index.ts";
import { ownerReferenceTo, uidOf } from "./desired.ts";

/**
 * The trust ConfigMap of a namespace, for an API server that serves no ClusterTrustBundles: the
 * injected podCertificate volume writes ca.crt from it. Every PodCertificate identity of the
 * namespace applies it with a field manager of its own (trustBundleFieldManager), so that each owns
 * its ownerReference, all share the data and the label, and the garbage collector removes the
 * ConfigMap with the last of them.
 */
export function trustBundleConfigMap(mi: MachineIdentity, bundlePem: string): k8s.V1ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: TRUST_BUNDLE_CONFIGMAP,
      namespace: mi.metadata?.namespace ?? "",
      labels: { ...MANAGED_BY },
      // Not the controller: the ConfigMap is every such identity's of the namespace, and it holds up
      // the deletion of none.
      ownerReferences: [ownerReferenceTo(mi, { controller: false, blockOwnerDeletion: false })],
    },
    data: { [IDENTITY_FILES.ca]: bundlePem },
  };
}

/** One per identity: two identities writing the same field manager would take each other's ownerReference away. */
export function trustBundleFieldManager(mi: MachineIdentity): string {
  return `${TRUST_BUNDLE_CONFIGMAP}/${mi.metadata?.name ?? ""}`;
}

/** Whether the ConfigMap already holds what the identity would apply: the bundle, the label, its ownerReference. */
export function holdsTrustBundle(
  configMap: k8s.V1ConfigMap | undefined,
  mi: MachineIdentity,
  bundlePem: string,
): boolean {
  const uid = uidOf(mi);
  return (
    configMap?.data?.[IDENTITY_FILES.ca] === bundlePem &&
    configMap.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE &&
    (configMap.metadata.ownerReferences ?? []).some(
      (o) =>
        o.uid === uid &&
        o.kind === "MachineIdentity" &&
        o.controller !== true &&
        o.blockOwnerDeletion !== true,
    )
  );
}
