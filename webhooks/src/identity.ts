/**
 * What the pod contract adds beyond the names in operator/src/api/names.ts (the mount path, the
 * environment), and the part of a MachineIdentity admission reads. The shape is declared here,
 * structurally, so that the webhook depends on the API's field names only, not on the module that
 * validates them.
 */

/** Where every injected container finds the identity's files, whichever way they are delivered. */
export const IDENTITY_MOUNT_PATH = "/var/run/secrets/signet.dev/identity";

export const ENV_SPIFFE_ID = "SIGNET_SPIFFE_ID";
export const ENV_TLS_CERT_FILE = "SIGNET_TLS_CERT_FILE";
export const ENV_TLS_KEY_FILE = "SIGNET_TLS_KEY_FILE";
export const ENV_TLS_CA_FILE = "SIGNET_TLS_CA_FILE";
/** With delivery PodCertificate only: the file holding key and chain together, written atomically. */
export const ENV_CREDENTIAL_BUNDLE_FILE = "SIGNET_CREDENTIAL_BUNDLE_FILE";

/** The fields of a MachineIdentity (signet.dev/v1alpha1) that admission decisions depend on. */
export interface MachineIdentityLike {
  spec: {
    /** Absent for an identity with delivery External, which no pod may hold. */
    serviceAccounts?: readonly string[] | undefined;
    spiffeID?: string | undefined;
    secretName?: string | undefined;
    suspend?: boolean | undefined;
    /** Absent reads as the API's default, Secret. */
    delivery?: "Secret" | "PodCertificate" | "External" | undefined;
    /** A duration such as "24h"; absent reads as the API's default. */
    ttl?: string | undefined;
    privateKey?: { algorithm?: string | undefined; size?: number | undefined } | undefined;
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
