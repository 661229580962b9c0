import { z } from "zod";
import { ACCESS_POLICY_KIND, API_VERSION } from "./constants.ts";
import {
  conditionsField,
  dns1123Label,
  dns1123Subdomain,
  mapListOf,
  ObjectReferenceSchema,
  ObservedGenerationSchema,
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
export type AccessPolicySpec = z.output<typeof AccessPolicySpecSchema>;
export type AccessPolicyStatus = z.output<typeof AccessPolicyStatusSchema>;
export type AccessPolicy = z.output<typeof AccessPolicySchema>;
export type AccessPolicyInput = z.input<typeof AccessPolicySchema>;
