import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { KINDS } from "./constants.ts";
import { crdFileName, crdFor, type JsonSchema, openAPISchemaOf, renderCrds, structural } from "./crd.ts";

const crdsDir = fileURLToPath(new URL("../../../crds/", import.meta.url));

type Crd = {
  spec: {
    names: { shortNames: string[]; categories: string[] };
    versions: {
      schema: { openAPIV3Schema: JsonSchema };
      subresources: unknown;
      additionalPrinterColumns: { name: string; jsonPath: string }[];
    }[];
  };
};

function version(kind: (typeof KINDS)[number]) {
  const v = (crdFor(kind) as Crd).spec.versions[0];
  if (!v) throw new Error("no version");
  return v;
}

/** Every schema node under spec and status, with its path. */
function* nodes(node: JsonSchema, path: string): Generator<[string, JsonSchema]> {
  yield [path, node];
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)) {
    yield* nodes(child, `${path}.${name}`);
  }
  if (node.items) yield* nodes(node.items as JsonSchema, `${path}[]`);
}

function at(root: JsonSchema, path: string): JsonSchema {
  const found = [...nodes(root, "")].find(([p]) => p === path);
  if (!found) throw new Error(`no schema node at ${path}`);
  return found[1];
}

describe("the CRD generator", () => {
  it("should give byte-identical output on every run", () => {
    expect(renderCrds()).toEqual(renderCrds());
  });

  it("should match the committed crds/ exactly (run npm run generate after changing the schemas)", () => {
    const generated = renderCrds();
    expect(
      readdirSync(crdsDir)
        .filter((f) => f.endsWith(".yaml"))
        .sort(),
    ).toEqual(generated.map((c) => c.fileName).sort());
    for (const { fileName, yaml } of generated) {
      expect(readFileSync(`${crdsDir}${fileName}`, "utf8"), fileName).toBe(yaml);
    }
  });

  it("should name the files as controller-gen does", () => {
    expect(KINDS.map(crdFileName)).toEqual([
      "signet.dev_machineidentities.yaml",
      "signet.dev_accesspolicies.yaml",
      "signet.dev_accessschedules.yaml",
      "signet.dev_issuancepolicies.yaml",
      "signet.dev_enrollments.yaml",
      "signet.dev_trustedissuers.yaml",
    ]);
  });

  it.each(KINDS)("should give %s a short name, category and printer columns", (kind) => {
    const crd = crdFor(kind) as Crd;
    expect(crd.spec.names.categories).toEqual(["signet"]);
    expect(crd.spec.names.shortNames).toHaveLength(1);
    expect(version(kind).additionalPrinterColumns.map((c) => c.name)).toContain("Age");
  });

  it.each([
    ["MachineIdentity", "Namespaced", { status: {} }],
    ["AccessPolicy", "Namespaced", { status: {} }],
    ["AccessSchedule", "Namespaced", { status: {} }],
    ["IssuancePolicy", "Cluster", undefined],
  ] as const)("should make %s %s with status subresource %j", (kind, scope, subresources) => {
    expect((crdFor(kind) as { spec: { scope: string } }).spec.scope).toBe(scope);
    expect(version(kind).subresources).toEqual(subresources);
  });

  it("should check the keys of a label map on the API server, since structural schemas have no propertyNames", () => {
    const root = version("IssuancePolicy").schema.openAPIV3Schema;
    const matchLabels = at(root, ".spec.namespaceSelector.matchLabels");
    expect(matchLabels.additionalProperties).toMatchObject({ type: "string", maxLength: 63 });
    expect(JSON.stringify(matchLabels["x-kubernetes-validations"])).toContain("self.all(k, size(k) <= 317");
  });

  it.each([
    ["MachineIdentity", ["Ready", "SPIFFE ID", "Expires", "Age"]],
    ["AccessPolicy", ["Target", "Active", "Next", "Age"]],
    ["AccessSchedule", ["Active", "Window End", "Next Start", "Age"]],
  ] as const)("should show %s's columns %j by default", (kind, names) => {
    const columns = version(kind).additionalPrinterColumns as { name: string; priority?: number }[];
    expect(columns.filter((c) => !c.priority).map((c) => c.name)).toEqual(names);
  });

  it.each(KINDS)("should describe every field of %s, for generated docs and kubectl explain", (kind) => {
    const root = version(kind).schema.openAPIV3Schema;
    const undocumented = [...nodes(root, "")]
      .filter(([path, node]) => /^\.(spec|status)/.test(path) && typeof node.description !== "string")
      .map(([path]) => path)
      // Items of scalar lists are described by their list.
      .filter((path) => !path.endsWith("[]"));
    expect(undocumented).toEqual([]);
  });

  it.each(KINDS)(
    "should bound every string and list of %s so CEL costs and object sizes stay bounded",
    (kind) => {
      const unbounded = [...nodes(version(kind).schema.openAPIV3Schema, "")]
        .filter(([path]) => /^\.(spec|status)/.test(path))
        .filter(
          ([, n]) =>
            (n.type === "string" && n.maxLength === undefined && n.enum === undefined) ||
            (n.type === "array" && n.maxItems === undefined),
        )
        .map(([path]) => path);
      expect(unbounded).toEqual([]);
    },
  );

  it("should carry the defaults of the design in the CRDs", () => {
    const mi = version("MachineIdentity").schema.openAPIV3Schema;
    expect(at(mi, ".spec.ttl").default).toBe("1h");
    expect(at(mi, ".spec.privateKey").default).toEqual({ algorithm: "ECDSA", size: 256 });
    expect(at(mi, ".spec.usages").default).toEqual(["client", "server"]);
    expect(at(mi, ".spec.suspend").default).toBe(false);
    const as = version("AccessSchedule").schema.openAPIV3Schema;
    expect(at(as, ".spec.timeZone").default).toBe("UTC");
    const ap = version("AccessPolicy").schema.openAPIV3Schema;
    expect(at(ap, ".spec.target.ports[].protocol").default).toBe("TCP");
  });

  it("should restrict MachineIdentity names to DNS-1123 labels, since pods carry them as label values", () => {
    const name = at(version("MachineIdentity").schema.openAPIV3Schema, ".metadata.name");
    expect(name.maxLength).toBe(63);
    expect(at(version("AccessPolicy").schema.openAPIV3Schema, ".metadata").properties).toBeUndefined();
  });

  it("should write YAML that reads back as the CRD object", () => {
    for (const [i, { yaml }] of renderCrds().entries()) {
      expect(parse(yaml)).toEqual(crdFor(KINDS[i] as (typeof KINDS)[number]));
    }
  });
});

