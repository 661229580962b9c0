import { z } from "zod";
import { API_VERSION, ISSUANCE_POLICY_KIND } from "./constants.ts";
import { durationField, setOf, withRules } from "./fields.ts";
import { KEY_ALGORITHMS, TTL_MAX, TTL_MIN } from "./machine-identity.ts";
import { ObjectNameSchema, objectSchema } from "./object.ts";

/** The placeholder a pattern may use for the claiming identity's own namespace. */
export const NAMESPACE_PLACEHOLDER = "{namespace}";

const PATTERN_SEGMENT = "([A-Za-z0-9._*-]|[{]namespace[}])+";
const PATTERN_LABEL = "([a-z0-9*-]|[{]namespace[}])+";

/**
 * A SPIFFE ID pattern: a trust domain and path segments in which `*` matches any characters within
 * one segment, a whole segment `**` matches one or more segments, and `{namespace}` stands for the
 * claiming identity's namespace.
 */
export const SPIFFE_ID_PATTERN_PATTERN = `^spiffe://[a-z0-9._-]{1,255}(/${PATTERN_SEGMENT})+$`;
/**
 * A DNS name pattern: labels in which `*` matches any characters within one label (a requested
 * wildcard label `*.` only by a pattern label that is exactly `*`), a leftmost `**` matching one or
 * more labels, and `{namespace}` standing for the claiming identity's namespace.
 */
export const DNS_NAME_PATTERN_PATTERN = `^${PATTERN_LABEL}([.]${PATTERN_LABEL})*$`;

const LABEL_KEY_PATTERN =
  "^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
const LABEL_VALUE_PATTERN = "^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";

const labelKey = z
  .string()
  .max(317, "a label key must be at most 317 characters")
  .regex(new RegExp(LABEL_KEY_PATTERN), "must be a label key such as team or example.com/team");
const labelValue = z
  .string()
  .max(63, "a label value must be at most 63 characters")
  .regex(new RegExp(LABEL_VALUE_PATTERN), "must be a label value: letters, digits, '-', '_' and '.'");

export const SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;

export const LabelSelectorRequirementSchema = withRules(
  z.object({
    key: labelKey.describe("The label key the requirement applies to."),
    operator: z
      .enum(SELECTOR_OPERATORS)
      .describe("In, NotIn, Exists or DoesNotExist, as in a Kubernetes label selector."),
    values: setOf(labelValue, 64, "values")
      .optional()
      .describe("Values for In and NotIn (at least one); none for Exists and DoesNotExist."),
  }),
  [
    {
      rule: "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
      message: "In and NotIn need at least one value; Exists and DoesNotExist take none",
      fieldPath: ".values",
      holds: (r) =>
        (r.operator === "In" || r.operator === "NotIn") === (r.values !== undefined && r.values.length > 0),
    },
  ],
).describe("One requirement of a label selector.");

export const LabelSelectorSchema = z
  .object({
    matchLabels: z
      .record(labelKey, labelValue)
      .optional()
      .meta({ maxProperties: 64 })
      .describe("Labels a namespace must carry, each with exactly this value."),
    matchExpressions: z
      .array(LabelSelectorRequirementSchema)
      .max(16, "at most 16 matchExpressions are allowed")
      .optional()
      .describe("Requirements a namespace's labels must all meet."),
  })
  .describe("A Kubernetes label selector; {} selects every namespace.");

export const IssuancePolicySpecSchema = z
  .object({
    namespaceSelector: LabelSelectorSchema.describe(
      "The namespaces whose MachineIdentities this policy lets claim more; {} selects every namespace.",
    ),
    spiffeIDs: setOf(
      z
        .string()
        .max(2048, "each SPIFFE ID pattern must be at most 2048 characters")
        .regex(
          new RegExp(SPIFFE_ID_PATTERN_PATTERN),
          "each SPIFFE ID pattern must look like spiffe://<trust domain>/<path>, with '*' within a segment, a whole segment '**' for one or more segments, and {namespace} for the identity's namespace",
        ),
      64,
      "SPIFFE ID patterns",
    )
      .optional()
      .describe(
        "SPIFFE IDs the selected namespaces may claim beyond spiffe://<trust domain>/ns/<namespace>/..., e.g. spiffe://prod.example.org/payments/**.",
      ),
    dnsNames: setOf(
      z
        .string()
        .max(253, "each DNS name pattern must be at most 253 characters")
        .regex(
          new RegExp(DNS_NAME_PATTERN_PATTERN),
          "each DNS name pattern must be lowercase labels separated by '.', with '*' within a label, a leftmost '**' for one or more labels, and {namespace} for the identity's namespace",
        ),
      64,
      "DNS name patterns",
    )
      .optional()
      .describe(
        "DNS names the selected namespaces may claim beyond their own Services' names, e.g. *.payments.example.com.",
      ),
    maxTTL: durationField("maxTTL", TTL_MIN, TTL_MAX)
      .optional()
      .describe("The longest ttl a selected namespace's identity may ask for; the strictest policy wins."),
    keyAlgorithms: setOf(z.enum(KEY_ALGORITHMS), KEY_ALGORITHMS.length, "key algorithms")
      .min(1, "list at least one key algorithm, or omit keyAlgorithms to allow every one")
      .optional()
      .describe(
        "Key algorithms a selected namespace's identity may use (ECDSA, Ed25519, RSA); every policy that selects a namespace must allow it.",
      ),
  })
  .describe(
    "What the selected namespaces may claim. Grants (spiffeIDs, dnsNames) add up across policies; limits (maxTTL, keyAlgorithms) all apply.",
  );

export const IssuancePolicySchema = objectSchema(
  ISSUANCE_POLICY_KIND,
  ObjectNameSchema,
  IssuancePolicySpecSchema,
  z.object({}).describe("IssuancePolicy has no status."),
).describe(
  `IssuancePolicy (${API_VERSION}): cluster-scoped, owned by the cluster admin; which SPIFFE IDs, DNS names, lifetimes and keys the selected namespaces may claim.`,
);

export type LabelSelector = z.output<typeof LabelSelectorSchema>;
export type IssuancePolicySpec = z.output<typeof IssuancePolicySpecSchema>;
export type IssuancePolicy = z.output<typeof IssuancePolicySchema>;
