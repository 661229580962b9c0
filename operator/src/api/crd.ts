import { stringify } from "yaml";
import { z } from "zod";
import { AccessPolicySpecSchema, AccessPolicyStatusSchema } from "./access-policy.ts";
import { AccessScheduleSpecSchema, AccessScheduleStatusSchema } from "./access-schedule.ts";
import { CLUSTER_SCOPED_KINDS, GROUP, KINDS, PLURALS, type SignetKind, VERSION } from "./constants.ts";
import { EnrollmentSchema, EnrollmentSpecSchema, EnrollmentStatusSchema } from "./enrollment.ts";
import { celString } from "./fields.ts";
import { IssuancePolicySpecSchema } from "./issuance-policy.ts";
import {
  MachineIdentitySchema,
  MachineIdentitySpecSchema,
  MachineIdentityStatusSchema,
} from "./machine-identity.ts";
import { TrustedIssuerSpecSchema } from "./trusted-issuer.ts";

/** A node of a structural OpenAPI v3 schema, as apiextensions.k8s.io/v1 accepts it. */
export type JsonSchema = { [key: string]: unknown };

interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

interface KindDefinition {
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  /** Absent for a kind whose objects only the cluster admin writes and nothing reports on. */
  status?: z.ZodType;
  /** A stricter rule for metadata.name than the API server's own, when the kind needs one. */
  name?: z.ZodType;
  columns: PrinterColumn[];
}

const AGE: PrinterColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  description: "Time since the object was created.",
};

// Future instants are printed as strings: kubectl shows a future "date" column as <invalid>.
const DEFINITIONS: Readonly<Record<SignetKind, KindDefinition>> = {
  MachineIdentity: {
    singular: "machineidentity",
    shortNames: ["mid"],
    description:
      "MachineIdentity gives the pods of some ServiceAccounts a short-lived, automatically rotated X.509 SPIFFE identity, kept in a kubernetes.io/tls Secret.",
    spec: MachineIdentitySpecSchema,
    status: MachineIdentityStatusSchema,
    name: MachineIdentitySchema.shape.metadata.shape.name,
    columns: [
      {
        name: "Ready",
        type: "string",
        jsonPath: '.status.conditions[?(@.type=="Ready")].status',
        description: "Whether a valid certificate is in place.",
      },
      {
        name: "SPIFFE ID",
        type: "string",
        jsonPath: ".status.spiffeID",
        description: "SPIFFE ID of the certificate.",
      },
      {
        name: "Expires",
        type: "string",
        jsonPath: ".status.notAfter",
        description: "Expiry of the certificate.",
      },
      AGE,
      {
        name: "Rotations",
        type: "integer",
        jsonPath: ".status.rotations",
        description: "Certificates minted so far.",
        priority: 1,
      },
      {
        name: "Consumers",
        type: "integer",
        jsonPath: ".status.consumers",
        description: "Pods carrying the identity.",
        priority: 1,
      },
    ],
  },
  AccessPolicy: {
    singular: "accesspolicy",
    shortNames: ["ap"],
    description:
      "AccessPolicy lets the pods of some identities reach the pods of a target identity, as NetworkPolicies that exist only while the policy is active.",
    spec: AccessPolicySpecSchema,
    status: AccessPolicyStatusSchema,
    columns: [
      {
        name: "Target",
        type: "string",
        jsonPath: ".spec.target.identity",
        description: "The protected identity.",
      },
      {
        name: "Active",
        type: "boolean",
        jsonPath: ".status.active",
        description: "Whether access exists now.",
      },
      {
        name: "Next",
        type: "string",
        jsonPath: ".status.nextTransition",
        description: "When access next opens or closes.",
      },
      AGE,
      {
        name: "Reason",
        type: "string",
        jsonPath: ".status.reason",
        description: "Why access is open or closed.",
        priority: 1,
      },
    ],
  },
  AccessSchedule: {
    singular: "accessschedule",
    shortNames: ["as"],
    description:
      "AccessSchedule says when access exists: weekly windows in a time zone and one-off just-in-time grants.",
    spec: AccessScheduleSpecSchema,
    status: AccessScheduleStatusSchema,
    columns: [
      {
        name: "Active",
        type: "boolean",
        jsonPath: ".status.active",
        description: "Whether a window is open now.",
      },
      {
        name: "Window End",
        type: "string",
        jsonPath: ".status.currentWindowEnd",
        description: "When the open window closes.",
      },
      {
        name: "Next Start",
        type: "string",
        jsonPath: ".status.nextWindowStart",
        description: "When the next window opens.",
      },
      AGE,
    ],
  },
  IssuancePolicy: {
    singular: "issuancepolicy",
    shortNames: ["isp"],
    description:
      "IssuancePolicy, cluster-scoped and owned by the cluster admin, lets the MachineIdentities of the selected namespaces claim SPIFFE IDs and DNS names beyond their own namespace's, and bounds their lifetimes and key types.",
    spec: IssuancePolicySpecSchema,
    columns: [AGE],
  },
  Enrollment: {
    singular: "enrollment",
    shortNames: ["enr"],
    description:
      "Enrollment is a single-use token that lets one machine outside the cluster enroll as a MachineIdentity with a key it generated itself, and afterwards the record of the certificate that machine renews with.",
    spec: EnrollmentSpecSchema,
    status: EnrollmentStatusSchema,
    name: EnrollmentSchema.shape.metadata.shape.name,
    columns: [
      {
        name: "Identity",
        type: "string",
        jsonPath: ".spec.identity",
        description: "The MachineIdentity the machine enrolls as.",
      },
      {
        name: "Phase",
        type: "string",
        jsonPath: ".status.phase",
        description: "Pending, Enrolled or Expired.",
      },
      {
        name: "Expires",
        type: "string",
        jsonPath: ".status.expiresAt",
        description: "When the unused token expires.",
      },
      {
        name: "Renewals",
        type: "integer",
        jsonPath: ".status.renewals",
        description: "Renewals by the enrolled machine.",
      },
      AGE,
      {
        name: "Replays",
        type: "integer",
        jsonPath: ".status.replays",
        description: "Presentations of the used token: possible thefts.",
        priority: 1,
      },
    ],
  },
  TrustedIssuer: {
    singular: "trustedissuer",
    shortNames: ["tis"],
    description:
      "TrustedIssuer, cluster-scoped and owned by the cluster admin, names an OIDC issuer whose tokens (a CI pipeline's, a cloud's) Signet exchanges for a short-lived SVID or JWT-SVID of the MachineIdentities its rules map them to.",
    spec: TrustedIssuerSpecSchema,
    columns: [
      {
        name: "Issuer",
        type: "string",
        jsonPath: ".spec.issuer",
        description: "The iss of the accepted tokens.",
      },
      AGE,
    ],
  },
};

