import { readdirSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  CLUSTER_SCOPED_KINDS,
  GROUP,
  KINDS,
  PLURALS,
  type SignetKind,
  VERSION,
} from "../../operator/src/api/constants.ts";
import { validate } from "../../operator/src/api/validation.ts";
import {
  INVALID_CASES,
  type Manifest,
  machineIdentity,
  VALID_EDGE_CASES,
} from "../../testing/invalid-manifests.ts";
import { createNamespace, kubeConfig } from "../support/cluster.ts";
import { committedCrds, installCrds } from "../support/crds.ts";

const examplesDir = fileURLToPath(new URL("../../examples/", import.meta.url));

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: unknown;
};

const examples: [string, Doc][] = readdirSync(examplesDir)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(`${examplesDir}${file}`, "utf8")).map(
      (d) => [`${file}: ${d.toJS().kind} ${d.toJS().metadata.name}`, d.toJS() as Doc] as [string, Doc],
    ),
  );

interface Status {
  code: number;
  message: string;
  causes: { field?: string; message?: string }[];
}

/** The Status an ApiException carries, whatever form client-node left its body in. */
function statusOf(err: unknown): Status {
  const { code, body } = err as { code?: number; body?: unknown };
  const parsed = (typeof body === "string" ? JSON.parse(body) : body) as {
    message?: string;
    details?: { causes?: Status["causes"] };
  };
  return { code: code ?? 0, message: parsed?.message ?? String(err), causes: parsed?.details?.causes ?? [] };
}

