import { createHash } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import type { MachineIdentity } from "../../api/index.ts";
import {
  API_VERSION,
  checkSemantics,
  formatProblems,
  IDENTITY_SECRET_ANNOTATIONS,
  IDENTITY_SECRET_LABEL,
  MANAGED_BY,
  parseDuration,
  secretNameOf,
  spiffeIDOf,
} from "../../api/index.ts";
import type { DesiredSvid, MintedSvid } from "../../pki/index.ts";
import { encodeSecretData } from "../shared/secret-data.ts";

/** Operator-wide settings that shape every identity. */
export interface IdentityPolicy {
  trustDomain: string;
  /** Operator-wide TTL bounds (e.g. 5m..24h); a spec outside them is refused, not bent. */
  minTtlMs: number;
  maxTtlMs: number;
}

export type DesiredIdentity =
  | { ok: true; secretName: string; svid: DesiredSvid & { renewBeforeMs: number } }
  | { ok: false; reason: "InvalidSpec"; message: string };

/**
 * An ownerReference to the identity: the controller of its Secret, or (controller false, blocking
 * nothing) one of several owners of an object identities share.
 */
export function ownerReferenceTo(
  mi: MachineIdentity,
  options: { controller: true } | { controller: false; blockOwnerDeletion: false },
): k8s.V1OwnerReference {
  return {
    apiVersion: mi.apiVersion ?? API_VERSION,
    kind: "MachineIdentity",
    name: mi.metadata?.name ?? "",
    uid: uidOf(mi),
    ...options,
  };
}

/** The object's uid; ObjectMeta passes it through untyped. */
export function uidOf(obj: { metadata?: Record<string, unknown> | undefined }): string {
  const uid = obj.metadata?.uid;
  return typeof uid === "string" ? uid : "";
}

/**
 * What the identity's SVID should be, or why it cannot be issued. The API server has already
 * checked syntax; this applies what only the operator knows: its TTL bounds and trust domain.
 */
export function desiredIdentity(mi: MachineIdentity, policy: IdentityPolicy): DesiredIdentity {
  const namespace = mi.metadata?.namespace ?? "";
  const name = mi.metadata?.name ?? "";
  const where = `MachineIdentity ${namespace}/${name}`;
  // What the API server cannot check, above all a spiffeID claiming another namespace's
  // /ns/<namespace>/ path: issuing it would let this namespace impersonate that one's workloads.
  const problems = checkSemantics("MachineIdentity", mi);
  if (problems.length > 0) {
    return { ok: false, reason: "InvalidSpec", message: `${where}: ${formatProblems(problems)}` };
  }
  let ttlMs: number;
  let renewBeforeMs: number;
  try {
    ttlMs = parseDuration(mi.spec.ttl ?? "1h");
    renewBeforeMs = mi.spec.renewBefore ? parseDuration(mi.spec.renewBefore) : Math.floor(ttlMs / 3);
  } catch (err) {
    return { ok: false, reason: "InvalidSpec", message: `${where}: ${(err as Error).message}` };
  }
  if (ttlMs < policy.minTtlMs || ttlMs > policy.maxTtlMs) {
    return {
      ok: false,
      reason: "InvalidSpec",
      message: `${where}: spec.ttl ${mi.spec.ttl} is outside this operator's bounds ${fmt(policy.minTtlMs)}..${fmt(policy.maxTtlMs)}; choose a ttl within them`,
    };
  }
  if (renewBeforeMs >= ttlMs) {
    return {
      ok: false,
      reason: "InvalidSpec",
      message: `${where}: spec.renewBefore ${mi.spec.renewBefore} must be shorter than spec.ttl ${mi.spec.ttl}`,
    };
  }
  const spiffeId = spiffeIDOf(mi, policy.trustDomain);
  const trustDomain = new URL(spiffeId).host;
  if (trustDomain !== policy.trustDomain) {
    return {
      ok: false,
      reason: "InvalidSpec",
      message: `${where}: spec.spiffeID ${spiffeId} is outside this operator's trust domain ${policy.trustDomain}; use spiffe://${policy.trustDomain}/...`,
    };
  }
  return {
    ok: true,
    secretName: secretNameOf(mi),
    svid: {
      spiffeId,
      dnsNames: [...(mi.spec.dnsNames ?? [])],
      keyAlgorithm: mi.spec.privateKey ?? { algorithm: "ECDSA", size: 256 },
      ttlMs,
      renewBeforeMs,
    },
  };
}

