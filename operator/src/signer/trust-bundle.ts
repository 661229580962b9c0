import { MANAGED_BY, POD_CERTIFICATE_SIGNER, TRUST_BUNDLE_NAME } from "../api/names.ts";
import type { ClusterTrustBundle } from "./request.ts";

/**
 * Signet's ClusterTrustBundle for its signer: the roots pods trust (ca.crt of the podCertificate
 * delivery), linked to signet.dev/svid so that a clusterTrustBundle projection selects it by signer.
 */
export function trustBundleObject(
  bundlePem: string,
  owner: { name: string; uid: string } | undefined,
): ClusterTrustBundle {
  return {
    apiVersion: "certificates.k8s.io/v1beta1",
    kind: "ClusterTrustBundle",
    metadata: {
      name: TRUST_BUNDLE_NAME,
      labels: { ...MANAGED_BY },
      ...(owner
        ? {
            ownerReferences: [
              {
                apiVersion: "admissionregistration.k8s.io/v1",
                kind: "MutatingWebhookConfiguration",
                name: owner.name,
                uid: owner.uid,
                blockOwnerDeletion: false,
              },
            ],
          }
        : {}),
    },
    spec: { signerName: POD_CERTIFICATE_SIGNER, trustBundle: bundlePem },
  };
}

/** Whether an API discovery document lists `resource` (an APIResourceList's resources[].name). */
export function listsResource(discovery: unknown, resource: string): boolean {
  const resources = (discovery as { resources?: unknown } | null)?.resources;
  return (
    Array.isArray(resources) &&
    resources.some((r) => typeof r === "object" && r !== null && (r as { name?: unknown }).name === resource)
  );
}
