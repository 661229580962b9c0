import { posix } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { isDuration, parseDuration } from "../../operator/src/api/duration.ts";
import {
  CREDENTIAL_BUNDLE_FILE,
  IDENTITY_ANNOTATION,
  IDENTITY_FILES,
  IDENTITY_LABEL,
  IDENTITY_VOLUME_NAME,
  INJECT_CONTAINERS_ANNOTATION,
  INJECT_LABEL,
  INJECT_LABEL_VALUE,
  POD_CERTIFICATE_SIGNER,
  PROXY_ANNOTATION,
  secretNameOf,
  spiffeIDOf,
  TRUST_BUNDLE_CONFIGMAP,
} from "../../operator/src/api/names.ts";
import { type PrivateKeySpec, resolveKeyAlgorithm } from "../../operator/src/pki/keys.ts";
import { keyTypeOf } from "../../operator/src/signer/public-key.ts";
import {
  ENV_CREDENTIAL_BUNDLE_FILE,
  ENV_SPIFFE_ID,
  ENV_TLS_CA_FILE,
  ENV_TLS_CERT_FILE,
  ENV_TLS_KEY_FILE,
  IDENTITY_MOUNT_PATH,
  type MachineIdentityLike,
} from "./identity.ts";
import type { ContainerLike, PodLike, VolumeLike } from "./pod.ts";
import {
  containerNamed,
  isOurProxy,
  PROXY_CONTAINER_NAME,
  type ProxyPorts,
  parseProxyAnnotation,
  proxyContainer,
} from "./proxy-sidecar.ts";

/** One RFC 6902 operation. Injection only ever adds members or replaces the identity label. */
export interface JsonPatchOperation {
  op: "add" | "replace";
  path: string;
  value: unknown;
}

/** Reasons are CamelCase constants so that they read the same in responses, logs and metrics. */
export const DenialReason = {
  IdentityAnnotationMissing: "IdentityAnnotationMissing",
  IdentityInOtherNamespace: "IdentityInOtherNamespace",
  IdentityNameInvalid: "IdentityNameInvalid",
  IdentityNotFound: "IdentityNotFound",
  IdentitySuspended: "IdentitySuspended",
  ServiceAccountNotListed: "ServiceAccountNotListed",
  InjectContainersInvalid: "InjectContainersInvalid",
  VolumeNameConflict: "VolumeNameConflict",
  MountPathConflict: "MountPathConflict",
  /** A pod or pod template names an identity Secret other than through Signet's injection. */
  IdentitySecretReferenced: "IdentitySecretReferenced",
  /** Several MachineIdentities name the same Secret, so none of them may have it mounted. */
  IdentitySecretShared: "IdentitySecretShared",
  IdentityVolumeInEphemeralContainer: "IdentityVolumeInEphemeralContainer",
  IdentityVolumeInTemplate: "IdentityVolumeInTemplate",
  /** The identity asks for delivery PodCertificate, and the cluster does not serve pod certificates. */
  PodCertificateUnsupported: "PodCertificateUnsupported",
  /** The identity's key or ttl cannot become a podCertificate volume (the API refuses such specs). */
  PodCertificateSpecInvalid: "PodCertificateSpecInvalid",
  /** The API server removed the podCertificate source of the injected volume (its feature gate is off). */
  PodCertificateDropped: "PodCertificateDropped",
  /** The API server removed the clusterTrustBundle source of the injected volume (its feature gate is off). */
  ClusterTrustBundleDropped: "ClusterTrustBundleDropped",
  /** A podCertificate source addresses Signet's signer other than through Signet's injection. */
  PodCertificateSignerReferenced: "PodCertificateSignerReferenced",
  /** The identity has delivery External: enrolled machines outside the cluster hold it, never a pod. */
  IdentityExternal: "IdentityExternal",
  /** The proxy annotation is not "<listen port>:<upstream port>". */
  ProxyAnnotationInvalid: "ProxyAnnotationInvalid",
  /** The pod asks for the proxy sidecar, and the operator was given no image to run it from. */
  ProxyImageNotConfigured: "ProxyImageNotConfigured",
  /** The pod asks for the proxy sidecar and has a container of its name that is not Signet's. */
  ProxyContainerConflict: "ProxyContainerConflict",
} as const;
export type DenialReason = (typeof DenialReason)[keyof typeof DenialReason];

export type AdmissionDecision =
  | { allowed: true; patch: JsonPatchOperation[]; warnings: string[] }
  | { allowed: false; reason: DenialReason; message: string };

