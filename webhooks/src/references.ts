import { z } from "zod";
import {
  IDENTITY_ANNOTATION,
  IDENTITY_LABEL,
  IDENTITY_VOLUME_NAME,
  INJECT_LABEL,
  POD_CERTIFICATE_SIGNER,
  secretNameOf,
  TRUST_BUNDLE_CONFIGMAP,
} from "../../operator/src/api/names.ts";
import { DenialReason, serviceAccountOf } from "./decide.ts";
import type { MachineIdentityLike, NamedMachineIdentity } from "./identity.ts";
import type { AdmissionAnswer } from "./review.ts";

/**
 * Who may reach an identity Secret. Kubernetes lets any pod creator name any Secret of the namespace
 * in a pod spec without being able to read it, so an identity Secret would reach every pod of its
 * namespace. Here the only admitted reference to one is the volume Signet's mutating webhook injects
 * for the identity named by the pod's identity label, re-checked against the identity itself.
 *
 * The same holds for Signet's PodCertificate signer: a podCertificate source addressed to it asks for
 * the certificate of whichever identity the pod's label names, so the only one admitted is in the
 * volume Signet injects for an identity with delivery PodCertificate. The signer would deny any
 * other request; admission says so first, and says it to the pod's author.
 */

const secretKeyRefSchema = z.looseObject({ name: z.string().nullish() }).nullish();
const signerRefSchema = z.looseObject({ signerName: z.string().nullish() }).nullish();

const referencingContainerSchema = z.looseObject({
  name: z.string(),
  env: z
    .array(
      z.looseObject({
        name: z.string(),
        valueFrom: z.looseObject({ secretKeyRef: secretKeyRefSchema }).nullish(),
      }),
    )
    .nullish(),
  envFrom: z.array(z.looseObject({ secretRef: secretKeyRefSchema })).nullish(),
  volumeMounts: z.array(z.looseObject({ name: z.string() })).nullish(),
});

const referencingVolumeSchema = z.looseObject({
  name: z.string(),
  secret: z.looseObject({ secretName: z.string().nullish() }).nullish(),
  projected: z
    .looseObject({
      sources: z
        .array(
          z.looseObject({
            secret: secretKeyRefSchema,
            podCertificate: signerRefSchema,
            clusterTrustBundle: signerRefSchema,
            configMap: z.looseObject({ name: z.string().nullish() }).nullish(),
          }),
        )
        .nullish(),
    })
    .nullish(),
});

/** The parts of a pod spec (or a pod template's spec) that can name a Secret. */
export const referencingPodSpecSchema = z.looseObject({
  serviceAccountName: z.string().nullish(),
  serviceAccount: z.string().nullish(),
  containers: z.array(referencingContainerSchema).nullish(),
  initContainers: z.array(referencingContainerSchema).nullish(),
  ephemeralContainers: z.array(referencingContainerSchema).nullish(),
  volumes: z.array(referencingVolumeSchema).nullish(),
});

export const referencingPodSchema = z.looseObject({
  metadata: z
    .looseObject({
      name: z.string().nullish(),
      generateName: z.string().nullish(),
      labels: z.record(z.string(), z.string()).nullish(),
    })
    .nullish(),
  spec: referencingPodSpecSchema,
});

const templateSchema = z.looseObject({ spec: referencingPodSpecSchema });

/** A workload read only as far as its pod template: spec.template, or a CronJob's spec.jobTemplate. */
export const workloadSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().nullish(), generateName: z.string().nullish() }).nullish(),
  spec: z.looseObject({
    template: templateSchema.nullish(),
    jobTemplate: z.looseObject({ spec: z.looseObject({ template: templateSchema.nullish() }) }).nullish(),
  }),
});

export type ReferencingPodSpec = z.infer<typeof referencingPodSpecSchema>;
export type ReferencingPod = z.infer<typeof referencingPodSchema>;
export type Workload = z.infer<typeof workloadSchema>;
type ReferencingContainer = z.infer<typeof referencingContainerSchema>;