/** Keys a structural CRD schema may carry, in the order they are written out. */
const KEY_ORDER = [
  "description",
  "type",
  "format",
  "enum",
  "default",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "minProperties",
  "maxProperties",
  "additionalProperties",
  "items",
  "required",
  "properties",
  "x-kubernetes-validations",
] as const;

const ALLOWED = new Set<string>(KEY_ORDER);
const TYPES = new Set(["object", "array", "string", "integer", "number", "boolean"]);

/**
 * Turns zod's JSON Schema into a structural schema: the keywords Kubernetes accepts, in a fixed
 * order, integer enums typed as integers, and zod's implicit safe-integer bounds dropped.
 * Anything else ($ref, anyOf, const, additionalProperties, ...) is a schema the API server would
 * reject or prune differently, so it fails the generation instead of reaching a cluster.
 */
export function structural(input: JsonSchema, path = "#"): JsonSchema {
  const node = withKeyRules(input);
  const extra = Object.keys(node).filter((k) => !ALLOWED.has(k));
  if (extra.length) throw new Error(`${path}: not allowed in a structural CRD schema: ${extra.join(", ")}`);
  const out: JsonSchema = {};
  for (const key of KEY_ORDER) {
    const value = node[key];
    if (value === undefined) continue;
    if (key === "properties") {
      const props: JsonSchema = {};
      for (const [name, child] of Object.entries(value as Record<string, JsonSchema>)) {
        props[name] = structural(child, `${path}.${name}`);
      }
      out[key] = props;
    } else if (key === "additionalProperties") {
      // A map of strings (label selectors); `false` is what zod writes for a closed object.
      if (value !== false) out[key] = structural(value as JsonSchema, `${path}{}`);
    } else if (key === "items") {
      out[key] = structural(value as JsonSchema, `${path}[]`);
    } else if (
      (key === "minimum" || key === "maximum") &&
      Math.abs(value as number) === Number.MAX_SAFE_INTEGER
    ) {
      // zod adds these to every int(); Kubernetes integers are int64 already.
    } else if (key === "pattern") {
      // RegExp.source escapes "/"; both RE2 and ECMAScript read a bare "/" the same way.
      out[key] = (value as string).replaceAll("\\/", "/");
    } else if (key === "required" && (value as string[]).length === 0) {
      // An empty list says nothing.
    } else {
      out[key] = value;
    }
  }
  if (out.properties !== undefined && out.additionalProperties !== undefined)
    throw new Error(`${path}: a structural schema cannot have both properties and additionalProperties`);
  if (out.type === "number" && Array.isArray(out.enum) && out.enum.every(Number.isInteger))
    out.type = "integer";
  if (out.type === undefined) throw new Error(`${path}: every node of a structural schema needs a type`);
  if (!TYPES.has(out.type as string))
    throw new Error(`${path}: type must be one of ${[...TYPES].join(", ")}`);
  return out;
}

