import { z } from "zod";
import { ACCESS_POLICY_KIND, API_VERSION } from "./constants.ts";
import {
  conditionsField,
  dns1123Label,
  dns1123Subdomain,
  mapListOf,
  ObjectReferenceSchema,
  ObservedGenerationSchema,
  setOf,
  timestampField,
} from "./fields.ts";
import { ObjectNameSchema, objectSchema } from "./object.ts";

export const PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const PortSchema = z
  .object({
    port: z
      .number()
      .int("port must be a whole number")
      .min(1, "port must be between 1 and 65535")
      .max(65535, "port must be between 1 and 65535")
      .describe("Port number on the target's pods."),
    protocol: z.enum(PROTOCOLS).default("TCP").describe("TCP, UDP or SCTP. Default TCP."),
  })
  .describe("A port the allowed identities may reach.");

/** An upper-case HTTP method token, as Node's parser and the proofs' htm carry it. */
export const HTTP_METHOD_PATTERN = "^[A-Z]+(-[A-Z]+)*$";

// Path characters that may appear unencoded in an HTTP path (RFC 3986 pchar and "/"), without "*".
const PATH_CHAR = "[-A-Za-z0-9._~!$&'()+,;=:@%/]";
/** An exact path ("/v1/pay") or a prefix ending in "/*" ("/v1/*", or "/*" for every path). */
export const HTTP_PATH_PATTERN = `^/(${PATH_CHAR}*|(${PATH_CHAR}*/)?[*])$`;

export const HttpRuleSchema = z
  .object({
    methods: setOf(
      z
        .string()
        .max(32, "http.methods[] must be at most 32 characters")
        .regex(
          new RegExp(HTTP_METHOD_PATTERN),
          "http.methods[] must be an HTTP method in upper case, e.g. GET",
        ),
      16,
      "http.methods",
    )
      .optional()
      .describe("HTTP methods allowed, in upper case. Default: every method."),
    paths: setOf(
      z
        .string()
        .max(1024, "http.paths[] must be at most 1024 characters")
        .regex(
          new RegExp(HTTP_PATH_PATTERN),
          'http.paths[] must start with "/" and be an exact path ("/v1/pay") or a prefix ending in "/*" ("/v1/*")',
        ),
      32,
      "http.paths",
    )
      .optional()
      .describe(
        'Request paths allowed: exact ("/v1/pay") or a prefix ending in "/*" ("/v1/*" matches "/v1/" and every path below it). Default: every path.',
      ),
  })
  .describe(
    "Which HTTP requests the identity may make, as `signet proxy` enforces them. NetworkPolicies ignore it (they work at layer 4).",
  );

export const AccessPolicySpecSchema = z
  .object({
    target: z
      .object({
        identity: dns1123Label("target.identity").describe(
          "Name of the MachineIdentity, in this namespace, whose pods receive the traffic.",
        ),
        ports: mapListOf(PortSchema, ["port", "protocol"], 32, "ports")
          .optional()
          .describe("Ports the access is limited to. Default: all ports."),
      })
      .describe("The pods being protected, chosen by their identity."),
    allowFrom: z
      .array(
        z
          .object({
            identity: dns1123Label("allowFrom.identity").describe("Name of the MachineIdentity allowed in."),
            namespace: dns1123Label("allowFrom.namespace")
              .optional()
              .describe("Namespace of that identity. Default: this policy's namespace."),
            http: HttpRuleSchema.optional(),
          })
          .describe("An identity whose pods may connect."),
      )
      .min(1, "list at least one identity in allowFrom")
      .max(64, "at most 64 allowFrom entries are allowed")
      .describe("Identities whose pods may reach the target while the policy is active."),
    scheduleRef: ObjectReferenceSchema.optional().describe(
      "AccessSchedule that says when this access exists. Default: always.",
    ),
    suspend: z.boolean().default(false).describe("True removes this access now, whatever the schedule says."),
  })
  .describe("Which identities may reach which, and when.");

export const AccessPolicyStatusSchema = z
  .object({
    active: z.boolean().optional().describe("Whether the allow rule is currently in place."),
    reason: z
      .string()
      .max(1024)
      .optional()
      .describe("Why the policy is active or inactive, e.g. OutsideSchedule, Suspended."),
    nextTransition: timestampField("nextTransition")
      .optional()
      .describe("When the policy next becomes active or inactive, if ever."),
    networkPolicies: z
      .array(dns1123Subdomain("networkPolicies[]"))
      .max(64)
      .optional()
      .describe("Names of the NetworkPolicies that carry this policy."),
    conditions: conditionsField("policy").optional(),
    observedGeneration: ObservedGenerationSchema.optional(),
  })
  .describe("Observed state of the policy.");

export const AccessPolicySchema = objectSchema(
  ACCESS_POLICY_KIND,
  ObjectNameSchema,
  AccessPolicySpecSchema,
  AccessPolicyStatusSchema,
).describe(
  `AccessPolicy (${API_VERSION}): which identities may reach a target identity, turned into NetworkPolicies.`,
);

export type Port = z.output<typeof PortSchema>;
export type HttpRule = z.output<typeof HttpRuleSchema>;
export type AccessPolicySpec = z.output<typeof AccessPolicySpecSchema>;
export type AccessPolicyStatus = z.output<typeof AccessPolicyStatusSchema>;
export type AccessPolicy = z.output<typeof AccessPolicySchema>;
export type AccessPolicyInput = z.input<typeof AccessPolicySchema>;