/** One place in a pod spec that names a Secret. */
export interface SecretReference {
  secretName: string;
  /** Where, as a field path from the object's root, e.g. spec.volumes[2].secret.secretName. */
  field: string;
  /** Set for a plain secret volume (not a projected source): the volume's name. */
  volume?: string;
}

const CONTAINER_LISTS = ["initContainers", "containers", "ephemeralContainers"] as const;

function containerReferences(container: ReferencingContainer, at: string, into: SecretReference[]): void {
  const env = container.env;
  if (env) {
    for (let i = 0; i < env.length; i++) {
      const name = env[i]?.valueFrom?.secretKeyRef?.name;
      if (name) into.push({ secretName: name, field: `${at}.env[${i}].valueFrom.secretKeyRef` });
    }
  }
  const envFrom = container.envFrom;
  if (envFrom) {
    for (let i = 0; i < envFrom.length; i++) {
      const name = envFrom[i]?.secretRef?.name;
      if (name) into.push({ secretName: name, field: `${at}.envFrom[${i}].secretRef` });
    }
  }
}

/**
 * Every Secret a pod spec names: secret volumes, projected secret sources, env secretKeyRef and
 * envFrom secretRef in containers, init containers and ephemeral containers. `prefix` is the path of
 * the spec from the object's root (spec, spec.template.spec, ...).
 */
export function secretReferences(spec: ReferencingPodSpec, prefix = "spec"): SecretReference[] {
  const found: SecretReference[] = [];
  const volumes = spec.volumes;
  if (volumes) {
    for (let i = 0; i < volumes.length; i++) {
      const volume = volumes[i];
      if (!volume) continue;
      const secretName = volume.secret?.secretName;
      if (secretName) {
        found.push({ secretName, field: `${prefix}.volumes[${i}].secret.secretName`, volume: volume.name });
      }
      const sources = volume.projected?.sources;
      if (sources) {
        for (let j = 0; j < sources.length; j++) {
          const name = sources[j]?.secret?.name;
          if (name) {
            found.push({ secretName: name, field: `${prefix}.volumes[${i}].projected.sources[${j}].secret` });
          }
        }
      }
    }
  }
  for (const list of CONTAINER_LISTS) {
    const containers = spec[list];
    if (!containers) continue;
    for (let i = 0; i < containers.length; i++) {
      const container = containers[i];
      if (container) containerReferences(container, `${prefix}.${list}[${i}]`, found);
    }
  }
  return found;
}

/** A podCertificate source addressed to Signet's signer. */
export interface SignerReference {
  /** e.g. spec.volumes[2].projected.sources[0].podCertificate */
  field: string;
  volume: string;
}

/** Every podCertificate source of a pod spec whose signerName is Signet's signer, in order. */
export function signerReferences(spec: ReferencingPodSpec, prefix = "spec"): SignerReference[] {
  const found: SignerReference[] = [];
  const volumes = spec.volumes ?? [];
  for (let i = 0; i < volumes.length; i++) {
    const volume = volumes[i];
    const sources = volume?.projected?.sources ?? [];
    for (let j = 0; j < sources.length; j++) {
      if (volume && sources[j]?.podCertificate?.signerName === POD_CERTIFICATE_SIGNER) {
        found.push({
          field: `${prefix}.volumes[${i}].projected.sources[${j}].podCertificate`,
          volume: volume.name,
        });
      }
    }
  }
  return found;
}

/** The MachineIdentities of one namespace, indexed by name and by the Secret each one names. */
export interface IdentityIndex {
  byName: Map<string, MachineIdentityLike>;
  /** Secret name to the names of the identities whose spec.secretName (or default) it is. */
  bySecret: Map<string, string[]>;
}

