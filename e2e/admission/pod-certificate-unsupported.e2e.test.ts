import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { renderMutatingWebhookConfiguration } from "../../webhooks/src/configuration.ts";
import { type ControlPlane, startControlPlane } from "../harness/controlplane.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

/**
 * A Kubernetes 1.36 API server as it comes (PodCertificateRequest gate off) silently drops a
 * podCertificate volume source and admits the pod, which would then start without its certificate.
 * On its own control plane with the gate off: the API server's behaviour first, then Signet's
 * webhook refusing a pod of a PodCertificate identity, saying why, rather than letting that happen.
 */
describe.runIf(inject("localControlPlane"))("pod certificates on a cluster without the feature", () => {
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let operator: OperatorProcess;
  const ns = "shop";
  const configName = "signet-pod-identity";

  beforeAll(async () => {
    cp = await startControlPlane({ podCertificates: false });
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    await installCrds(kc);
    for (const name of [ns, "signet-system"]) await core.createNamespace({ body: { metadata: { name } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "payments" } } });
    operator = await startOperatorProcess(cp.kubeconfigPath, [
      "--namespace=signet-system",
      `--watch-namespaces=${ns}`,
      "--leader-elect=false",
      "--pod-certificate-signer=true",
      "--webhook-host=127.0.0.1",
      "--webhook-dns-names=localhost",
      `--webhook-configuration=${configName}`,
    ]);
    const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    await admission.createMutatingWebhookConfiguration({
      body: renderMutatingWebhookConfiguration({
        name: configName,
        target: { url: `https://localhost:${operator.webhookPort}/mutate-pods` },
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
      }),
    });
    await waitFor("the operator to fill in the caBundle", async () => {
      const cfg = await admission.readMutatingWebhookConfiguration({ name: configName });
      return cfg.webhooks?.[0]?.clientConfig.caBundle || undefined;
    });
    await kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
      group: "signet.dev",
      version: "v1alpha1",
      plural: "machineidentities",
      namespace: ns,
      body: {
        apiVersion: "signet.dev/v1alpha1",
        kind: "MachineIdentity",
        metadata: { name: "payments" },
        spec: { serviceAccounts: ["payments"], delivery: "PodCertificate" },
      },
    });
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    await cp?.stop();
  });

  it("is a cluster whose API server drops a podCertificate source and admits the pod", async () => {
    const created = await core.createNamespacedPod({
      namespace: "signet-system",
      body: {
        metadata: { name: "unprotected" },
        spec: {
          containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }],
          volumes: [
            {
              name: "creds",
              projected: {
                sources: [
                  { podCertificate: { signerName: "example.com/any", keyType: "ECDSAP256", keyPath: "k" } },
                ],
              },
            },
          ],
        },
      },
    });
    expect(created.spec?.volumes?.[0]?.projected?.sources?.[0]?.podCertificate).toBeUndefined();
  });

  it("refuses a pod of a PodCertificate identity instead, saying what is missing and the fix", async () => {
    const error = await waitFor("the webhook's refusal", async () => {
      const result = await core
        .createNamespacedPod({
          namespace: ns,
          body: {
            metadata: {
              name: "payments-0",
              labels: { "signet.dev/inject": "true" },
              annotations: { "signet.dev/identity": "payments" },
            },
            spec: {
              serviceAccountName: "payments",
              containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }],
            },
          },
        })
        .then(
          () => ({ admitted: true as const }),
          (err: unknown) => ({
            admitted: false as const,
            body: String((err as { body?: unknown }).body ?? err),
          }),
        );
      // Until the operator has its cache, its answer may be another refusal; a pod admitted is a failure.
      if (result.admitted) throw new Error("the pod was admitted on a cluster without pod certificates");
      return result.body.includes("has spec.delivery PodCertificate, but") ? result.body : undefined;
    });
    expect(error).toContain('MachineIdentity \\"shop/payments\\" has spec.delivery PodCertificate');
    expect(error).toContain("the API server serves no certificates.k8s.io PodCertificateRequests");
    expect(error).toContain("Signet refused the pod rather than let it start without its certificate");
    expect(error).toContain('set spec.delivery of MachineIdentity \\"shop/payments\\" to Secret');
    expect((await core.listNamespacedPod({ namespace: ns })).items).toEqual([]);
    // And the signer waits for the API instead of failing the operator.
    expect(operator.log()).toContain("the pod certificate signer waits for them");
  });
});
