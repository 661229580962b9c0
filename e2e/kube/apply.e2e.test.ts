import * as k8s from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { isConflict, isNotFound } from "../../operator/src/kube/errors.ts";
import { applyObject, applyStatus, deleteIfExists } from "../support/apply.ts";
import { createNamespace, kubeConfig } from "../support/cluster.ts";

const GROUP = "kube-e2e.signet.dev";

/** A CRD with a status subresource, like Signet's own, so that status is written only through /status. */
const gadgetCrd: k8s.V1CustomResourceDefinition = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `gadgets.${GROUP}` },
  spec: {
    group: GROUP,
    scope: "Namespaced",
    names: { plural: "gadgets", singular: "gadget", kind: "Gadget", listKind: "GadgetList" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: { type: "object", properties: { size: { type: "integer" } } },
              status: {
                type: "object",
                properties: {
                  active: { type: "boolean" },
                  reason: { type: "string" },
                  nextTransition: { type: "string" },
                },
              },
            },
          },
        },
      },
    ],
  },
};

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("server-side apply helpers on the real API server", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);

  beforeAll(async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: gadgetCrd }).catch((err: unknown) => {
      if (!isConflict(err)) throw err;
    });
    await waitFor("the Gadget CRD to be Established", async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `gadgets.${GROUP}` });
      return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")
        ? crd
        : undefined;
    });
  });

  it("should create with apply, write nothing when re-applied unchanged, and update a changed field", async () => {
    const namespace = await createNamespace(kc, "apply");
    const configMap = (value: string): k8s.V1ConfigMap => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings", namespace, labels: { "signet.dev/managed": "true" } },
      data: { mode: value },
    });
    const created = await applyObject(kc, configMap("strict"));
    const createdRv = created.metadata?.resourceVersion;
    expect(createdRv).toBeDefined();
    const fields = created.metadata?.managedFields ?? [];
    expect(fields.map((f) => [f.manager, f.operation])).toEqual([["signet", "Apply"]]);

    const again = await applyObject(kc, configMap("strict"));
    expect(again.metadata?.resourceVersion).toBe(createdRv);
    const read = await core.readNamespacedConfigMap({ namespace, name: "settings" });
    expect(read.metadata?.resourceVersion).toBe(createdRv);

    const changed = await applyObject(kc, configMap("relaxed"));
    expect(changed.metadata?.resourceVersion).not.toBe(createdRv);
    expect((await core.readNamespacedConfigMap({ namespace, name: "settings" })).data).toEqual({
      mode: "relaxed",
    });
  });

  it("should take over a field another manager set when forced, and report the conflict when not", async () => {
    const namespace = await createNamespace(kc, "apply-force");
    const body = (mode: string): k8s.V1ConfigMap => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "shared", namespace },
      data: { mode },
    });
    await applyObject(kc, body("theirs"), { fieldManager: "someone-else" });
    const refused = await applyObject(kc, body("ours"), { force: false }).catch((e: unknown) => e);
    expect(isConflict(refused)).toBe(true);
    const forced = await applyObject(kc, body("ours"));
    expect(forced.data).toEqual({ mode: "ours" });
  });

  it("should apply status through the status subresource, remove fields it no longer sets, and write nothing when unchanged", async () => {
    const namespace = await createNamespace(kc, "apply-status");
    const ref = { group: GROUP, version: "v1", plural: "gadgets", namespace, name: "g1" };
    await waitFor("gadgets to be served", () =>
      objects.listNamespacedCustomObject({ group: GROUP, version: "v1", namespace, plural: "gadgets" }),
    );
    await applyObject(kc, {
      apiVersion: `${GROUP}/v1`,
      kind: "Gadget",
      metadata: { name: "g1", namespace },
      spec: { size: 3 },
    } as k8s.KubernetesObject);

    const first = await applyStatus(kc, ref, {
      active: true,
      reason: "InsideWindow",
      nextTransition: "2026-01-01T18:00:00Z",
    });
    expect(first.status).toEqual({
      active: true,
      reason: "InsideWindow",
      nextTransition: "2026-01-01T18:00:00Z",
    });
    const rv = first.metadata?.resourceVersion;

    const same = await applyStatus(kc, ref, {
      active: true,
      reason: "InsideWindow",
      nextTransition: "2026-01-01T18:00:00Z",
    });
    expect(same.metadata?.resourceVersion).toBe(rv);

    const without = await applyStatus(kc, { ...ref, kind: "Gadget" }, { active: false, reason: "Suspended" });
    expect(without.status).toEqual({ active: false, reason: "Suspended" });

    const stored = (await objects.getNamespacedCustomObject({ ...ref })) as {
      spec: unknown;
      metadata: k8s.V1ObjectMeta;
    };
    expect(stored.spec).toEqual({ size: 3 });
    const statusManager = stored.metadata.managedFields?.find((f) => f.subresource === "status");
    expect([statusManager?.manager, statusManager?.operation]).toEqual(["signet", "Apply"]);
  });

  it("should report whether deleteIfExists deleted something, treating a missing object as gone", async () => {
    const namespace = await createNamespace(kc, "apply-delete");
    const ref = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "temp", namespace } };
    await applyObject(kc, { ...ref, data: { a: "1" } } as k8s.V1ConfigMap);
    expect(await deleteIfExists(kc, ref)).toBe(true);
    expect(await deleteIfExists(kc, ref)).toBe(false);
    const missing = await core.readNamespacedConfigMap({ namespace, name: "temp" }).catch((e: unknown) => e);
    expect(isNotFound(missing)).toBe(true);

    const guarded = await applyObject(kc, { ...ref, data: { a: "2" } } as k8s.V1ConfigMap);
    const stale = await deleteIfExists(kc, ref, { preconditions: { resourceVersion: "1" } }).catch(
      (e: unknown) => e,
    );
    expect(isConflict(stale)).toBe(true);
    expect(
      await deleteIfExists(kc, ref, {
        preconditions: { resourceVersion: guarded.metadata?.resourceVersion },
      }),
    ).toBe(true);
  });
});