export function indexIdentities(identities: readonly NamedMachineIdentity[]): IdentityIndex {
  const byName = new Map<string, MachineIdentityLike>();
  const bySecret = new Map<string, string[]>();
  for (const identity of identities) {
    const name = identity.metadata?.name;
    if (!name) continue;
    byName.set(name, identity);
    const secret = secretNameOf(identity);
    const holders = bySecret.get(secret);
    if (holders) holders.push(name);
    else bySecret.set(secret, [name]);
  }
  return { byName, bySecret };
}

/**
 * The identities of the request's namespace, read only when a decision needs them; undefined while
 * the cache has not synced, when "no identity names this Secret" could be wrong.
 */
export type NamespaceIdentities = () => readonly NamedMachineIdentity[] | undefined;

export interface PodReferencesRequest {
  operation: string;
  namespace: string;
  pod: ReferencingPod;
  /** The pod before an UPDATE (e.g. of pods/ephemeralcontainers). */
  oldPod?: ReferencingPod | undefined;
}

const RULE =
  "an identity Secret reaches a pod only through Signet's injection (volume " +
  `"${IDENTITY_VOLUME_NAME}") of an identity that the pod's ServiceAccount may hold`;

const SIGNER_RULE =
  `only Signet's injection (volume "${IDENTITY_VOLUME_NAME}") for a MachineIdentity with spec.delivery ` +
  `PodCertificate may address signer ${POD_CERTIFICATE_SIGNER}, whose certificates carry that identity`;

const SIGNER_OPT_IN =
  `label ${INJECT_LABEL}: "true" and annotation ${IDENTITY_ANNOTATION} naming a MachineIdentity with ` +
  "spec.delivery PodCertificate";

/** The refusal while the identity cache is incomplete, on every path that reads it. */
export const NOT_SYNCED_MESSAGE =
  "Signet has not finished reading MachineIdentities yet; retry in a few seconds";

function optInHint(holder: string): string {
  return (
    `label ${INJECT_LABEL}: "true" and annotation ${IDENTITY_ANNOTATION}: ${holder}, ` +
    "running as a ServiceAccount that the MachineIdentity lists in spec.serviceAccounts"
  );
}

interface Violation {
  reason: DenialReason;
  message: string;
  /** What makes two violations the same one across an UPDATE: rule and Secret, not the index. */
  key: string;
}

function referenceViolation(
  namespace: string,
  reference: SecretReference,
  holders: readonly string[],
  what: string,
  fix: string,
): Violation {
  const owner =
    holders.length === 1
      ? `MachineIdentity "${namespace}/${holders[0]}"`
      : `the MachineIdentities ${holders.map((h) => `"${namespace}/${h}"`).join(", ")}`;
  return {
    reason: DenialReason.IdentitySecretReferenced,
    key: `${DenialReason.IdentitySecretReferenced}/${reference.secretName}`,
    message:
      `${what} references Secret "${reference.secretName}" at ${reference.field}, and it is the identity ` +
      `Secret of ${owner}: ${RULE}; ${fix}`,
  };
}

function signerViolation(reference: SignerReference, what: string, why: string, fix: string): Violation {
  return {
    reason: DenialReason.PodCertificateSignerReferenced,
    key: `${DenialReason.PodCertificateSignerReferenced}/${reference.volume}`,
    message:
      `${what} declares a podCertificate source for signer ${POD_CERTIFICATE_SIGNER} at ${reference.field}` +
      `${why}: ${SIGNER_RULE}; ${fix}`,
  };
}

function deny(violations: Violation[]): AdmissionAnswer {
  const [first, ...rest] = violations;
  if (!first) return { allowed: true };
  const more =
    rest.length === 0 ? "" : ` (${rest.length} more: ${rest.map((v) => v.message.split(":")[0]).join("; ")})`;
  return { allowed: false, reason: first.reason, message: `${first.message}${more}` };
}

/**
 * The one reference that may stay: the volume signet-identity holding the Secret of the identity
 * named by the pod's identity label, where that identity exists, is not suspended, lists the pod's
 * ServiceAccount and is the only identity naming that Secret. Anything short of that is a violation
 * (deny by default: the mutating webhook checked the same, so a failure here means it was bypassed or
 * the identity changed in between).
 */
