import { z } from "zod";
import { API_VERSION, TRUSTED_ISSUER_KIND } from "./constants.ts";
import { celString, dns1123Label, dns1123Subdomain, setOf, withRules } from "./fields.ts";
import { ObjectNameSchema, objectSchema } from "./object.ts";

/** A claim name a rule may test: a top-level claim of the token, such as repository or ref. */
export const CLAIM_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$";
const CLAIM_NAME = new RegExp(CLAIM_NAME_PATTERN);

export const ExchangeRuleSchema = z
  .object({
    identity: z
      .object({
        namespace: dns1123Label("identity.namespace").describe("Namespace of the MachineIdentity."),
        name: dns1123Subdomain("identity.name").describe(
          "Name of the MachineIdentity; it must have spec.delivery External.",
        ),
      })
      .describe("The MachineIdentity a token that matches this rule is exchanged for."),
    claims: withRules(
      z.record(
        z.string(),
        z
          .string()
          .min(1, "each claim pattern must be at least 1 character")
          .max(256, "each claim pattern must be at most 256 characters"),
      ),
      [
        {
          rule: `self.all(k, k.matches(${celString(CLAIM_NAME_PATTERN)}))`,
          message:
            "every claim name must be a top-level claim of at most 64 characters: a letter or _ then letters, digits, _, ., : or -",
          holds: (c) => Object.keys(c).every((k) => CLAIM_NAME.test(k)),
        },
        {
          rule: "size(self) >= 1",
          message: "claims must test between 1 and 16 claims, e.g. repository and ref",
          holds: (c) => Object.keys(c).length >= 1 && Object.keys(c).length <= 16,
        },
      ],
    )
      .meta({ maxProperties: 16 })
      .describe(
        'Every listed claim must match: the claim is a string, number or boolean whose text equals the pattern, where "*" in the pattern matches any run of characters (e.g. ref: "refs/heads/release-*"). A claim the token lacks never matches.',
      ),
  })
  .describe("Which tokens of the issuer become which identity.");

export const TrustedIssuerSpecSchema = withRules(
  z.object({
    issuer: z
      .string()
      .min(1)
      .max(512, "issuer must be at most 512 characters")
      .regex(/^\S+$/, "issuer must contain no whitespace")
      .describe(
        "The iss claim of the tokens, exactly, e.g. https://token.actions.githubusercontent.com. Without jwks it must be an https URL: the keys are read from its OIDC discovery document.",
      ),
    jwks: z
      .string()
      .max(65536, "jwks must be at most 65536 characters")
      .optional()
      .describe(
        "The issuer's public keys as a JWKS JSON document ({\"keys\": [...]}), for an issuer whose discovery Signet cannot or should not reach. Absent: read from the issuer's discovery document and refreshed.",
      ),
    caBundle: z
      .string()
      .max(65536, "caBundle must be at most 65536 characters")
      .optional()
      .describe(
        "PEM certificates to verify the issuer's discovery and JWKS endpoints with, instead of the system's roots.",
      ),
    audiences: setOf(z.string().min(1).max(256).regex(/^\S+$/), 16, "audiences")
      .min(1, "list at least one audience the tokens must be issued for, e.g. signet")
      .describe("A token is accepted only if its aud holds one of these."),
    rules: z
      .array(ExchangeRuleSchema)
      .min(1, "list at least one rule mapping tokens to a MachineIdentity")
      .max(64, "at most 64 rules are allowed")
      .describe("Checked in order: the first rule whose claims all match names the identity."),
  }),
  [
    {
      rule: "has(self.jwks) || self.issuer.startsWith('https://')",
      message:
        "issuer must be an https URL when jwks is absent, since the keys are read from its discovery document; or give the keys in jwks",
      fieldPath: ".issuer",
      holds: (s) => s.jwks !== undefined || s.issuer.startsWith("https://"),
    },
  ],
).describe(
  "An OIDC issuer (a CI system, a cloud, another cluster) whose tokens may be exchanged for a short-lived SVID or JWT-SVID of the identities its rules name.",
);

export const TrustedIssuerSchema = objectSchema(
  TRUSTED_ISSUER_KIND,
  ObjectNameSchema,
  TrustedIssuerSpecSchema,
  z.object({}).describe("TrustedIssuer has no status."),
).describe(`TrustedIssuer (${API_VERSION}): tokens of an OIDC issuer that Signet exchanges for identities.`);

export type ExchangeRule = z.output<typeof ExchangeRuleSchema>;
export type TrustedIssuerSpec = z.output<typeof TrustedIssuerSpecSchema>;
export type TrustedIssuer = z.output<typeof TrustedIssuerSchema>;
export type TrustedIssuerInput = z.input<typeof TrustedIssuerSchema>;