export interface PodAdmissionRequest {
  /** CREATE, UPDATE, DELETE or CONNECT, as in AdmissionReview.request.operation. */
  operation: string;
  /** The request's namespace: the only namespace an identity is ever looked up in. */
  namespace: string;
  pod: PodLike;
}

/**
 * Where the podCertificate volume takes the roots (ca.crt) from: the signer's ClusterTrustBundles, or,
 * on an API server that serves none, the ConfigMap TRUST_BUNDLE_CONFIGMAP the operator keeps in the
 * pod's namespace.
 */
export type TrustBundleSource = "ClusterTrustBundle" | "ConfigMap";

/**
 * Whether the cluster can deliver an identity through the kubelet's podCertificate volume, and from
 * where; when it cannot, what the cluster lacks and how to enable it, for the denial message.
 */
export type PodCertificateSupport =
  | { supported: true; trustBundle: TrustBundleSource }
  | { supported: false; missing: string };

export interface InjectionConfig {
  /** The trust domain of default SPIFFE IDs, spiffe://<trustDomain>/ns/<namespace>/id/<name>. */
  trustDomain: string;
  /** Absent: not known, which counts as unsupported (deny by default). */
  podCertificates?: PodCertificateSupport;
  /** The image of the `signet proxy` sidecar (the operator's own); absent, pods that ask for it are denied. */
  proxyImage?: string;
}

const SUPPORT_UNKNOWN: PodCertificateSupport = {
  supported: false,
  missing: "Signet has not learned whether the API server serves PodCertificateRequests",
};

/** The API's default spec.ttl (api/machine-identity.ts DEFAULT_TTL; a unit test keeps them equal). */
export const API_DEFAULT_TTL = "1h";
/** The API server's bounds of PodCertificateProjection.maxExpirationSeconds: 1 hour to 91 days. */
const MIN_EXPIRATION_SECONDS = 3_600;
const MAX_EXPIRATION_SECONDS = 7_862_400;

/**
 * The keyType the kubelet generates for spec.privateKey, or undefined for a key it cannot make
 * (RSA 2048, the RSA default, which the API refuses with delivery PodCertificate): the signer's own
 * mapping (keyTypeOf), so that admission asks the kubelet for exactly the key the signer accepts.
 */
export function podCertificateKeyType(key: MachineIdentityLike["spec"]["privateKey"]): string | undefined {
  try {
    const algorithm = (key?.algorithm ?? "ECDSA") as PrivateKeySpec["algorithm"];
    return keyTypeOf(resolveKeyAlgorithm({ algorithm, size: key?.size }));
  } catch {
    return undefined;
  }
}

/** spec.ttl in whole seconds, within the API server's bounds; undefined when it is not a duration. */
export function podCertificateMaxExpirationSeconds(ttl: string | undefined): number | undefined {
  const text = ttl ?? API_DEFAULT_TTL;
  if (!isDuration(text)) return undefined;
  const seconds = Math.floor(parseDuration(text) / 1_000);
  return Math.min(MAX_EXPIRATION_SECONDS, Math.max(MIN_EXPIRATION_SECONDS, seconds));
}

/**
 * Where the volume writes ca.crt from: every ClusterTrustBundle of the signer (an empty selector, so
 * that a CA rotation that adds a bundle reaches the pod), or the ConfigMap the operator keeps current.
 */
const TRUST_SOURCES = {
  ClusterTrustBundle: {
    clusterTrustBundle: { signerName: POD_CERTIFICATE_SIGNER, labelSelector: {}, path: IDENTITY_FILES.ca },
  },
  ConfigMap: {
    configMap: {
      name: TRUST_BUNDLE_CONFIGMAP,
      items: [{ key: IDENTITY_FILES.ca, path: IDENTITY_FILES.ca }],
    },
  },
} as const satisfies Record<TrustBundleSource, unknown>;

/**
 * The identity volume for delivery PodCertificate: the kubelet generates the key, asks Signet's signer
 * for the chain and writes both, separately and as one bundle, and the roots from `trustBundle`.
 */
export function podCertificateVolume(
  keyType: string,
  maxExpirationSeconds: number,
  defaultMode: number,
  trustBundle: TrustBundleSource,
) {
  return {
    name: IDENTITY_VOLUME_NAME,
    projected: {
      defaultMode,
      sources: [
        {
          podCertificate: {
            signerName: POD_CERTIFICATE_SIGNER,
            keyType,
            maxExpirationSeconds,
            credentialBundlePath: CREDENTIAL_BUNDLE_FILE,
            keyPath: IDENTITY_FILES.key,
            certificateChainPath: IDENTITY_FILES.cert,
          },
        },
        TRUST_SOURCES[trustBundle],
      ],
    },
  };
}