/**
 * A map's key schema (zod's propertyNames, which structural schemas lack) as a CEL rule on the map,
 * so that the API server refuses the same keys zod does.
 */
function withKeyRules(node: JsonSchema): JsonSchema {
  const { propertyNames, ...rest } = node as JsonSchema & { propertyNames?: JsonSchema };
  if (!propertyNames) return node;
  const checks: string[] = [];
  if (typeof propertyNames.maxLength === "number") checks.push(`size(k) <= ${propertyNames.maxLength}`);
  if (typeof propertyNames.pattern === "string")
    checks.push(`k.matches(${celString((propertyNames.pattern as string).replaceAll("\\/", "/"))})`);
  if (checks.length === 0) return rest;
  const rules = (rest["x-kubernetes-validations"] as unknown[] | undefined) ?? [];
  return {
    ...rest,
    "x-kubernetes-validations": [
      ...rules,
      {
        rule: `self.all(k, ${checks.join(" && ")})`,
        message:
          typeof propertyNames.description === "string"
            ? propertyNames.description
            : "every key must be a label key such as team or example.com/team",
      },
    ],
  };
}

/** The structural OpenAPI schema of a zod schema, as the user writes objects (defaults optional). */
export function openAPISchemaOf(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "throw",
  }) as JsonSchema;
  return structural(json);
}

function rootSchema(kind: SignetKind): JsonSchema {
  const def = DEFINITIONS[kind];
  const metadata: JsonSchema = { type: "object" };
  if (def.name) {
    const { description: _, ...name } = openAPISchemaOf(def.name);
    metadata.properties = { name };
  }
  return {
    description: def.description,
    type: "object",
    required: ["spec"],
    properties: {
      apiVersion: {
        description:
          "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.",
        type: "string",
      },
      kind: {
        description:
          "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.",
        type: "string",
      },
      metadata,
      spec: openAPISchemaOf(def.spec),
      ...(def.status ? { status: openAPISchemaOf(def.status) } : {}),
    },
  };
}

/** The CustomResourceDefinition of a kind, as a plain object. */
export function crdFor(kind: SignetKind): JsonSchema {
  const def = DEFINITIONS[kind];
  const plural = PLURALS[kind];
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${plural}.${GROUP}`,
      labels: { "app.kubernetes.io/name": "signet", "app.kubernetes.io/part-of": "signet" },
    },
    spec: {
      group: GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ["signet"],
      },
      scope: CLUSTER_SCOPED_KINDS.has(kind) ? "Cluster" : "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: rootSchema(kind) },
          ...(def.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: def.columns,
        },
      ],
    },
  };
}

/** The file name of a kind's CRD under crds/, in controller-gen's convention. */
export function crdFileName(kind: SignetKind): string {
  return `${GROUP}_${PLURALS[kind]}.yaml`;
}

const HEADER = "# Generated from operator/src/api by `npm run generate`. Do not edit by hand.\n";

/** A kind's CRD as YAML text; the same schemas always give byte-identical text. */
export function renderCrd(kind: SignetKind): string {
  return HEADER + stringify(crdFor(kind), { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Every CRD, keyed by its file name under crds/. */
export function renderCrds(): { fileName: string; yaml: string }[] {
  return KINDS.map((kind) => ({ fileName: crdFileName(kind), yaml: renderCrd(kind) }));
}
