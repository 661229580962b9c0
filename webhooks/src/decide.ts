import { posix } from "node:path";
import {
  IDENTITY_ANNOTATION,
  IDENTITY_LABEL,
  IDENTITY_VOLUME_NAME,
  INJECT_CONTAINERS_ANNOTATION,
  INJECT_LABEL,
  INJECT_LABEL_VALUE,
  secretNameOf,
  spiffeIDOf,
} from "../../operator/src/api/names.ts";
import {
  ENV_SPIFFE_ID,
  ENV_TLS_CA_FILE,
  ENV_TLS_CERT_FILE,
  ENV_TLS_KEY_FILE,
  IDENTITY_MOUNT_PATH,
  type MachineIdentityLike,
} from "./identity.ts";
import type { ContainerLike, PodLike } from "./pod.ts";

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

export interface InjectionConfig {
  /** The trust domain of default SPIFFE IDs, spiffe://<trustDomain>/ns/<namespace>/id/<name>. */
  trustDomain: string;
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
  const serviceAccount = serviceAccountOf(pod.spec);
  if (!identity.spec.serviceAccounts.includes(serviceAccount)) {
    return deny(
      DenialReason.ServiceAccountNotListed,
      `${ref} does not list ServiceAccount "${serviceAccount}" in spec.serviceAccounts; ` +
        `add it there or run the pod as one of: ${identity.spec.serviceAccounts.join(", ")}`,
    );
  }

  const targets = targetContainers(pod);
  if ("message" in targets) return deny(DenialReason.InjectContainersInvalid, targets.message);

  const secretName = secretNameOf({ metadata: { name }, spec: identity.spec });
  const patch: JsonPatchOperation[] = [];
  const warnings: string[] = [];

  const volumes = pod.spec.volumes;
  const existingVolume = volumes?.find((v) => v.name === IDENTITY_VOLUME_NAME);
  if (existingVolume) {
    // A volume of that name holding this Secret is ours from an earlier invocation (or identical
    // to it); anything else would be silently shadowed or replaced, so the pod is refused instead.
    if (existingVolume.secret?.secretName !== secretName) {
      return deny(
        DenialReason.VolumeNameConflict,
        `pod already has a volume named "${IDENTITY_VOLUME_NAME}" that is not Secret "${secretName}" of ${ref}; ` +
          `Signet needs that volume name for the identity: rename your volume`,
      );
    }
  } else {
    const volume = {
      name: IDENTITY_VOLUME_NAME,
      secret: {
        secretName,
        defaultMode: pod.spec.securityContext?.fsGroup != null ? MODE_WITH_FS_GROUP : MODE_WITHOUT_FS_GROUP,
      },
    };
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
    [ENV_TLS_CERT_FILE, `${IDENTITY_MOUNT_PATH}/tls.crt`],
    [ENV_TLS_KEY_FILE, `${IDENTITY_MOUNT_PATH}/tls.key`],
    [ENV_TLS_CA_FILE, `${IDENTITY_MOUNT_PATH}/ca.crt`],
  ];
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

  const labelPath = `/metadata/labels/${escapeJsonPointer(IDENTITY_LABEL)}`;
  const current = labels[IDENTITY_LABEL];
  if (current === undefined) patch.push({ op: "add", path: labelPath, value: name });
  else if (current !== name) {
    patch.push({ op: "replace", path: labelPath, value: name });
    warnings.push(`label ${IDENTITY_LABEL} was "${current}"; only Signet sets it, and set it to "${name}"`);
  }

  const ready = identity.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status !== "True") {
    warnings.push(`${ref} is not Ready yet; the pod starts once Secret "${secretName}" exists`);
  }
  return allow(patch, warnings);
}

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

function samePath(a: string, b: string): boolean {
  return posix.normalize(`${a}/`) === posix.normalize(`${b}/`);
}