function injectedVolumeViolation(
  request: PodReferencesRequest,
  reference: SecretReference,
  holders: readonly string[],
  index: IdentityIndex,
): Violation | undefined {
  const { namespace, pod } = request;
  const label = pod.metadata?.labels?.[IDENTITY_LABEL];
  if (reference.volume !== IDENTITY_VOLUME_NAME || label === undefined || !holders.includes(label)) {
    return referenceViolation(
      namespace,
      reference,
      holders,
      "the pod",
      `remove the reference, and opt the pod in with ${optInHint(holders[0] ?? "")}`,
    );
  }
  const where = `volume "${IDENTITY_VOLUME_NAME}" (${reference.field})`;
  if (holders.length > 1) {
    return {
      reason: DenialReason.IdentitySecretShared,
      key: `${DenialReason.IdentitySecretShared}/${reference.secretName}`,
      message:
        `${where} holds Secret "${reference.secretName}", which ${holders.length} MachineIdentities in ` +
        `namespace "${namespace}" name as spec.secretName (${holders.join(", ")}); Signet mounts it for ` +
        "none of them until exactly one does: give the others a secretName of their own",
    };
  }
  const identity = index.byName.get(label);
  return (
    identity && holderViolation(request, identity, `${where} holds Secret "${reference.secretName}"`, RULE)
  );
}

/**
 * Whether the pod may hold `identity` (the one its label names) through the injected volume, which
 * `where` describes: not while it is suspended, and only as a ServiceAccount it lists. `rule` is the
 * rule the volume falls under, for the message.
 */
function holderViolation(
  request: PodReferencesRequest,
  identity: MachineIdentityLike,
  where: string,
  rule: string,
): Violation | undefined {
  const ref = `MachineIdentity "${request.namespace}/${request.pod.metadata?.labels?.[IDENTITY_LABEL]}"`;
  if (identity.spec.suspend === true) {
    return {
      reason: DenialReason.IdentitySuspended,
      key: DenialReason.IdentitySuspended,
      message: `${where} of ${ref}, which is suspended (spec.suspend: true); no pod may take it until spec.suspend is false again`,
    };
  }
  const serviceAccount = serviceAccountOf(request.pod.spec);
  const serviceAccounts = identity.spec.serviceAccounts ?? [];
  if (!serviceAccounts.includes(serviceAccount)) {
    return {
      reason: DenialReason.ServiceAccountNotListed,
      key: DenialReason.ServiceAccountNotListed,
      message:
        `${where} of ${ref}, which does not list ServiceAccount "${serviceAccount}" in spec.serviceAccounts: ` +
        `${rule}; add it there or run the pod as one of: ${serviceAccounts.join(", ") || "(none: it has delivery External)"}`,
    };
  }
  return undefined;
}

/**
 * Decides whether a pod may reference the Secrets it names. On CREATE every reference is judged; on
 * UPDATE (in practice pods/ephemeralcontainers, since volumes and containers are immutable
 * otherwise) only ephemeral containers that oldPod does not have. A new ephemeral container may not
 * mount the identity volume, nor any volume holding an identity Secret: that is how `kubectl debug`
 * would read another container's key.
 *
 * O(size of the pod), plus one pass over the namespace's identities, and only for a pod that names
 * a Secret at all; a pod that names none is allowed without reading the cache.
 */