/**
 * Secret files are readable by the pod's fsGroup when it has one (the kubelet gives the files that
 * group); without one, the container may run as any user, and 0440 would lock a non-root process
 * out of its own key, so the files are world-readable inside the container, and writable by none.
 */
const MODE_WITH_FS_GROUP = 0o440;
const MODE_WITHOUT_FS_GROUP = 0o444;

/** A MachineIdentity name doubles as a label value: a DNS label, at most 63 characters. */
const IDENTITY_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

export function escapeJsonPointer(token: string): string {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

export function optsIn(pod: PodLike): boolean {
  return pod.metadata?.labels?.[INJECT_LABEL] === INJECT_LABEL_VALUE;
}

/**
 * The MachineIdentity name a pod asks for: defined only when the pod opts in and names an identity
 * that could exist in its namespace, so that callers look up nothing else.
 */
export function requestedIdentityName(pod: PodLike): string | undefined {
  if (!optsIn(pod)) return undefined;
  const name = pod.metadata?.annotations?.[IDENTITY_ANNOTATION];
  return name !== undefined && IDENTITY_NAME.test(name) ? name : undefined;
}

/** The ServiceAccount a pod (or a pod template) runs as; Kubernetes' default when none is named. */
export function serviceAccountOf(spec: {
  serviceAccountName?: string | null | undefined;
  serviceAccount?: string | null | undefined;
}): string {
  return spec.serviceAccountName || spec.serviceAccount || "default";
}

function allow(patch: JsonPatchOperation[], warnings: string[] = []): AdmissionDecision {
  return { allowed: true, patch, warnings };
}

function deny(reason: DenialReason, message: string): AdmissionDecision {
  return { allowed: false, reason, message };
}

/**
 * Decides whether a pod may be admitted and what it must look like to hold its identity.
 * `identity` is what the lookup returned for requestedIdentityName(pod) in request.namespace.
 *
 * Only CREATE is decided: a pod's volumes and containers cannot change afterwards, and the identity
 * label's integrity on UPDATE is the ValidatingAdmissionPolicy's job. The patch is empty when the
 * pod already carries everything, so a reinvocation changes nothing.
 */
export function decidePodAdmission(
  request: PodAdmissionRequest,
  identity: MachineIdentityLike | undefined,
  config: InjectionConfig,
): AdmissionDecision {
  const { pod, namespace } = request;
  const labels = pod.metadata?.labels;
  if (request.operation !== "CREATE" || !labels || labels[INJECT_LABEL] !== INJECT_LABEL_VALUE)
    return allow([]);

  const name = pod.metadata?.annotations?.[IDENTITY_ANNOTATION];
  if (name === undefined) {
    return deny(
      DenialReason.IdentityAnnotationMissing,
      `pod opts in with label ${INJECT_LABEL}="true" but has no annotation ${IDENTITY_ANNOTATION}; ` +
        `set it to the name of a MachineIdentity in namespace "${namespace}", or remove the label`,
    );
  }
  if (name.includes("/")) {
    return deny(
      DenialReason.IdentityInOtherNamespace,
      `annotation ${IDENTITY_ANNOTATION} "${name}" looks like a reference to another namespace; ` +
        `a pod can only hold a MachineIdentity of its own namespace "${namespace}": ` +
        `write the plain name and create the MachineIdentity in "${namespace}"`,
    );
  }
  if (!IDENTITY_NAME.test(name)) {
    return deny(
      DenialReason.IdentityNameInvalid,
      `annotation ${IDENTITY_ANNOTATION} "${name}" is not a valid MachineIdentity name; ` +
        `use lower-case letters, digits, "-" and ".", at most 63 characters ` +
        `(the name is also the value of the label ${IDENTITY_LABEL})`,
    );
  }
  const ref = `MachineIdentity "${namespace}/${name}"`;
  if (!identity) {
    return deny(
      DenialReason.IdentityNotFound,
      `${ref} does not exist; create it in namespace "${namespace}" or correct the annotation ${IDENTITY_ANNOTATION}`,
    );
  }
  if (identity.spec.suspend === true) {
    return deny(
      DenialReason.IdentitySuspended,
      `${ref} is suspended (spec.suspend: true); no pod may take it until spec.suspend is false again`,
    );
  }
  if (identity.spec.delivery === "External") {
    return deny(
      DenialReason.IdentityExternal,
      `${ref} has spec.delivery External: it is held by machines outside the cluster that enroll with a ` +
        "single-use token, never by a pod; give the pod an identity with delivery Secret or PodCertificate",
    );
  }
  const serviceAccount = serviceAccountOf(pod.spec);
  const serviceAccounts = identity.spec.serviceAccounts ?? [];
  if (!serviceAccounts.includes(serviceAccount)) {
    return deny(
      DenialReason.ServiceAccountNotListed,
      `${ref} does not list ServiceAccount "${serviceAccount}" in spec.serviceAccounts; ` +
        `add it there or run the pod as one of: ${serviceAccounts.join(", ")}`,
    );
  }

  const proxy = proxyRequest(pod, config);
  if (proxy !== undefined && "reason" in proxy) return deny(proxy.reason, proxy.message);

  const byKubelet = identity.spec.delivery === "PodCertificate";
  const defaultMode = pod.spec.securityContext?.fsGroup != null ? MODE_WITH_FS_GROUP : MODE_WITHOUT_FS_GROUP;
  const identityVolume = (byKubelet ? podCertificateDelivery : secretDelivery)(
    ref,
    { name, spec: identity.spec },
    config,
    defaultMode,
  );
  if ("reason" in identityVolume) return deny(identityVolume.reason, identityVolume.message);
  const { volume, ours, what, waitsFor } = identityVolume;

  const targets = targetContainers(pod);
  if ("message" in targets) return deny(DenialReason.InjectContainersInvalid, targets.message);

  const patch: JsonPatchOperation[] = [];
  const warnings: string[] = [];

  const volumes = pod.spec.volumes;
  const existingVolume = volumes?.find((v) => v.name === IDENTITY_VOLUME_NAME);
  if (existingVolume) {
    // A volume of that name that is ours is from an earlier invocation (or identical to it);
    // anything else would be silently shadowed or replaced, so the pod is refused instead.
    if (!ours(existingVolume)) {
      return deny(
        DenialReason.VolumeNameConflict,
        `pod already has a volume named "${IDENTITY_VOLUME_NAME}" that is not ${what}; ` +
          `Signet needs that volume name for the identity: rename your volume`,
      );
    }
  } else {
    patch.push(
      volumes
        ? { op: "add", path: "/spec/volumes/-", value: volume }
        : { op: "add", path: "/spec/volumes", value: [volume] },
    );
  }

  // From the spec, as the reconciler derives it, not status.spiffeID: right after a spec change that
  // still names the certificate before, and a pod admitted then would keep the stale value for its life.
  const spiffeId = spiffeIDOf({ metadata: { name, namespace }, spec: identity.spec }, config.trustDomain);
  const env: [string, string][] = [
    [ENV_SPIFFE_ID, spiffeId],
    [ENV_TLS_CERT_FILE, `${IDENTITY_MOUNT_PATH}/${IDENTITY_FILES.cert}`],
    [ENV_TLS_KEY_FILE, `${IDENTITY_MOUNT_PATH}/${IDENTITY_FILES.key}`],
    [ENV_TLS_CA_FILE, `${IDENTITY_MOUNT_PATH}/${IDENTITY_FILES.ca}`],
  ];
  if (byKubelet) env.push([ENV_CREDENTIAL_BUNDLE_FILE, `${IDENTITY_MOUNT_PATH}/${CREDENTIAL_BUNDLE_FILE}`]);
  for (const { container, path } of targets) {
    const mounts = container.volumeMounts ?? [];
    const atOurPath = mounts.filter((m) => samePath(m.mountPath, IDENTITY_MOUNT_PATH));
    const foreign = atOurPath.find((m) => m.name !== IDENTITY_VOLUME_NAME);
    if (foreign) {
      return deny(
        DenialReason.MountPathConflict,
        `container "${container.name}" already mounts volume "${foreign.name}" at ${IDENTITY_MOUNT_PATH}, ` +
          `where Signet mounts the identity; move that mount elsewhere`,
      );
    }
    if (atOurPath.length === 0) {
      const mount = { name: IDENTITY_VOLUME_NAME, mountPath: IDENTITY_MOUNT_PATH, readOnly: true };
      patch.push(
        container.volumeMounts
          ? { op: "add", path: `${path}/volumeMounts/-`, value: mount }
          : { op: "add", path: `${path}/volumeMounts`, value: [mount] },
      );
    }

    const missing: { name: string; value: string }[] = [];
    for (const [envName, value] of env) {
      const existing = container.env?.find((e) => e.name === envName);
      if (!existing) missing.push({ name: envName, value });
      else if (existing.value !== value) {
        warnings.push(`container "${container.name}" sets ${envName} itself; Signet left it unchanged`);
      }
    }
    if (missing.length > 0 && !container.env) patch.push({ op: "add", path: `${path}/env`, value: missing });
    else for (const value of missing) patch.push({ op: "add", path: `${path}/env/-`, value });
  }

  if (proxy !== undefined && !proxy.present) {
    patch.push({
      op: "add",
      path: "/spec/containers/-",
      value: proxyContainer(
        proxy.image,
        proxy.ports,
        env.map(([envName, value]) => ({ name: envName, value })),
      ),
    });
    if (pod.spec.automountServiceAccountToken === false) {
      warnings.push(
        `the pod sets automountServiceAccountToken: false, so ${PROXY_CONTAINER_NAME} has no token to read ` +
          "AccessPolicies with and never serves; mount the token, or run the proxy with --policies-file",
      );
    }
  }

  const labelPath = `/metadata/labels/${escapeJsonPointer(IDENTITY_LABEL)}`;
  const current = labels[IDENTITY_LABEL];
  if (current === undefined) patch.push({ op: "add", path: labelPath, value: name });
  else if (current !== name) {
    patch.push({ op: "replace", path: labelPath, value: name });
    warnings.push(`label ${IDENTITY_LABEL} was "${current}"; only Signet sets it, and set it to "${name}"`);
  }

  const ready = identity.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status !== "True") {
    warnings.push(`${ref} is not Ready yet; ${waitsFor}`);
  }
  return allow(patch, warnings);
}

