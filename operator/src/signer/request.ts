import type { KubernetesObject } from "@kubernetes/client-node";
import { POD_CERTIFICATE_SIGNER } from "../api/names.ts";
import type { ResourceType } from "../kube/resources.ts";

/** A condition of a PodCertificateRequest (metav1.Condition). */
export interface RequestCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number | undefined;
}

/**
 * certificates.k8s.io/v1beta1 PodCertificateRequest (Kubernetes 1.35+, KEP-4317): what the kubelet
 * asks a signer for one podCertificate projected volume of one pod. The API server has checked the
 * node, pod and ServiceAccount it names, and the proof of possession of the key, when it was created.
 * The spec is immutable; the status is set once through the /status subresource.
 */
export interface PodCertificateRequest extends KubernetesObject {
  spec: {
    signerName: string;
    podName: string;
    podUID: string;
    serviceAccountName: string;
    serviceAccountUID: string;
    nodeName: string;
    nodeUID: string;
    /** Set by the API server when the kubelet left it out (86400); 3600..7862400. */
    maxExpirationSeconds?: number | undefined;
    /** 1.35: the key as PKIX SubjectPublicKeyInfo DER, base64 in JSON; replaced by stubPKCS10Request. */
    pkixPublicKey?: string | undefined;
    /** 1.35: a signature over the pod UID with the key; checked by the API server. */
    proofOfPossession?: string | undefined;
    /** 1.36: an empty PKCS#10 request signed with the key, base64 DER; checked by the API server. */
    stubPKCS10Request?: string | undefined;
    unverifiedUserAnnotations?: Record<string, string> | undefined;
  };
  status?: {
    conditions?: RequestCondition[] | undefined;
    certificateChain?: string | undefined;
    notBefore?: string | undefined;
    beginRefreshAt?: string | undefined;
    notAfter?: string | undefined;
  };
}

export const POD_CERTIFICATE_REQUESTS: ResourceType<PodCertificateRequest> = {
  group: "certificates.k8s.io",
  version: "v1beta1",
  plural: "podcertificaterequests",
  kind: "PodCertificateRequest",
  namespaced: true,
};

/** certificates.k8s.io/v1beta1 ClusterTrustBundle: trust anchors, here linked to Signet's signer. */
export interface ClusterTrustBundle extends KubernetesObject {
  spec: { signerName?: string | undefined; trustBundle: string };
}

export const CLUSTER_TRUST_BUNDLES: ResourceType<ClusterTrustBundle> = {
  group: "certificates.k8s.io",
  version: "v1beta1",
  plural: "clustertrustbundles",
  kind: "ClusterTrustBundle",
  namespaced: false,
};

/** The only watch Signet's signer makes of PodCertificateRequests: those addressed to it. */
export const SIGNER_FIELD_SELECTOR = `spec.signerName=${POD_CERTIFICATE_SIGNER}`;

/** The terminal condition types: at most one is ever set, and then the status never changes. */
export const TERMINAL = ["Issued", "Denied", "Failed"] as const;

/** Whether the request already has its answer (from this signer or any other writer). */
export function isAnswered(request: PodCertificateRequest): boolean {
  return (request.status?.conditions ?? []).some(
    (c) => (TERMINAL as readonly string[]).includes(c.type) && c.status === "True",
  );
}