export function decidePodReferences(
  request: PodReferencesRequest,
  namespaceIdentities: NamespaceIdentities,
): AdmissionAnswer {
  const { operation, namespace, pod } = request;
  if (operation !== "CREATE" && operation !== "UPDATE") return { allowed: true };

  let references: SecretReference[];
  const mounts: { volume: string; field: string; container: string }[] = [];
  if (operation === "CREATE") {
    references = secretReferences(pod.spec);
  } else {
    const before = new Set((request.oldPod?.spec.ephemeralContainers ?? []).map((c) => c.name));
    const added: ReferencingContainer[] = [];
    const fields: string[] = [];
    const ephemeral = pod.spec.ephemeralContainers ?? [];
    for (let i = 0; i < ephemeral.length; i++) {
      const container = ephemeral[i];
      if (!container || before.has(container.name)) continue;
      added.push(container);
      fields.push(`spec.ephemeralContainers[${i}]`);
    }
    if (added.length === 0) return { allowed: true };
    references = [];
    added.forEach((container, i) => {
      const at = fields[i] ?? "";
      containerReferences(container, at, references);
      (container.volumeMounts ?? []).forEach((m, j) => {
        mounts.push({ volume: m.name, field: `${at}.volumeMounts[${j}]`, container: container.name });
      });
    });
  }

  const violations: Violation[] = [];
  const volumeSecrets = new Map<string, string>();
  if (mounts.length > 0) {
    for (const v of pod.spec.volumes ?? [])
      if (v.secret?.secretName) volumeSecrets.set(v.name, v.secret.secretName);
    for (const mount of mounts) {
      if (mount.volume !== IDENTITY_VOLUME_NAME) continue;
      violations.push({
        reason: DenialReason.IdentityVolumeInEphemeralContainer,
        key: DenialReason.IdentityVolumeInEphemeralContainer,
        message:
          `ephemeral container "${mount.container}" mounts volume "${IDENTITY_VOLUME_NAME}" at ${mount.field}, ` +
          "which holds the pod's identity key: ephemeral containers (kubectl debug) may not mount it; " +
          "debug without that mount",
      });
    }
  }
  const otherMounts = mounts.filter((m) => m.volume !== IDENTITY_VOLUME_NAME && volumeSecrets.has(m.volume));
  // A pod Signet injected carries the identity label; whether it needs a pod certificate source
  // depends on its identity's delivery, so the cache is read for it even when it names no Secret.
  const signers = operation === "CREATE" ? signerReferences(pod.spec) : [];
  const labelled = operation === "CREATE" && pod.metadata?.labels?.[IDENTITY_LABEL] !== undefined;
  if (references.length === 0 && otherMounts.length === 0 && signers.length === 0 && !labelled) {
    return deny(violations);
  }

  const identities = namespaceIdentities();
  if (identities === undefined) return { code: 503, message: NOT_SYNCED_MESSAGE };
  const index = indexIdentities(identities);

  for (const mount of otherMounts) {
    const secretName = volumeSecrets.get(mount.volume) ?? "";
    const holders = index.bySecret.get(secretName);
    if (!holders) continue;
    violations.push(
      referenceViolation(
        namespace,
        { secretName, field: `${mount.field} (volume "${mount.volume}")` },
        holders,
        `ephemeral container "${mount.container}"`,
        "debug without that mount",
      ),
    );
  }
  for (const reference of references) {
    const holders = index.bySecret.get(reference.secretName);
    if (!holders) continue;
    const violation =
      operation === "CREATE"
        ? injectedVolumeViolation(request, reference, holders, index)
        : referenceViolation(namespace, reference, holders, "an ephemeral container", "remove the reference");
    if (violation) violations.push(violation);
  }
  if (operation === "CREATE") violations.push(...podCertificateViolations(request, signers, index));
  return deny(violations);
}

/**
 * On CREATE: every podCertificate source for Signet's signer other than the one in the volume Signet
 * injects for the pod's PodCertificate identity; and, for such an identity, that volume as the API
 * server stored it. This webhook runs after the API server dropped the fields of disabled features,
 * so a source missing here is one the kubelet would never see: the pod would start without it.
 */
