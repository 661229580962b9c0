import { X509Certificate } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { CaStore } from "../../operator/src/controllers/ca/store.ts";
import { createNamespace, kubeClient, kubeConfig } from "../support/cluster.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const rootsOf = (pem: string) =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) =>
    new X509Certificate(p).fingerprint256.replaceAll(":", "").toLowerCase(),
  );

describe("Signet's CA in its Secret", () => {
  const kc = kubeConfig();
  const kube = kubeClient();
  const core = kc.makeApiClient(k8s.CoreV1Api);

  it("is created once when two replicas start at the same time", async () => {
    const namespace = await createNamespace(kc, "ca-race");
    const stores = Array.from(
      { length: 4 },
      () =>
        new CaStore({
          kube,
          namespace,
          secretName: "signet-ca",
          purpose: "workload",
          trustDomain: "cluster.local",
          leafMaxTtlMs: HOUR,
          now: () => new Date(),
        }),
    );
    const states = await Promise.all(stores.map((s) => s.reconcile()));
    const roots = new Set(states.map((s) => s.issuer.rootFingerprint));
    expect(roots.size).toBe(1);
    const secrets = await core.listNamespacedSecret({ namespace });
    expect(secrets.items.map((s) => s.metadata?.name)).toEqual(["signet-ca"]);
  });

  it("rotates with overlap: next root trusted early, issuance moves, old root leaves after its last leaf", async () => {
    const namespace = await createNamespace(kc, "ca-rotation");
    let now = new Date();
    const store = new CaStore({
      kube,
      namespace,
      secretName: "signet-ca",
      purpose: "workload",
      trustDomain: "cluster.local",
      rootValidityMs: 30 * HOUR,
      leafMaxTtlMs: HOUR,
      now: () => now,
    });
    const read = async () => core.readNamespacedSecret({ namespace, name: "signet-ca" });
    const data = (s: k8s.V1Secret, key: string) =>
      Buffer.from(s.data?.[key] ?? "", "base64").toString("utf8");

    const first = await store.reconcile();
    const rootA = first.issuer.rootFingerprint;
    expect(rootsOf(first.bundlePem)).toEqual([rootA]);

    // Two thirds into the root's life: the next root is prepared and trusted, issuance stays.
    now = new Date(now.getTime() + 21 * HOUR);
    const prepared = await store.reconcile();
    expect(prepared.issuer.rootFingerprint).toBe(rootA);
    const secretB = await read();
    const [rootB = ""] = rootsOf(data(secretB, "next.crt"));
    expect(rootsOf(prepared.bundlePem).sort()).toEqual([rootA, rootB].sort());
    expect(rootsOf(data(secretB, "ca.crt")).sort()).toEqual([rootA, rootB].sort());

    // After a leaf lifetime of overlap and past the switch point, issuance moves to the next root.
    now = new Date(now.getTime() + 5 * HOUR + MINUTE);
    const switched = await store.reconcile();
    expect(switched.issuer.rootFingerprint).toBe(rootB);
    expect(rootsOf(switched.bundlePem).sort()).toEqual([rootA, rootB].sort());
    const secretC = await read();
    expect(rootsOf(data(secretC, "previous.crt"))).toEqual([rootA]);
    expect(secretC.data?.["next.key"]).toBeUndefined();

    // Once every leaf of the old root has expired, it leaves the bundle.
    now = new Date(now.getTime() + HOUR + MINUTE);
    const dropped = await store.reconcile();
    expect(dropped.issuer.rootFingerprint).toBe(rootB);
    expect(rootsOf(dropped.bundlePem)).toEqual([rootB]);
    expect((await read()).data?.["previous.crt"]).toBeUndefined();
  });

  it("keeps the serving CA apart: its own labelled Secret, a root with no SPIFFE ID, never a user's CA", async () => {
    const namespace = await createNamespace(kc, "ca-serving");
    const common = {
      kube,
      namespace,
      trustDomain: "cluster.local",
      leafMaxTtlMs: HOUR,
      now: () => new Date(),
    };
    const workload = await new CaStore({
      ...common,
      secretName: "signet-ca",
      purpose: "workload",
    }).reconcile();
    const serving = await new CaStore({
      ...common,
      secretName: "signet-serving-ca",
      purpose: "serving",
    }).reconcile();
    expect(serving.issuer.rootFingerprint).not.toBe(workload.issuer.rootFingerprint);
    expect(serving.issuer.trustDomain).toBeUndefined();
    expect(workload.issuer.trustDomain).toBe("cluster.local");
    const secrets = await core.listNamespacedSecret({ namespace });
    expect(
      Object.fromEntries(
        secrets.items.map((s) => [s.metadata?.name, s.metadata?.labels?.["signet.dev/component"]]),
      ),
    ).toEqual({ "signet-ca": "ca", "signet-serving-ca": "serving-ca" });
    expect(
      () =>
        new CaStore({
          ...common,
          secretName: "signet-serving-ca",
          purpose: "serving",
          userSecretName: "corp-ca",
        }),
    ).toThrow(/user-supplied CA signs workloads only/);
  });
});