describe("structural", () => {
  it.each([
    ["a union of scalars", z.object({ a: z.union([z.string(), z.number()]) }), "type must be one of"],
    [
      "a union of objects",
      z.object({ a: z.union([z.object({ b: z.string() }), z.object({ c: z.string() })]) }),
      "anyOf",
    ],
    ["a literal", z.object({ a: z.literal("x") }), "const"],
    [
      "an object with known keys and a catch-all",
      z.object({ a: z.object({ b: z.string() }).catchall(z.string()) }),
      "properties and additionalProperties",
    ],
  ])("should refuse %s, which is not structural", (_, schema, keyword) => {
    expect(() => openAPISchemaOf(schema)).toThrow(keyword);
  });

  it("should turn a record of strings into additionalProperties with its key rule in CEL", () => {
    const schema = openAPISchemaOf(
      z.object({ a: z.record(z.string().max(5).regex(/^k$/), z.string().max(3)).describe("m") }),
    );
    expect((schema.properties as Record<string, JsonSchema>).a).toEqual({
      description: "m",
      type: "object",
      additionalProperties: { type: "string", maxLength: 3 },
      "x-kubernetes-validations": [
        {
          rule: "self.all(k, size(k) <= 5 && k.matches('^k$'))",
          message: "every key must be a label key such as team or example.com/team",
        },
      ],
    });
  });

  it("should refuse a node without a type", () => {
    expect(() => structural({ description: "x" })).toThrow("needs a type");
  });

  it("should drop zod's safe-integer bounds, type integer enums as integers and unescape slashes", () => {
    expect(
      openAPISchemaOf(
        z.object({
          n: z.number().int(),
          k: z.literal([1, 2]),
          p: z
            .string()
            .max(9)
            .regex(/^a\/b$/),
        }),
      ),
    ).toEqual({
      type: "object",
      required: ["n", "k", "p"],
      properties: {
        n: { type: "integer" },
        k: { type: "integer", enum: [1, 2] },
        p: { type: "string", maxLength: 9, pattern: "^a/b$" },
      },
    });
  });
});
