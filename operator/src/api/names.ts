/**
 * Every label, annotation and reserved name Signet writes or reads, and the names it derives from
 * a MachineIdentity (its Secret, its default SPIFFE ID). Defined here and nowhere else: the
 * operator, the CLI and the webhook all import them from this module. It imports nothing and types
 * identities structurally, so the webhook can depend on it without the schemas.
 */

/** Pod label that opts a pod in to identity injection; only {@link INJECT_LABEL_VALUE} counts. */
export const INJECT_LABEL = "signet.dev/inject";
/** The value of {@link INJECT_LABEL} that opts a pod in. */
export const INJECT_LABEL_VALUE = "true";
/** Optional pod annotation, "a,b": inject only into these containers (init containers included). */
export const INJECT_CONTAINERS_ANNOTATION = "signet.dev/inject-containers";

const IDENTITY_KEY = "signet.dev/identity";
/** Pod annotation naming the MachineIdentity the pod asks for, always in the pod's own namespace. */
export const IDENTITY_ANNOTATION = IDENTITY_KEY;
/**
 * Pod label carrying the admitted identity's name. The same key as {@link IDENTITY_ANNOTATION};
 * only Signet's admission path sets it, and every NetworkPolicy Signet writes selects on it.
 */
export const IDENTITY_LABEL = IDENTITY_KEY;
/**
 * Optional pod annotation, "<listen port>:<upstream port>" (e.g. "8443:8080"), on a pod that opts in:
 * the webhook adds the verifying proxy `signet proxy` as a sidecar listening on the first port and
 * forwarding to the workload on 127.0.0.1 at the second (docs/proofs.md, section 16).
 */
export const PROXY_ANNOTATION = "signet.dev/proxy";
/** The pod volume Signet adds for the identity Secret; a pod may not declare one of this name. */
export const IDENTITY_VOLUME_NAME = "signet-identity";

/** On every object Signet writes; the operator caches only Secrets and NetworkPolicies with it. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_VALUE = "signet";
/** {@link MANAGED_BY_LABEL}={@link MANAGED_BY_VALUE}, as labels to spread into an object. */
export const MANAGED_BY = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } as const;
/** The same, as a label selector. */
export const MANAGED_BY_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
/** On Signet's own Secrets in its namespace: which one it is ("ca", "serving-ca", "webhook-tls"). */
export const COMPONENT_LABEL = "signet.dev/component";

/** The Secret label naming the MachineIdentity it belongs to (the reconciler sets it). */
export const IDENTITY_SECRET_LABEL = "signet.dev/machineidentity";
/** Annotations on an identity Secret: what it holds, and a hash of its data to tell tampering. */
export const IDENTITY_SECRET_ANNOTATIONS = {
  spiffeId: "signet.dev/spiffe-id",
  serial: "signet.dev/serial-number",
  notAfter: "signet.dev/not-after",
  contentHash: "signet.dev/content-hash",
} as const;
/** Annotations on a CA Secret: when its current CA took over, and when the next was prepared. */
export const CA_SECRET_ANNOTATIONS = {
  currentSince: "signet.dev/current-since",
  nextPreparedAt: "signet.dev/next-prepared-at",
} as const;

/** On allow NetworkPolicies: the AccessPolicy that produced it. */
export const POLICY_LABEL = "signet.dev/policy";
/** On every Signet NetworkPolicy: the target identity whose pods it selects. */
export const TARGET_LABEL = "signet.dev/target";

/**
 * The Secret of the CA that signs only Signet's own serving certificates, in the operator's
 * namespace; reserved there, so no MachineIdentity may name it.
 */
export const SERVING_CA_SECRET_NAME = "signet-serving-ca";

/** The parts of a MachineIdentity that its derived names depend on. */
export interface NamedIdentity {
  metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined;
  spec?: { secretName?: string | undefined; spiffeID?: string | undefined } | undefined;
}

/** The identity's Secret: spec.secretName, default <name>-identity. */
export function secretNameOf(identity: NamedIdentity): string {
  return identity.spec?.secretName ?? `${identity.metadata?.name}-identity`;
}

/** The SPIFFE ID an identity carries: spec.spiffeID, default spiffe://<trust domain>/ns/<namespace>/id/<name>. */
export function spiffeIDOf(identity: NamedIdentity, trustDomain: string): string {
  return (
    identity.spec?.spiffeID ??
    `spiffe://${trustDomain}/ns/${identity.metadata?.namespace ?? ""}/id/${identity.metadata?.name}`
  );
}

/**
 * The signer name of Signet's PodCertificate signer: the kubelet addresses the PodCertificateRequests
 * of a podCertificate volume to it, and Signet publishes its trust bundle as ClusterTrustBundles for it.
 */
export const POD_CERTIFICATE_SIGNER = "signet.dev/svid";
/** The reportingController of the Events the signet CLI writes for the changes it makes. */
export const CLI_REPORTING_CONTROLLER = "signet.dev/cli";
/**
 * The ClusterTrustBundle Signet keeps for its signer: the signer name with "/" as ":" (the API
 * server's rule for signer-linked bundles), then "trust-bundle".
 */
export const TRUST_BUNDLE_NAME = `${POD_CERTIFICATE_SIGNER.replace("/", ":")}:trust-bundle`;
/**
 * The ConfigMap the operator keeps, with the roots as ca.crt, in each namespace of a PodCertificate
 * identity when the API server serves no ClusterTrustBundles; the injected volume projects it instead.
 */
export const TRUST_BUNDLE_CONFIGMAP = "signet-trust-bundle";
/** Files of the identity volume, for either delivery: the leaf and intermediates, the key, the roots. */
export const IDENTITY_FILES = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" } as const;
/**
 * With delivery PodCertificate only: key and chain in one file, which the kubelet writes atomically
 * (a reader of tls.crt and tls.key may catch them mid-rotation; a reader of this file never).
 */
export const CREDENTIAL_BUNDLE_FILE = "credentials.pem";
