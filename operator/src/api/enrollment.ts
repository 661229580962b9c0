import { z } from "zod";
import { API_VERSION, ENROLLMENT_KIND } from "./constants.ts";
import { dns1123Label, dns1123Subdomain, durationField, timestampField, withRules } from "./fields.ts";
import { objectSchema } from "./object.ts";

/** Bounds and default of an enrollment token's life, counted from the Enrollment's creation. */
export const ENROLLMENT_TTL_MIN = "1m";
export const ENROLLMENT_TTL_MAX = "24h";
export const DEFAULT_ENROLLMENT_TTL = "10m";

/** The stored form of a token: its SHA-256, never the token itself. */
export const TOKEN_HASH_PATTERN = "^sha256:[0-9a-f]{64}$";

export const ENROLLMENT_PHASES = ["Pending", "Enrolled", "Expired"] as const;
export type EnrollmentPhase = (typeof ENROLLMENT_PHASES)[number];

export const EnrollmentSpecSchema = withRules(
  z.object({
    identity: dns1123Subdomain("identity").describe(
      "The MachineIdentity, in this namespace, that the machine enrolls as. It must have spec.delivery External.",
    ),
    tokenHash: z
      .string()
      .max(71, "tokenHash must be at most 71 characters")
      .regex(
        new RegExp(TOKEN_HASH_PATTERN),
        'tokenHash must be "sha256:" and 64 lowercase hexadecimal digits: the SHA-256 of the token, which `signet enroll` computes; never the token itself',
      )
      .describe(
        "The SHA-256 of the single-use token, as sha256:<hex>. The token itself is shown once, to whoever created it, and stored nowhere.",
      ),
    ttl: durationField("ttl", ENROLLMENT_TTL_MIN, ENROLLMENT_TTL_MAX)
      .default(DEFAULT_ENROLLMENT_TTL)
      .describe(
        `How long after this Enrollment's creation the token may be used, between ${ENROLLMENT_TTL_MIN} and ${ENROLLMENT_TTL_MAX}; never longer than the identity's ttl or past its access window.`,
      ),
  }),
  [
    {
      rule: "self == oldSelf",
      message:
        "spec is immutable: a token is bound to one identity for one life; delete this Enrollment and create a new one with `signet enroll`",
      holds: () => true,
    },
  ],
).describe("A single-use token that lets one machine outside the cluster enroll as a MachineIdentity.");

export const EnrollmentStatusSchema = z
  .object({
    phase: z
      .enum(ENROLLMENT_PHASES)
      .optional()
      .describe(
        "Pending: the token may be used until expiresAt. Enrolled: it was used, once; the machine renews with its certificate. Expired: it was never used and can no longer be.",
      ),
    expiresAt: timestampField("expiresAt").optional().describe("When the token can no longer be used."),
    server: z
      .object({
        caSHA256: z
          .string()
          .max(71)
          .optional()
          .describe(
            "sha256:<hex> of the SubjectPublicKeyInfo of Signet's serving CA, which the machine pins on its first connection.",
          ),
      })
      .optional()
      .describe("What the machine needs to trust the enrollment endpoint."),
    enrolledAt: timestampField("enrolledAt").optional().describe("When the token was used."),
    address: z.string().max(64).optional().describe("The network address the machine enrolled from."),
    certificate: z
      .object({
        serialNumber: z
          .string()
          .max(128)
          .describe("Serial number of the current certificate, in hexadecimal."),
        notAfter: timestampField("notAfter").describe("Expiry of the current certificate."),
      })
      .optional()
      .describe("The certificate the machine holds now; only it may renew."),
    previous: z
      .object({
        serialNumber: z.string().max(128).describe("Serial number of the superseded certificate."),
        supersededAt: timestampField("supersededAt").describe("When it was renewed."),
      })
      .optional()
      .describe(
        "The certificate renewed last; it may renew once more shortly after (a lost answer), later it is a sign of a copy.",
      ),
    renewals: z.number().int().min(0).optional().describe("How many times the machine has renewed."),
    lastRenewalTime: timestampField("lastRenewalTime").optional().describe("When the machine last renewed."),
    replays: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("How many times the token was presented again after its use: each is a possible theft."),
    lastReplay: z
      .object({
        time: timestampField("time").describe("When the token was presented again."),
        address: z.string().max(64).describe("From where."),
      })
      .optional()
      .describe("The last presentation of the used token."),
  })
  .describe("Observed state of the enrollment.");

export const EnrollmentSchema = objectSchema(
  ENROLLMENT_KIND,
  dns1123Label("metadata.name").describe(
    "Name of the Enrollment: a DNS label, as it is part of the token (signet-et1.<namespace>.<name>.<secret>).",
  ),
  EnrollmentSpecSchema,
  EnrollmentStatusSchema,
).describe(
  `Enrollment (${API_VERSION}): a single-use token for one outside machine, and afterwards the record of that machine's certificate.`,
);

export type EnrollmentSpec = z.output<typeof EnrollmentSpecSchema>;
export type EnrollmentStatus = z.output<typeof EnrollmentStatusSchema>;
export type Enrollment = z.output<typeof EnrollmentSchema>;
export type EnrollmentInput = z.input<typeof EnrollmentSchema>;