function podCertificateViolations(
  request: PodReferencesRequest,
  signers: readonly SignerReference[],
  index: IdentityIndex,
): Violation[] {
  const { namespace, pod } = request;
  const label = pod.metadata?.labels?.[IDENTITY_LABEL];
  const identity = label === undefined ? undefined : index.byName.get(label);
  const ref = `MachineIdentity "${namespace}/${label}"`;
  const byKubelet = identity?.spec.delivery === "PodCertificate";
  const violations: Violation[] = [];
  const fix = `remove the source, and opt the pod in with ${SIGNER_OPT_IN}`;
  let injected = false;
  for (const reference of signers) {
    let why: string;
    if (reference.volume !== IDENTITY_VOLUME_NAME) why = `, outside volume "${IDENTITY_VOLUME_NAME}"`;
    else if (label === undefined) why = `, on a pod without the label ${IDENTITY_LABEL}`;
    else if (!identity) why = `, and ${ref} (its label ${IDENTITY_LABEL}) does not exist`;
    else if (!byKubelet) why = `, and ${ref} (its label ${IDENTITY_LABEL}) has spec.delivery Secret`;
    else if (injected) why = `, a second time in volume "${IDENTITY_VOLUME_NAME}"`;
    else {
      injected = true;
      const where = `volume "${IDENTITY_VOLUME_NAME}" (${reference.field})`;
      const violation = holderViolation(request, identity, where, SIGNER_RULE);
      if (violation) violations.push(violation);
      continue;
    }
    violations.push(signerViolation(reference, "the pod", why, fix));
  }
  if (!byKubelet) return violations;

  const fixGate = (gate: string) =>
    `enable the ${gate} feature gate on the API server, or set spec.delivery of ${ref} to Secret, ` +
    "and create the pod again";
  const volume = pod.spec.volumes?.find((v) => v.name === IDENTITY_VOLUME_NAME);
  const sources = volume?.projected?.sources;
  if (!injected) {
    violations.push({
      reason: DenialReason.PodCertificateDropped,
      key: DenialReason.PodCertificateDropped,
      message: sources
        ? `volume "${IDENTITY_VOLUME_NAME}" holds no podCertificate source for signer ${POD_CERTIFICATE_SIGNER}, ` +
          `which Signet's injection adds for ${ref} (spec.delivery PodCertificate): the API server removed ` +
          "the podCertificate volume source, most likely because its PodCertificateRequest feature gate is off, " +
          `so the pod would start without its certificate; ${fixGate("PodCertificateRequest")}`
        : `the pod carries the label ${IDENTITY_LABEL}: ${label} of ${ref}, which has spec.delivery ` +
          `PodCertificate, but its volume "${IDENTITY_VOLUME_NAME}" holds no podCertificate source for signer ` +
          `${POD_CERTIFICATE_SIGNER}, so the pod would start without its certificate (the identity's delivery ` +
          "changed after Signet injected the pod?); create the pod again",
    });
  }
  // The ConfigMap source (injected where the API server serves no ClusterTrustBundles) is no feature
  // the API server can drop, so a volume with neither trust source had the clusterTrustBundle one.
  const trusts = (s: NonNullable<typeof sources>[number]) =>
    s.clusterTrustBundle?.signerName === POD_CERTIFICATE_SIGNER ||
    s.configMap?.name === TRUST_BUNDLE_CONFIGMAP;
  if (sources && !sources.some(trusts)) {
    violations.push({
      reason: DenialReason.ClusterTrustBundleDropped,
      key: DenialReason.ClusterTrustBundleDropped,
      message:
        `volume "${IDENTITY_VOLUME_NAME}" holds no clusterTrustBundle source for signer ${POD_CERTIFICATE_SIGNER}, ` +
        `which Signet's injection adds for ${ref} (spec.delivery PodCertificate): the API server removed the ` +
        "clusterTrustBundle volume source, most likely because its ClusterTrustBundleProjection feature gate " +
        `is off, so the pod would start without its trust bundle (ca.crt); ${fixGate("ClusterTrustBundleProjection")} ` +
        `(or run Signet with --trust-bundle=ConfigMap, so that ca.crt comes from ConfigMap ${TRUST_BUNDLE_CONFIGMAP})`,
    });
  }
  return violations;
}

