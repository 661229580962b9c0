import type * as k8s from "@kubernetes/client-node";
import type { AdmissionHandler } from "../../../webhooks/src/handlers.ts";
import type { AdmissionAnswer, AdmissionRequest } from "../../../webhooks/src/review.ts";
import {
  formatProblems,
  GROUP,
  type IssuancePolicy,
  MACHINE_IDENTITY_KIND,
  type MachineIdentity,
  secretNameOf,
  spiffeIDOf,
  validateMachineIdentity,
} from "../api/index.ts";
import { type ReservedSecrets, secretClaim } from "../controllers/machineidentity/ownership.ts";
import type { Claimants } from "./claim-index.ts";
import { claimOf, claimProblems, IssuanceReason, spiffeIdConflict } from "./claims.ts";

export interface IdentityAdmissionOptions {
  trustDomain: string;
  clusterDomain: string;
  /** Every IssuancePolicy, from the informer cache. */
  policies: () => readonly IssuancePolicy[];
  /** A namespace's labels from the informer cache; undefined when it is not known. */
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  /** The identities that claim a SPIFFE ID or a Secret, from the informer cache. */
  claimants: Claimants;
  /** A Signet-labelled Secret from the cache, if there is one. */
  secret: (namespace: string, name: string) => k8s.V1Secret | undefined;
  reserved: ReservedSecrets;
  /** True once every cache above has synced; until then every request is refused. */
  synced: () => boolean;
}

/** The fields a claim is made of: an UPDATE that changes none of them is not judged again. */
function claimedFields(mi: MachineIdentity): string {
  const { spiffeID, dnsNames, ttl, privateKey, secretName } = mi.spec;
  return JSON.stringify([spiffeID ?? null, dnsNames ?? [], ttl, privateKey, secretName ?? null]);
}

/**
 * /validate-machineidentities: refuses, at `kubectl apply` time, a MachineIdentity that claims what
 * its namespace may not (the IssuancePolicy rules), a SPIFFE ID another MachineIdentity holds, or a
 * Secret that is not its own. The controller checks the same before every mint, so a cluster
 * without this webhook still issues nothing it should not. An UPDATE that leaves every claimed
 * field as it was is allowed, so that an identity whose claim a policy change withdrew can still be
 * suspended, relabelled or fixed.
 */
export function validateMachineIdentities(options: IdentityAdmissionOptions): AdmissionHandler {
  return (request: AdmissionRequest): AdmissionAnswer => {
    const k = request.kind;
    if (k.group !== GROUP || k.kind !== MACHINE_IDENTITY_KIND) {
      return {
        code: 400,
        message: `this webhook admits ${GROUP} MachineIdentities only, not ${k.group || "core"}/${k.version} ${k.kind}; check its rules`,
      };
    }
    if (request.operation !== "CREATE" && request.operation !== "UPDATE") return { allowed: true };
    if (!request.namespace)
      return { code: 400, message: "the review names no namespace; a MachineIdentity is namespaced" };
    const parsed = validateMachineIdentity(request.object);
    if (!parsed.ok) {
      return { code: 400, message: `MachineIdentity in request.object: ${formatProblems(parsed.problems)}` };
    }
    const identity: MachineIdentity = {
      ...parsed.value,
      metadata: { ...parsed.value.metadata, namespace: request.namespace },
    };
    if (request.operation === "UPDATE") {
      const old = validateMachineIdentity(request.oldObject);
      if (old.ok && claimedFields(old.value) === claimedFields(identity)) return { allowed: true };
    }
    if (!options.synced()) {
      return {
        code: 503,
        message:
          "Signet has not finished reading IssuancePolicies, namespaces and MachineIdentities yet; retry in a few seconds",
      };
    }
    const where = `MachineIdentity ${request.namespace}/${identity.metadata.name}`;
    const problems = claimProblems(claimOf(identity, options.trustDomain), {
      trustDomain: options.trustDomain,
      clusterDomain: options.clusterDomain,
      policies: options.policies(),
      namespaceLabels: options.namespaceLabels(request.namespace),
    });
    if (problems.length > 0) {
      return {
        allowed: false,
        reason: IssuanceReason.ClaimNotPermitted,
        message: `${where}: ${formatProblems(problems)}`,
      };
    }
    const rivals = options.claimants.bySpiffeId(spiffeIDOf(identity, options.trustDomain));
    const conflict = spiffeIdConflict(identity, rivals, options.trustDomain);
    if (conflict)
      return {
        allowed: false,
        reason: IssuanceReason.SpiffeIDConflict,
        message: `${where}: ${conflict.message}`,
      };
    const secret = secretClaim({
      identity,
      secret: options.secret(request.namespace, secretNameOf(identity)),
      sameNamespaceIdentities: options.claimants.bySecretName(request.namespace, secretNameOf(identity)),
      reserved: options.reserved,
    });
    if (!secret.ok) return { allowed: false, reason: secret.reason, message: secret.message };
    return { allowed: true };
  };
}