/**
 * The sidecar a pod asks for with PROXY_ANNOTATION: undefined without the annotation, else its image
 * and ports and whether it is already there (a reinvocation), or why it cannot be added.
 */
function proxyRequest(
  pod: PodLike,
  config: InjectionConfig,
):
  | { image: string; ports: ProxyPorts; present: boolean }
  | { reason: DenialReason; message: string }
  | undefined {
  const value = pod.metadata?.annotations?.[PROXY_ANNOTATION];
  if (value === undefined) return undefined;
  const ports = parseProxyAnnotation(value);
  if ("message" in ports) return { reason: DenialReason.ProxyAnnotationInvalid, message: ports.message };
  const image = config.proxyImage;
  if (!image) {
    return {
      reason: DenialReason.ProxyImageNotConfigured,
      message:
        `pod asks for the ${PROXY_CONTAINER_NAME} sidecar with annotation ${PROXY_ANNOTATION}, but this cluster's ` +
        "Signet has no proxy image configured (operator flag --proxy-image, env SIGNET_PROXY_IMAGE; the chart " +
        "sets it); ask the cluster's administrator to set it, or remove the annotation and run the proxy yourself",
    };
  }
  const existing = containerNamed(pod, PROXY_CONTAINER_NAME);
  const isInit = (pod.spec.initContainers ?? []).some((c) => c === existing);
  if (existing !== undefined && (isInit || !isOurProxy(existing, image, ports))) {
    return {
      reason: DenialReason.ProxyContainerConflict,
      message:
        `pod asks for the ${PROXY_CONTAINER_NAME} sidecar with annotation ${PROXY_ANNOTATION} and already has a ` +
        `container named "${PROXY_CONTAINER_NAME}" that is not Signet's (image ${image}, args proxy ...); ` +
        "rename your container, or remove the annotation",
    };
  }
  return { image, ports, present: existing !== undefined };
}