export interface TemplateReferencesRequest {
  operation: string;
  namespace: string;
  /** Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or CronJob: names the object in messages. */
  kind: string;
  workload: Workload;
  oldWorkload?: Workload | undefined;
}

/** The pod template of a workload and its field path, or undefined when it has none. */
export function podTemplateOf(workload: Workload): { spec: ReferencingPodSpec; field: string } | undefined {
  const cronJobTemplate = workload.spec.jobTemplate?.spec.template;
  if (cronJobTemplate) return { spec: cronJobTemplate.spec, field: "spec.jobTemplate.spec.template.spec" };
  const template = workload.spec.template;
  return template ? { spec: template.spec, field: "spec.template.spec" } : undefined;
}

function templateViolations(
  request: TemplateReferencesRequest,
  workload: Workload,
  index: () => IdentityIndex | undefined,
): Violation[] | undefined {
  const template = podTemplateOf(workload);
  if (!template) return [];
  const name = workload.metadata?.name || workload.metadata?.generateName || "";
  const what = `${request.kind} "${request.namespace}/${name}" (its pod template)`;
  const violations: Violation[] = [];
  const volumes = template.spec.volumes ?? [];
  for (let i = 0; i < volumes.length; i++) {
    if (volumes[i]?.name !== IDENTITY_VOLUME_NAME) continue;
    violations.push({
      reason: DenialReason.IdentityVolumeInTemplate,
      key: DenialReason.IdentityVolumeInTemplate,
      message:
        `${what} declares volume "${IDENTITY_VOLUME_NAME}" at ${template.field}.volumes[${i}]; Signet adds ` +
        "that volume itself when it creates each pod: remove it, and opt the template's pods in with " +
        `label ${INJECT_LABEL}: "true" and annotation ${IDENTITY_ANNOTATION} in spec.template.metadata`,
    });
  }
  for (const reference of signerReferences(template.spec, template.field)) {
    violations.push(
      signerViolation(
        reference,
        what,
        "",
        "Signet injects it into each pod at creation, so remove it and opt the template's pods in with " +
          `${SIGNER_OPT_IN} in spec.template.metadata`,
      ),
    );
  }
  const references = secretReferences(template.spec, template.field);
  if (references.length === 0) return violations;
  const identities = index();
  if (!identities) return undefined;
  for (const reference of references) {
    const holders = identities.bySecret.get(reference.secretName);
    if (!holders) continue;
    violations.push(
      referenceViolation(
        request.namespace,
        reference,
        holders,
        what,
        "Signet injects it into each pod at creation, so remove the reference and opt the template's " +
          `pods in with ${optInHint(holders[0] ?? "")}`,
      ),
    );
  }
  return violations;
}

/**
 * Decides whether a workload's pod template may be stored. Its pods would be refused anyway when
 * they are created; refusing the template tells the author at apply time instead of leaving a
 * controller retrying. On UPDATE, what the old template already had is not held against it: a
 * controller must still be able to scale down (an UPDATE) a ReplicaSet stored before this check.
 */
export function decideTemplateReferences(
  request: TemplateReferencesRequest,
  namespaceIdentities: NamespaceIdentities,
): AdmissionAnswer {
  if (request.operation !== "CREATE" && request.operation !== "UPDATE") return { allowed: true };
  let index: IdentityIndex | undefined;
  let read = false;
  const lazyIndex = (): IdentityIndex | undefined => {
    if (!read) {
      read = true;
      const identities = namespaceIdentities();
      index = identities === undefined ? undefined : indexIdentities(identities);
    }
    return index;
  };
  const current = templateViolations(request, request.workload, lazyIndex);
  if (current === undefined) return { code: 503, message: NOT_SYNCED_MESSAGE };
  if (current.length === 0 || request.operation === "CREATE" || !request.oldWorkload) return deny(current);
  const old = templateViolations(request, request.oldWorkload, lazyIndex) ?? [];
  const known = new Set(old.map((v) => v.key));
  return deny(current.filter((v) => !known.has(v.key)));
}
