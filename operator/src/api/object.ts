import { z } from "zod";
import { API_VERSION, type SignetKind } from "./constants.ts";
import { dns1123Label, dns1123Subdomain } from "./fields.ts";

/**
 * The parts of ObjectMeta Signet reads. Other fields (uid, resourceVersion, ownerReferences, ...)
 * pass through untouched so that a parsed object can be written back.
 */
export function objectMetaSchema<N extends z.ZodType<string>>(name: N) {
  return z
    .looseObject({
      name,
      namespace: dns1123Label("metadata.namespace").optional().describe("Namespace of the object."),
      generation: z.number().int().optional().describe("Sequence number of the spec, set by the API server."),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .describe("Standard object metadata.");
}

/** The default name rule: what the API server itself requires of custom object names. */
export const ObjectNameSchema = dns1123Subdomain("metadata.name").describe("Name of the object.");

/** A whole Signet object: apiVersion, kind, metadata, spec and optional status. */
export function objectSchema<
  K extends SignetKind,
  N extends z.ZodType<string>,
  S extends z.ZodType,
  T extends z.ZodType,
>(kind: K, name: N, spec: S, status: T) {
  return z.object({
    apiVersion: z.literal(API_VERSION).describe(`Always ${API_VERSION}.`),
    kind: z.literal(kind).describe(`Always ${kind}.`),
    metadata: objectMetaSchema(name),
    spec,
    status: status.optional(),
  });
}
