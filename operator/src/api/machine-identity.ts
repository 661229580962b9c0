import { z } from "zod";
import { API_VERSION, MACHINE_IDENTITY_KIND } from "./constants.ts";
import { isDuration, parseDuration } from "./duration.ts";
import {
  celIsDuration,
  conditionsField,
  DNS_NAME_PATTERN,
  dns1123Label,
  dns1123Subdomain,
  durationField,
  ObjectReferenceSchema,
  ObservedGenerationSchema,
  SPIFFE_ID_PATTERN,
  setOf,
  timestampField,
  withRules,
} from "./fields.ts";
import { objectSchema } from "./object.ts";

export const KEY_ALGORITHMS = ["ECDSA", "Ed25519", "RSA"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** Key sizes each algorithm accepts; the first is the default when `size` is omitted. */
export const KEY_SIZES: Readonly<Record<KeyAlgorithm, readonly number[]>> = {
  ECDSA: [256, 384],
  RSA: [2048, 3072, 4096],
  Ed25519: [],
};

export const USAGES = ["client", "server"] as const;

export const DELIVERIES = ["Secret", "PodCertificate", "External"] as const;
export type Delivery = (typeof DELIVERIES)[number];

/**
 * The API server refuses a pod certificate that lives less than an hour (KEP-4317), so an identity
 * delivered by the kubelet's podCertificate volume has a ttl of at least this.
 */
export const POD_CERTIFICATE_MIN_TTL = "1h";
export type Usage = (typeof USAGES)[number];

/** Schema-level bounds; the operator narrows them further with its own configuration. */
export const TTL_MIN = "10s";
export const TTL_MAX = "8760h";
export const DEFAULT_TTL = "1h";

/** Bounds and default of a JWT-SVID's lifetime (SPIRE's default is 5 minutes). */
export const JWT_SVID_TTL_MIN = "30s";
export const JWT_SVID_TTL_MAX = "1h";
export const DEFAULT_JWT_SVID_TTL = "5m";

export const JwtSvidSchema = z
  .object({
    audiences: setOf(
      z
        .string()
        .min(1, "each audience must be at least 1 character")
        .max(256, "each audience must be at most 256 characters")
        .regex(/^\S+$/, "each audience must contain no whitespace"),
      16,
      "audiences",
    )
      .min(1, "list at least one audience a JWT-SVID of this identity may name")
      .describe(
        "The audiences (aud) a JWT-SVID of this identity may be issued for, e.g. sts.amazonaws.com or vault. A request for any other audience is refused.",
      ),
    ttl: durationField("jwtSVID.ttl", JWT_SVID_TTL_MIN, JWT_SVID_TTL_MAX)
      .default(DEFAULT_JWT_SVID_TTL)
      .describe(
        `The longest lifetime of a JWT-SVID of this identity, between ${JWT_SVID_TTL_MIN} and ${JWT_SVID_TTL_MAX}; a request may ask for less.`,
      ),
  })
  .describe(
    "Lets the identity's holders obtain JWT-SVIDs from Signet's JWT endpoint for the listed audiences. Absent: no JWT-SVID is issued for this identity.",
  );

export const PrivateKeySchema = withRules(
  z.object({
    algorithm: z
      .enum(KEY_ALGORITHMS)
      .default("ECDSA")
      .describe("Key algorithm: ECDSA (P-256 or P-384), Ed25519, or RSA."),
    size: z
      .literal([256, 384, 2048, 3072, 4096])
      .optional()
      .describe(
        "Key size in bits: 256 or 384 for ECDSA (default 256), 2048, 3072 or 4096 for RSA (default 2048); not set for Ed25519.",
      ),
  }),
  [
    {
      rule: "self.algorithm != 'ECDSA' || !has(self.size) || self.size in [256, 384]",
      message: "ECDSA keys are 256 or 384 bits; set size to 256 or 384",
      fieldPath: ".size",
      holds: (k) => k.algorithm !== "ECDSA" || k.size === undefined || KEY_SIZES.ECDSA.includes(k.size),
    },
    {
      rule: "self.algorithm != 'RSA' || !has(self.size) || self.size in [2048, 3072, 4096]",
      message: "RSA keys are 2048, 3072 or 4096 bits; set size to one of these",
      fieldPath: ".size",
      holds: (k) => k.algorithm !== "RSA" || k.size === undefined || KEY_SIZES.RSA.includes(k.size),
    },
    {
      rule: "self.algorithm != 'Ed25519' || !has(self.size)",
      message: "Ed25519 keys have a fixed size; remove size",
      fieldPath: ".size",
      holds: (k) => k.algorithm !== "Ed25519" || k.size === undefined,
    },
  ],
)
  .default({ algorithm: "ECDSA", size: 256 })
  .describe("The private key minted for every certificate; a new key on every rotation.");

export const MachineIdentitySpecSchema = withRules(
  z.object({
    serviceAccounts: setOf(dns1123Subdomain("each service account"), 32, "service accounts")
      .min(1, "list at least one ServiceAccount whose pods may hold this identity")
      .optional()
      .describe(
        "ServiceAccounts (in this namespace) whose pods may hold this identity. At least one; required unless spec.delivery is External, and absent then.",
      ),
    spiffeID: z
      .string()
      .max(2048, "spiffeID must be at most 2048 characters")
      .regex(
        new RegExp(SPIFFE_ID_PATTERN),
        "spiffeID must look like spiffe://<trust domain>/<path>: a lowercase trust domain of a-z, 0-9, '.', '-', '_', and a non-empty path of segments of letters, digits, '.', '-', '_' (no '.' or '..' segments, no port, query or fragment)",
      )
      .optional()
      .describe(
        "SPIFFE ID in the certificate's URI SAN. Default: spiffe://<trust domain>/ns/<namespace>/id/<name>.",
      ),
    dnsNames: setOf(
      z
        .string()
        .max(253, "each DNS name must be at most 253 characters")
        .regex(
          new RegExp(DNS_NAME_PATTERN),
          "each DNS name must be lowercase DNS labels separated by '.', optionally starting with a '*.' wildcard",
        ),
      32,
      "DNS names",
    )
      .optional()
      .describe(
        "Extra DNS SANs for servers, e.g. payments.shop.svc. A wildcard is allowed as the leftmost label.",
      ),
    ttl: durationField("ttl", TTL_MIN, TTL_MAX)
      .default(DEFAULT_TTL)
      .describe("Lifetime of each certificate, e.g. 1h. The operator may enforce tighter bounds."),
    renewBefore: durationField("renewBefore", "1s", TTL_MAX)
      .optional()
      .describe("How long before expiry a new certificate is minted. Default: one third of ttl, jittered."),
    privateKey: PrivateKeySchema,
    usages: setOf(z.enum(USAGES), 2, "usages")
      .min(1, "list at least one usage: client or server")
      .default(["client", "server"])
      .describe(
        "Accepted for compatibility only: the SPIFFE X.509-SVID standard (section 4.4) requires both serverAuth and clientAuth whenever extKeyUsage is present, so every certificate Signet issues carries both, whatever this lists.",
      ),
    secretName: dns1123Subdomain("secretName")
      .optional()
      .describe("Name of the kubernetes.io/tls Secret holding the identity. Default: <name>-identity."),
    scheduleRef: ObjectReferenceSchema.optional().describe(
      "AccessSchedule whose windows bound this identity: outside them no valid certificate exists.",
    ),
    suspend: z
      .boolean()
      .default(false)
      .describe(
        "True revokes the identity now: its Secret is removed and it leaves every AccessPolicy allow rule.",
      ),
    delivery: z
      .enum(DELIVERIES)
      .default("Secret")
      .describe(
        "How the holders receive the identity. Secret: Signet mints key and SVID into a kubernetes.io/tls Secret that is mounted into the pod. PodCertificate: the kubelet generates the key on the node and asks Signet's signer (signet.dev/svid) for the SVID through a PodCertificateRequest; the key is never stored in the API (needs Kubernetes 1.35+ with the PodCertificateRequest feature; ttl at least 1h). External: held by machines outside the cluster, which generate their keys themselves, enroll once with a single-use Enrollment token or exchange a trusted OIDC token, and renew over mutual TLS; no pod may take it and no Secret is written.",
      ),
    jwtSVID: JwtSvidSchema.optional(),
  }),
  [
    {
      rule: `!has(self.renewBefore) || !${celIsDuration("self.renewBefore")} || !${celIsDuration("self.ttl")} || duration(self.renewBefore) < duration(self.ttl)`,
      message: "renewBefore must be shorter than ttl; omit it to renew after two thirds of the lifetime",
      fieldPath: ".renewBefore",
      holds: (s) =>
        s.renewBefore === undefined ||
        !isDuration(s.renewBefore) ||
        !isDuration(s.ttl) ||
        parseDuration(s.renewBefore) < parseDuration(s.ttl),
    },
    {
      rule: `self.delivery != 'PodCertificate' || !${celIsDuration("self.ttl")} || duration(self.ttl) >= duration('${POD_CERTIFICATE_MIN_TTL}')`,
      message: `delivery PodCertificate needs a ttl of at least ${POD_CERTIFICATE_MIN_TTL}: the API server refuses pod certificates that live shorter; raise ttl or use delivery Secret`,
      fieldPath: ".ttl",
      holds: (s) =>
        s.delivery !== "PodCertificate" ||
        !isDuration(s.ttl) ||
        parseDuration(s.ttl) >= parseDuration(POD_CERTIFICATE_MIN_TTL),
    },
    {
      rule: "self.delivery != 'PodCertificate' || self.privateKey.algorithm != 'RSA' || (has(self.privateKey.size) && self.privateKey.size >= 3072)",
      message:
        "delivery PodCertificate supports RSA keys of 3072 or 4096 bits only (the kubelet generates no RSA 2048 key); set privateKey.size to 3072 or 4096, or use ECDSA",
      fieldPath: ".privateKey.size",
      holds: (s) =>
        s.delivery !== "PodCertificate" ||
        s.privateKey.algorithm !== "RSA" ||
        (s.privateKey.size !== undefined && s.privateKey.size >= 3072),
    },
    {
      rule: "self.delivery == 'External' || has(self.serviceAccounts)",
      message:
        "serviceAccounts is required: list at least one ServiceAccount whose pods may hold this identity (only an identity with delivery External, held outside the cluster, has none)",
      fieldPath: ".serviceAccounts",
      holds: (s) => s.delivery === "External" || s.serviceAccounts !== undefined,
    },
    {
      rule: "self.delivery != 'External' || !has(self.serviceAccounts)",
      message:
        "serviceAccounts has no meaning with delivery External: the identity is held by enrolled machines outside the cluster, never by a pod; remove serviceAccounts",
      fieldPath: ".serviceAccounts",
      holds: (s) => s.delivery !== "External" || s.serviceAccounts === undefined,
    },
    {
      rule: "self.delivery != 'External' || !has(self.secretName)",
      message:
        "secretName has no meaning with delivery External: no Secret is written, the enrolled machine holds its own key; remove secretName",
      fieldPath: ".secretName",
      holds: (s) => s.delivery !== "External" || s.secretName === undefined,
    },
    {
      rule: "self.delivery != 'PodCertificate' || !has(self.secretName)",
      message:
        "secretName has no meaning with delivery PodCertificate: no Secret is written, the kubelet holds the key; remove secretName",
      fieldPath: ".secretName",
      holds: (s) => s.delivery !== "PodCertificate" || s.secretName === undefined,
    },
  ],
).describe("Who a workload is and how its short-lived certificate is minted.");

export const MachineIdentityStatusSchema = z
  .object({
    conditions: conditionsField("identity").optional(),
    observedGeneration: ObservedGenerationSchema.optional(),
    spiffeID: z.string().max(2048).optional().describe("SPIFFE ID of the current certificate."),
    serialNumber: z
      .string()
      .max(128)
      .optional()
      .describe("Serial number of the current certificate, in hexadecimal."),
    notBefore: timestampField("notBefore")
      .optional()
      .describe("Start of the current certificate's validity."),
    notAfter: timestampField("notAfter").optional().describe("Expiry of the current certificate."),
    renewalTime: timestampField("renewalTime")
      .optional()
      .describe("When the next certificate will be minted."),
    rotations: z.number().int().min(0).optional().describe("How many certificates have been minted."),
    consumers: z.number().int().min(0).optional().describe("How many pods currently carry this identity."),
    podCertificates: z
      .object({
        issued: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("PodCertificateRequests the signer issued for this identity."),
        denied: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("PodCertificateRequests the signer denied for this identity."),
        lastIssueTime: timestampField("lastIssueTime")
          .optional()
          .describe("When the signer last issued a certificate for this identity."),
        lastDenial: z
          .object({
            time: timestampField("time").describe("When the request was denied."),
            pod: z.string().max(320).describe("namespace/name of the pod whose request was denied."),
            reason: z.string().max(128).describe("The Denied condition's reason."),
            message: z.string().max(32768).describe("The Denied condition's message."),
          })
          .optional()
          .describe("The signer's most recent denial of a request for this identity."),
      })
      .optional()
      .describe("What the PodCertificate signer did for this identity (delivery PodCertificate)."),
  })
  .describe("Observed state of the identity and its current certificate.");

export const MachineIdentitySchema = objectSchema(
  MACHINE_IDENTITY_KIND,
  // The name becomes the value of the signet.dev/identity pod label, which holds at most 63 characters.
  dns1123Label("metadata.name").describe(
    "Name of the identity; a DNS-1123 label because pods carry it as a label value.",
  ),
  MachineIdentitySpecSchema,
  MachineIdentityStatusSchema,
).describe(
  `MachineIdentity (${API_VERSION}): a short-lived, rotated X.509 SPIFFE identity for the pods of some ServiceAccounts.`,
);

export type PrivateKey = z.output<typeof PrivateKeySchema>;
export type JwtSvidSpec = z.output<typeof JwtSvidSchema>;
export type MachineIdentitySpec = z.output<typeof MachineIdentitySpecSchema>;
export type MachineIdentityStatus = z.output<typeof MachineIdentityStatusSchema>;
export type MachineIdentity = z.output<typeof MachineIdentitySchema>;
/** What a user may write: defaulted fields optional. */
export type MachineIdentityInput = z.input<typeof MachineIdentitySchema>;

/** The key size actually used: the explicit size or the algorithm's default (none for Ed25519). */
export function keySizeOf(key: PrivateKey): number | undefined {
  return key.size ?? KEY_SIZES[key.algorithm][0];
}
