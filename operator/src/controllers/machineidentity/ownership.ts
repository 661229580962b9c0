import type * as k8s from "@kubernetes/client-node";
import { IDENTITY_SECRET_LABEL, type MachineIdentity, secretNameOf } from "../../api/index.ts";
import { uidOf } from "./desired.ts";

export const ClaimReason = {
  SecretConflict: "SecretConflict",
  SecretNameReserved: "SecretNameReserved",
} as const;

/** Signet's own Secrets: no MachineIdentity in the operator's namespace may name them. */
export interface ReservedSecrets {
  namespace: string;
  names: readonly string[];
}

export interface SecretClaimInput {
  identity: MachineIdentity;
  /** The Secret named by the identity's secretName as it exists now, if it does. */
  secret: k8s.V1Secret | undefined;
  /** The MachineIdentities of the identity's namespace; the identity itself may be among them. */
  sameNamespaceIdentities: readonly MachineIdentity[];
  reserved: ReservedSecrets;
}

export type SecretClaim =
  | { ok: true }
  | {
      ok: false;
      reason: (typeof ClaimReason)[keyof typeof ClaimReason];
      /** Who holds the Secret: "MachineIdentity <namespace>/<name>" or "not created by Signet". */
      holder?: string;
      message: string;
    };

export const NOT_CREATED_BY_SIGNET = "not created by Signet";

/**
 * Whether this identity may create, replace or delete the Secret its spec.secretName names. Signet
 * writes only a Secret that carries both of its marks for this identity (the identity label and a
 * controller owner reference with the identity's uid), so that naming another identity's Secret,
 * or a Secret nobody gave Signet, takes nothing over. While no Secret exists, the claimant created
 * first is the only one that may create it, as cert-manager does for duplicate secretNames; once
 * it exists, its owner keeps it whatever the ages.
 */
export function secretClaim(input: SecretClaimInput): SecretClaim {
  const { identity, secret, reserved } = input;
  const namespace = identity.metadata.namespace ?? "";
  const secretName = secretNameOf(identity);
  const who = `MachineIdentity ${namespace}/${identity.metadata.name}`;
  const what = `Secret ${namespace}/${secretName} named in spec.secretName`;

  if (namespace === reserved.namespace && reserved.names.includes(secretName)) {
    return {
      ok: false,
      reason: ClaimReason.SecretNameReserved,
      message: `${who}: spec.secretName ${secretName} is reserved for Signet's own Secrets in its namespace ${namespace} (${[...reserved.names].sort().join(", ")}); Signet does not write or delete it for a MachineIdentity; choose another spec.secretName`,
    };
  }

  if (secret) {
    if (ownedBy(secret, identity)) return { ok: true };
    const marks = marksOf(secret);
    if (!marks.label && !marks.controller) {
      return {
        ok: false,
        reason: ClaimReason.SecretConflict,
        holder: NOT_CREATED_BY_SIGNET,
        message: `${who}: ${what} already exists and was ${NOT_CREATED_BY_SIGNET}; Signet does not write or delete it; choose another spec.secretName, or delete the Secret so that Signet can create it`,
      };
    }
    const holderName = marks.controller?.name ?? marks.label ?? "";
    const holder = `MachineIdentity ${namespace}/${holderName}`;
    if (holderName === identity.metadata.name) {
      // The same name but not this object: most often an identity deleted and created again,
      // whose Secret the garbage collector has not removed yet, or marks edited by hand.
      return {
        ok: false,
        reason: ClaimReason.SecretConflict,
        holder,
        message: `${who}: ${what} is marked for a MachineIdentity of the same name but not for this one (uid ${uidOf(identity) || "unknown"}): its label ${IDENTITY_SECRET_LABEL} is ${marks.label ?? "absent"} and its controller owner reference has uid ${marks.controller?.uid ?? "absent"}; Signet does not write or delete it; delete the Secret or choose another spec.secretName`,
      };
    }
    return {
      ok: false,
      reason: ClaimReason.SecretConflict,
      holder,
      message: `${who}: ${what} belongs to ${holder}; Signet does not write or delete it for this identity; choose another spec.secretName`,
    };
  }

  const first = [...input.sameNamespaceIdentities, identity]
    .filter(
      (other) =>
        (other.metadata.namespace ?? "") === namespace &&
        secretNameOf(other) === secretName &&
        (other.metadata.name === identity.metadata.name || !isDeleting(other)),
    )
    .sort(createdFirst)[0];
  if (first && first.metadata.name !== identity.metadata.name) {
    const holder = `MachineIdentity ${namespace}/${first.metadata.name}`;
    return {
      ok: false,
      reason: ClaimReason.SecretConflict,
      holder,
      message: `${who}: ${what} is also named by ${holder}, created earlier, which is the one to create it; Signet does not create it for this identity; choose another spec.secretName`,
    };
  }
  return { ok: true };
}

/** Both marks, for this very object: a label alone can be copied, a uid cannot be reused. */
export function ownedBy(secret: k8s.V1Secret, identity: MachineIdentity): boolean {
  const uid = uidOf(identity);
  const marks = marksOf(secret);
  return uid !== "" && marks.label === identity.metadata.name && marks.controller?.uid === uid;
}

function marksOf(secret: k8s.V1Secret) {
  return {
    label: secret.metadata?.labels?.[IDENTITY_SECRET_LABEL],
    controller: secret.metadata?.ownerReferences?.find(
      (o) => o.controller === true && o.kind === "MachineIdentity",
    ),
  };
}

function isDeleting(mi: MachineIdentity): boolean {
  return mi.metadata.deletionTimestamp !== undefined && mi.metadata.deletionTimestamp !== null;
}

/** By creationTimestamp (whole seconds on the wire), then by name; no timestamp sorts last. */
function createdFirst(a: MachineIdentity, b: MachineIdentity): number {
  const at = (mi: MachineIdentity) => {
    const t = mi.metadata.creationTimestamp;
    const ms = t === undefined || t === null ? Number.NaN : new Date(t as string | Date).getTime();
    return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
  };
  const byTime = at(a) - at(b);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}