/** The volume that delivers an identity, and how a decision talks about it. */
interface IdentityVolume {
  volume: { name: string };
  /** True for a volume already in the pod that is this one (from an earlier invocation). */
  ours: (existing: VolumeLike) => boolean;
  /** What the volume must be, for the VolumeNameConflict message. */
  what: string;
  /** What the pod waits for while the identity is not Ready, for a warning. */
  waitsFor: string;
}

type Delivery = (
  ref: string,
  identity: { name: string; spec: MachineIdentityLike["spec"] },
  config: InjectionConfig,
  defaultMode: number,
) => IdentityVolume | { reason: DenialReason; message: string };

const secretDelivery: Delivery = (ref, identity, _config, defaultMode) => {
  const secretName = secretNameOf({ metadata: { name: identity.name }, spec: identity.spec });
  return {
    volume: { name: IDENTITY_VOLUME_NAME, secret: { secretName, defaultMode } },
    ours: (existing) => existing.secret?.secretName === secretName,
    what: `Secret "${secretName}" of ${ref}`,
    waitsFor: `the pod starts once Secret "${secretName}" exists`,
  };
};

const podCertificateDelivery: Delivery = (ref, { spec }, config, defaultMode) => {
  const support = config.podCertificates ?? SUPPORT_UNKNOWN;
  if (!support.supported) {
    return {
      reason: DenialReason.PodCertificateUnsupported,
      message:
        `${ref} has spec.delivery PodCertificate, but ${support.missing}; ` +
        "Signet refused the pod rather than let it start without its certificate: enable pod certificates " +
        `in the cluster, or set spec.delivery of ${ref} to Secret`,
    };
  }
  const key = spec.privateKey;
  const keyType = podCertificateKeyType(key);
  if (keyType === undefined) {
    const size = key?.size === undefined ? "of the default size" : `of ${key.size} bits`;
    return {
      reason: DenialReason.PodCertificateSpecInvalid,
      message:
        `${ref} has spec.delivery PodCertificate and spec.privateKey ${key?.algorithm ?? "ECDSA"} ${size}, ` +
        "a key the kubelet cannot generate for a pod certificate; set spec.privateKey to ECDSA (256 or 384), " +
        "Ed25519 or RSA (3072 or 4096), or set spec.delivery to Secret",
    };
  }
  const seconds = podCertificateMaxExpirationSeconds(spec.ttl);
  if (seconds === undefined) {
    return {
      reason: DenialReason.PodCertificateSpecInvalid,
      message:
        `${ref} has spec.ttl ${JSON.stringify(spec.ttl)}, which is not a duration; ` +
        'set it to a duration of at least 1h, e.g. "24h"',
    };
  }
  const volume = podCertificateVolume(keyType, seconds, defaultMode, support.trustBundle);
  // Either trust source: discovery may have changed its answer between an invocation and its
  // reinvocation.
  const forms = (Object.keys(TRUST_SOURCES) as TrustBundleSource[]).map((source) =>
    podCertificateVolume(keyType, seconds, defaultMode, source),
  );
  return {
    volume,
    // Only a volume exactly as Signet injects it is ours: anything else in it could add to or change
    // what the kubelet asks Signet's signer for.
    ours: (existing) => forms.some((form) => sameJson(existing, form)),
    what: `the podCertificate volume Signet injects for ${ref}`,
    waitsFor:
      `with delivery PodCertificate the kubelet requests the certificate from signer ${POD_CERTIFICATE_SIGNER} ` +
      "when the pod starts, and the pod starts once it is issued",
  };
};