function fmt(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** The data keys of an identity Secret: the only ones Signet writes. */
export const SECRET_FILES = ["tls.crt", "tls.key", "ca.crt"] as const;

/**
 * The identity Secret: kubernetes.io/tls, owned by its MachineIdentity, deterministic content.
 * It holds Signet's fields only (its labels, annotations, owner reference, type and data), so that
 * a server-side apply of it leaves whatever else others put on the Secret.
 */
export function identitySecret(
  mi: MachineIdentity,
  secretName: string,
  svid: MintedSvid,
  bundlePem: string,
): k8s.V1Secret {
  const data = encodeSecretData({ "tls.crt": svid.chainPem, "tls.key": svid.keyPem, "ca.crt": bundlePem });
  return signetFields(mi, secretName, "kubernetes.io/tls", data, {
    [IDENTITY_SECRET_ANNOTATIONS.spiffeId]: svid.spiffeId,
    [IDENTITY_SECRET_ANNOTATIONS.serial]: svid.serialNumber,
    [IDENTITY_SECRET_ANNOTATIONS.notAfter]: svid.notAfter.toISOString(),
  });
}

/**
 * The identity's own Secret with ca.crt replaced by `bundlePem` and the content hash to match:
 * the same key and certificate, and Signet's fields only, as identitySecret.
 */
export function withBundle(mi: MachineIdentity, secret: k8s.V1Secret, bundlePem: string): k8s.V1Secret {
  const data: Record<string, string> = {};
  for (const file of SECRET_FILES) {
    const value = secret.data?.[file];
    if (value !== undefined) data[file] = value;
  }
  const annotations: Record<string, string> = {};
  for (const key of [
    IDENTITY_SECRET_ANNOTATIONS.spiffeId,
    IDENTITY_SECRET_ANNOTATIONS.serial,
    IDENTITY_SECRET_ANNOTATIONS.notAfter,
  ]) {
    const value = secret.metadata?.annotations?.[key];
    if (value !== undefined) annotations[key] = value;
  }
  return signetFields(
    mi,
    secret.metadata?.name ?? "",
    secret.type ?? "kubernetes.io/tls",
    { ...data, ...encodeSecretData({ "ca.crt": bundlePem }) },
    annotations,
  );
}

function signetFields(
  mi: MachineIdentity,
  secretName: string,
  type: string,
  data: Record<string, string>,
  annotations: Record<string, string>,
): k8s.V1Secret {
  const name = mi.metadata?.name ?? "";
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: secretName,
      namespace: mi.metadata?.namespace ?? "",
      labels: { ...MANAGED_BY, [IDENTITY_SECRET_LABEL]: name },
      annotations: { ...annotations, [IDENTITY_SECRET_ANNOTATIONS.contentHash]: contentHash(data) },
      ownerReferences: [ownerReferenceTo(mi, { controller: true })],
    },
    type,
    data,
  };
}

/**
 * A digest of the data Signet wrote, kept in an annotation: any later edit of tls.crt, tls.key or
 * ca.crt by someone else shows as a mismatch. It reveals nothing usable about the key.
 */
export function contentHash(data: Record<string, string> | undefined): string {
  const h = createHash("sha256");
  for (const key of SECRET_FILES) h.update(`${key}\0${data?.[key] ?? ""}\0`);
  return h.digest("hex");
}

/**
 * Why the Secret is no longer what Signet wrote, or undefined when it is. Asked only of a Secret
 * that carries this identity's owner marks (ownership.ts): anything else is never repaired.
 */
export function tamperedWith(secret: k8s.V1Secret): string | undefined {
  const recorded = secret.metadata?.annotations?.[IDENTITY_SECRET_ANNOTATIONS.contentHash];
  if (!recorded) return "its content-hash annotation was removed";
  if (recorded !== contentHash(secret.data)) return "its data was changed after Signet wrote it";
  return undefined;
}
