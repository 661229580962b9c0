import type * as k8s from "@kubernetes/client-node";
import { type IdentitySecretOwner, identityOfSecret } from "../api/identity-secret.ts";
import { IDENTITY_SECRET_LABEL, MANAGED_BY_LABEL } from "../api/names.ts";

/** The labels Signet reads on a Secret it does not own: enough to tell whose it claims to be. */
const KEPT_LABELS = [MANAGED_BY_LABEL, IDENTITY_SECRET_LABEL] as const;

/**
 * The transform of the operator's Secret cache. The cache selects Secrets by the managed-by label,
 * which anyone who may create a Secret can set, so the selection alone would let a tenant make the
 * operator hold any Secret it likes. Only an identity Secret (the one a MachineIdentity in the
 * cache names and controls by uid) is kept whole; of every other Secret the cache keeps what the
 * claim checks read (name, uid, resourceVersion, the two labels above and the controller
 * reference), a few hundred bytes whatever the Secret holds.
 *
 * The identities cache must have synced before the Secret cache lists: an identity Secret seen
 * before its identity would be kept without its data until its next change.
 */
export function identitySecretsOnly(
  identity: (namespace: string, name: string) => IdentitySecretOwner | undefined,
): <T extends k8s.V1Secret>(secret: T) => T {
  return (secret) => (identityOfSecret(secret, identity) ? secret : marksOnly(secret));
}

/** A Secret reduced to who it is and whose it claims to be. */
export function marksOnly<T extends k8s.V1Secret>(secret: T): T {
  const meta = secret.metadata ?? {};
  const labels: Record<string, string> = {};
  for (const key of KEPT_LABELS) {
    const value = meta.labels?.[key];
    if (value !== undefined) labels[key] = value;
  }
  // The API server allows at most one controller reference.
  const controller = meta.ownerReferences?.find((o) => o.controller === true);
  const kept: k8s.V1ObjectMeta = {
    ...(meta.name === undefined ? {} : { name: meta.name }),
    ...(meta.namespace === undefined ? {} : { namespace: meta.namespace }),
    ...(meta.uid === undefined ? {} : { uid: meta.uid }),
    ...(meta.resourceVersion === undefined ? {} : { resourceVersion: meta.resourceVersion }),
    ...(meta.creationTimestamp === undefined ? {} : { creationTimestamp: meta.creationTimestamp }),
    ...(meta.deletionTimestamp === undefined ? {} : { deletionTimestamp: meta.deletionTimestamp }),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(controller === undefined ? {} : { ownerReferences: [controller] }),
  };
  return {
    ...(secret.apiVersion === undefined ? {} : { apiVersion: secret.apiVersion }),
    ...(secret.kind === undefined ? {} : { kind: secret.kind }),
    metadata: kept,
  } as T;
}
