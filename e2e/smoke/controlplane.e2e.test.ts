import * as k8s from "@kubernetes/client-node";
import { describe, expect, inject, it } from "vitest";
import { createNamespace, kubeConfig, userKubeConfig } from "../support/cluster.ts";
import { waitFor } from "../support/wait.ts";

const GROUP = "smoke.signet.dev";

const widgetCrd: k8s.V1CustomResourceDefinition = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `widgets.${GROUP}` },
  spec: {
    group: GROUP,
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: { spec: { type: "object", properties: { size: { type: "integer", minimum: 1 } } } },
          },
        },
      },
    ],
  },
};

describe("the local control plane", () => {
  const kc = kubeConfig();

  it.runIf(inject("localControlPlane"))("is a real kube-apiserver v1.36", async () => {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.36\.\d+$/);
    expect(version.major).toBe("1");
    expect(version.minor).toBe("36");
  });

  it("serves the built-in namespaces", async () => {
    const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
    const names = list.items.map((n) => n.metadata?.name);
    expect(names).toEqual(expect.arrayContaining(["default", "kube-system"]));
  });

  it("establishes a CRD and creates, lists, watches and deletes its objects", async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: widgetCrd }).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
    await waitFor("the CRD to be Established", async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `widgets.${GROUP}` });
      const established = crd.status?.conditions?.find((c) => c.type === "Established");
      return established?.status === "True" ? crd : undefined;
    });

    const namespace = await createNamespace(kc, "smoke");
    const objects = kc.makeApiClient(k8s.CustomObjectsApi);
    const ref = { group: GROUP, version: "v1", namespace, plural: "widgets" };
    // The group's discovery can lag the Established condition by a moment.
    await waitFor("the widgets resource to be served", async () =>
      objects.listNamespacedCustomObject(ref).then(
        (l) => l,
        () => undefined,
      ),
    );

    const events: string[] = [];
    const watch = new k8s.Watch(kc);
    const sawDelete = new Promise<void>((resolve, reject) => {
      void watch
        .watch(
          `/apis/${GROUP}/v1/namespaces/${namespace}/widgets`,
          {},
          (phase, obj: { metadata?: { name?: string } }) => {
            events.push(`${phase} ${obj.metadata?.name}`);
            if (phase === "DELETED") resolve();
          },
          (err) => err && reject(err),
        )
        .then((req) => sawDelete.finally(() => req.abort()));
    });
    // Give the watch a moment to be established before the first write.
    await new Promise((r) => setTimeout(r, 300));

    await objects.createNamespacedCustomObject({
      ...ref,
      body: { apiVersion: `${GROUP}/v1`, kind: "Widget", metadata: { name: "w1" }, spec: { size: 3 } },
    });
    const list = (await objects.listNamespacedCustomObject(ref)) as {
      items: { metadata: { name: string } }[];
    };
    expect(list.items.map((i) => i.metadata.name)).toEqual(["w1"]);

    await expect(
      objects.createNamespacedCustomObject({
        ...ref,
        body: { apiVersion: `${GROUP}/v1`, kind: "Widget", metadata: { name: "w2" }, spec: { size: 0 } },
      }),
    ).rejects.toMatchObject({ code: 422 });

    await objects.deleteNamespacedCustomObject({ ...ref, name: "w1" });
    await sawDelete;
    expect(events).toEqual(["ADDED w1", "DELETED w1"]);
  });

  it.runIf(inject("localControlPlane"))("refuses a user where RBAC grants nothing", async () => {
    const namespace = await createNamespace(kc, "rbac");
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: "configmap-reader" },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: "alice-reads-configmaps" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "configmap-reader" },
        subjects: [{ kind: "User", name: "alice", apiGroup: "rbac.authorization.k8s.io" }],
      },
    });
    const alice = (await userKubeConfig("alice")).makeApiClient(k8s.CoreV1Api);

    await waitFor("alice's binding to take effect", () =>
      alice.listNamespacedConfigMap({ namespace }).then(
        (l) => l,
        () => undefined,
      ),
    );
    await expect(alice.listNamespacedSecret({ namespace })).rejects.toMatchObject({ code: 403 });
    await expect(alice.listNamespacedConfigMap({ namespace: "default" })).rejects.toMatchObject({
      code: 403,
    });
    await expect(
      alice.createNamespacedConfigMap({ namespace, body: { metadata: { name: "x" } } }),
    ).rejects.toMatchObject({ code: 403 });
  });
});
