/**
 * The names Signet's admission path shares with the rest of the operator, and the part of a
 * MachineIdentity it reads. The shape is declared here, structurally, so that the webhook depends
 * on the API's field names only, not on the module that validates them.
 */

/** Pod label that opts a pod in to identity injection; only the value "true" counts. */
export const INJECT_LABEL = "signet.dev/inject";
/** Pod annotation naming the MachineIdentity, always in the pod's own namespace. */
export const IDENTITY_ANNOTATION = "signet.dev/identity";
/** Pod label set only by the webhook; NetworkPolicies select on it. */
export const IDENTITY_LABEL = "signet.dev/identity";
/** Optional pod annotation, "a,b": inject only into these containers (init containers included). */
export const INJECT_CONTAINERS_ANNOTATION = "signet.dev/inject-containers";

export const IDENTITY_VOLUME_NAME = "signet-identity";
/** Where every injected container finds the identity Secret's files. */
export const IDENTITY_MOUNT_PATH = "/var/run/secrets/signet.dev/identity";

export const ENV_SPIFFE_ID = "SIGNET_SPIFFE_ID";
export const ENV_TLS_CERT_FILE = "SIGNET_TLS_CERT_FILE";
export const ENV_TLS_KEY_FILE = "SIGNET_TLS_KEY_FILE";
export const ENV_TLS_CA_FILE = "SIGNET_TLS_CA_FILE";

/** The fields of a MachineIdentity (signet.dev/v1alpha1) that admission decisions depend on. */
export interface MachineIdentityLike {
  spec: {
    serviceAccounts: readonly string[];
    spiffeID?: string | undefined;
    secretName?: string | undefined;
    suspend?: boolean | undefined;
  };
  status?:
    | {
        conditions?: readonly { type: string; status: string }[] | undefined;
      }
    | undefined;
}

/**
 * Returns the MachineIdentity in `namespace` called `name`, or undefined when there is none. It is
 * synchronous because it reads an informer cache; admission never waits on the API server.
 */
export type IdentityLookup = (namespace: string, name: string) => MachineIdentityLike | undefined;

/** A MachineIdentity as a list returns it: with its name. */
export type NamedMachineIdentity = MachineIdentityLike & {
  metadata?: { name?: string | undefined } | undefined;
};

/**
 * Every MachineIdentity in `namespace`, from the informer cache. Synchronous for the same reason as
 * IdentityLookup.
 */
export type IdentityList = (namespace: string) => readonly NamedMachineIdentity[];

export function identitySecretName(name: string, identity: MachineIdentityLike): string {
  return identity.spec.secretName ?? `${name}-identity`;
}

/**
 * The SPIFFE ID the identity's next certificate carries, from its spec and derived as the
 * reconciler derives it. Not status.spiffeID: right after a spec change that still names the
 * certificate before, and a pod admitted then would keep the stale value for its whole life.
 */
export function identitySpiffeId(
  namespace: string,
  name: string,
  identity: MachineIdentityLike,
  trustDomain: string,
): string {
  return identity.spec.spiffeID ?? `spiffe://${trustDomain}/ns/${namespace}/id/${name}`;
}