interface TargetContainer {
  container: ContainerLike;
  path: string;
}

/** Every container and init container, or only those the inject-containers annotation names. */
function targetContainers(pod: PodLike): TargetContainer[] | { message: string } {
  const all: TargetContainer[] = [
    ...pod.spec.containers.map((container, i) => ({ container, path: `/spec/containers/${i}` })),
    ...(pod.spec.initContainers ?? []).map((container, i) => ({
      container,
      path: `/spec/initContainers/${i}`,
    })),
  ];
  const selection = pod.metadata?.annotations?.[INJECT_CONTAINERS_ANNOTATION];
  if (selection === undefined) return all;
  const names = selection
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  const known = all.map((t) => t.container.name);
  if (names.length === 0) {
    return {
      message:
        `annotation ${INJECT_CONTAINERS_ANNOTATION} names no container; list containers separated by ` +
        `commas (this pod has: ${known.join(", ")}), or remove it to inject into every container`,
    };
  }
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    return {
      message:
        `annotation ${INJECT_CONTAINERS_ANNOTATION} names ${unknown.map((n) => `"${n}"`).join(", ")}, ` +
        `not a container of this pod; use names from: ${known.join(", ")}`,
    };
  }
  return all.filter((t) => names.includes(t.container.name));
}

/** Equal as JSON: a member that is null reads as absent, as Kubernetes' JSON has it. */
function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(withoutNulls(a), withoutNulls(b));
}

function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

function samePath(a: string, b: string): boolean {
  return posix.normalize(`${a}/`) === posix.normalize(`${b}/`);
}
