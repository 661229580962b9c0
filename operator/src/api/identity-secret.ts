/**
 * Which Secret is a MachineIdentity's own, decided by what a tenant cannot forge. A label alone
 * (app.kubernetes.io/managed-by=signet) anyone who may create Secrets can set; the identity's uid
 * in a controller owner reference, on the Secret that identity's spec.secretName names in its own
 * namespace, they cannot point at an identity that is not there.
 */
import { IDENTITY_SECRET_LABEL, secretNameOf } from "./names.ts";

/** The parts of a MachineIdentity, as listed or cached, that decide which Secret is its own. */
export interface IdentitySecretOwner {
  metadata?: { name?: string | undefined; namespace?: string | undefined; uid?: unknown } | undefined;
  spec?: { secretName?: string | undefined } | undefined;
}

/** The parts of a Secret that say whom it belongs to. */
export interface OwnedSecretLike {
  metadata?:
    | {
        name?: string | undefined;
        namespace?: string | undefined;
        labels?: Record<string, string> | undefined;
        ownerReferences?:
          | readonly { kind: string; uid: string; controller?: boolean | undefined }[]
          | undefined;
      }
    | undefined;
}

/**
 * Whether `secret` is the identity Secret of `identity`: in its namespace, named by its
 * spec.secretName, labelled for it and controlled by its uid.
 */
export function isIdentitySecretOf(secret: OwnedSecretLike, identity: IdentitySecretOwner): boolean {
  const uid = identity.metadata?.uid;
  const name = identity.metadata?.name;
  if (typeof uid !== "string" || uid === "" || !name) return false;
  const meta = secret.metadata;
  if ((meta?.namespace ?? "") !== (identity.metadata?.namespace ?? "")) return false;
  if (meta?.name !== secretNameOf(identity)) return false;
  if (meta?.labels?.[IDENTITY_SECRET_LABEL] !== name) return false;
  const controller = meta?.ownerReferences?.find(
    (o) => o.controller === true && o.kind === "MachineIdentity",
  );
  return controller?.uid === uid;
}

/** Finds a Secret's identity by the label it carries: the label is the only pointer, the marks decide. */
export function identityOfSecret<T extends IdentitySecretOwner>(
  secret: OwnedSecretLike,
  lookup: (namespace: string, name: string) => T | undefined,
): T | undefined {
  const name = secret.metadata?.labels?.[IDENTITY_SECRET_LABEL];
  if (!name) return undefined;
  const identity = lookup(secret.metadata?.namespace ?? "", name);
  return identity && isIdentitySecretOf(secret, identity) ? identity : undefined;
}