describe("Signet's CRDs on a real API server", () => {
  const kc = kubeConfig();
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  let namespace = "";

  /** Server-side dry run of a create with strict field validation, so typos are errors, not pruned. */
  const dryRun = (manifest: { kind: string } & object) => {
    const kind = manifest.kind as SignetKind;
    const common = {
      group: GROUP,
      version: VERSION,
      plural: PLURALS[kind],
      dryRun: "All",
      fieldValidation: "Strict",
    };
    return (
      CLUSTER_SCOPED_KINDS.has(kind)
        ? // Cluster-scoped names are shared with every other file: a dry run gets one of its own.
          objects.createClusterCustomObject({
            ...common,
            body: { ...manifest, metadata: { name: `${(manifest as Manifest).metadata.name}-${namespace}` } },
          })
        : objects.createNamespacedCustomObject({
            ...common,
            namespace,
            body: { ...manifest, metadata: { ...(manifest as Manifest).metadata, namespace } },
          })
    ) as Promise<{ spec: unknown }>;
  };

  beforeAll(async () => {
    await installCrds(kc);
    namespace = await createNamespace(kc, "api");
  });

  it("establishes the six CRDs with their short names and the signet category", async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const installed = await Promise.all(
      KINDS.map((kind) => ext.readCustomResourceDefinition({ name: `${PLURALS[kind]}.${GROUP}` })),
    );
    expect(
      installed.map((c) => [c.spec.names.kind, c.spec.names.shortNames, c.spec.names.categories]),
    ).toEqual([
      ["MachineIdentity", ["mid"], ["signet"]],
      ["AccessPolicy", ["ap"], ["signet"]],
      ["AccessSchedule", ["as"], ["signet"]],
      ["IssuancePolicy", ["isp"], ["signet"]],
      ["Enrollment", ["enr"], ["signet"]],
      ["TrustedIssuer", ["tis"], ["signet"]],
    ]);
    expect(committedCrds()).toHaveLength(6);
  });

  it("serves exactly the committed schemas, defaults and CEL rules included", async () => {
    // A client that sends a plain parsed CRD through client-node's typed serializer loses every
    // default and x-kubernetes-* key; this names that cause instead of failing case by case.
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    for (const crd of committedCrds()) {
      const served = await ext.readCustomResourceDefinition({ name: crd.metadata?.name ?? "" });
      expect(served.spec.versions[0]?.schema, crd.metadata?.name).toEqual(crd.spec.versions[0]?.schema);
    }
  });

  describe("the examples", () => {
    it.each(examples)("accepts %s in a server-side dry run", async (_, doc) => {
      if (doc.kind === "Namespace") {
        const core = kc.makeApiClient(k8s.CoreV1Api);
        await core
          .createNamespace({ body: doc as k8s.V1Namespace, dryRun: "All", fieldValidation: "Strict" })
          .catch((err: unknown) => {
            // Another run against the same cluster may have created it for real.
            if (statusOf(err).code !== 409) throw err;
          });
      } else if (doc.kind === "ServiceAccount") {
        const core = kc.makeApiClient(k8s.CoreV1Api);
        await core.createNamespacedServiceAccount({
          namespace,
          body: { ...doc, metadata: { ...doc.metadata, namespace } },
          dryRun: "All",
          fieldValidation: "Strict",
        });
      } else {
        const created = await dryRun(doc);
        // The API server's defaults (from the CRD) and the operator's (from zod) are the same.
        // Validated in its own namespace: the spiffeID of payments-api names shop.
        const parsed = validate(doc.kind as SignetKind, doc);
        expect(parsed.problems).toEqual([]);
        expect(created.spec).toEqual(parsed.value?.spec);
      }
    });
  });

  describe("edge cases that are valid", () => {
    it.each(VALID_EDGE_CASES.map((c) => [c.name, c.manifest] as const))(
      "accepts %s, with the defaults zod applies",
      async (_, manifest) => {
        const created = await dryRun(manifest);
        expect(created.spec).toEqual(validate(manifest.kind, manifest).value?.spec);
      },
    );
  });

  describe("invalid manifests", () => {
    it.each(INVALID_CASES.map((c) => [c.name, c] as const))(
      "rejects a manifest with %s (422, naming the field)",
      async (_, c) => {
        const err = await dryRun(c.manifest).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, "the API server accepted it").toBeDefined();
        const status = statusOf(err);
        expect(status.code).toBe(422);
        expect(status.causes.map((cause) => cause.field)).toContain(c.field);
        expect(status.message).toContain(`${c.field}: `);
      },
    );

    it("includes CEL rules among the cases, each reported with its own message", async () => {
      const celCases = INVALID_CASES.filter((c) => c.cel);
      expect(celCases.length).toBeGreaterThanOrEqual(8);
      const err = await dryRun(machineIdentity({ ttl: "1h", renewBefore: "2h" })).catch((e: unknown) => e);
      expect(statusOf(err).message).toContain("spec.renewBefore: Invalid value: ");
      expect(statusOf(err).message).toContain("renewBefore must be shorter than ttl");
    });
  });

  describe("status", () => {
    const ref = () => ({ group: GROUP, version: VERSION, namespace, plural: PLURALS.MachineIdentity });
    const status = {
      observedGeneration: 1,
      spiffeID: "spiffe://cluster.local/ns/shop/id/payments-api",
      serialNumber: "5f2c0e4a9b7d1c3e",
      notBefore: "2026-11-21T20:59:30Z",
      notAfter: "2026-11-21T22:00:00Z",
      renewalTime: "2026-11-21T21:41:12.5Z",
      rotations: 3,
      consumers: 2,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Issued",
          message: "certificate valid until 2026-11-21T22:00:00Z",
          lastTransitionTime: "2026-11-21T21:00:00.000Z",
          observedGeneration: 1,
        },
      ],
    };

    it("stores a status written as the operator writes it, and shows it in the printer columns", async () => {
      await objects.createNamespacedCustomObject({ ...ref(), body: machineIdentity() });
      const current = (await objects.getNamespacedCustomObject({ ...ref(), name: "payments-api" })) as object;
      await objects.replaceNamespacedCustomObjectStatus({
        ...ref(),
        name: "payments-api",
        body: { ...current, status },
      });
      const read = (await objects.getNamespacedCustomObject({ ...ref(), name: "payments-api" })) as {
        status: unknown;
      };
      expect(read.status).toEqual(status);
      expect(validate("MachineIdentity", read).problems).toEqual([]);

      const table = await getTable(kc, `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/machineidentities`);
      expect(table.columnDefinitions.map((c) => c.name)).toEqual([
        "Name",
        "Ready",
        "SPIFFE ID",
        "Expires",
        "Age",
        "Rotations",
        "Consumers",
      ]);
      expect(table.rows[0]?.cells.slice(0, 4)).toEqual([
        "payments-api",
        "True",
        status.spiffeID,
        status.notAfter,
      ]);
    });

    it("rejects a status whose times are not RFC 3339, naming the field", async () => {
      await objects.createNamespacedCustomObject({ ...ref(), body: machineIdentity({}, "checkout") });
      const current = (await objects.getNamespacedCustomObject({ ...ref(), name: "checkout" })) as object;
      const err = await objects
        .replaceNamespacedCustomObjectStatus({
          ...ref(),
          name: "checkout",
          body: { ...current, status: { ...status, notAfter: "tomorrow" } },
        })
        .catch((e: unknown) => e);
      expect(statusOf(err).code).toBe(422);
      expect(statusOf(err).causes.map((c) => c.field)).toContain("status.notAfter");
    });
  });
});

interface Table {
  columnDefinitions: { name: string }[];
  rows: { cells: unknown[] }[];
}

/** What kubectl get prints: the server-side Table with the CRD's printer columns. */
async function getTable(kc: k8s.KubeConfig, path: string): Promise<Table> {
  const server = new URL(kc.getCurrentCluster()?.server ?? "");
  const options: import("node:https").RequestOptions = {
    hostname: server.hostname,
    port: server.port,
    path,
    headers: { Accept: "application/json;as=Table;v=v1;g=meta.k8s.io" },
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    request(options, (res) => {
      let body = "";
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`${res.statusCode}: ${body}`)),
      );
    })
      .on("error", reject)
      .end();
  });
}
