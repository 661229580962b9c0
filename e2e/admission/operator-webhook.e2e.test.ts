import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { renderMutatingWebhookConfiguration } from "../../webhooks/src/configuration.ts";
import {
  createIdentity,
  patchIdentitySpec,
  readSecretFiles,
  uriSans,
  verifiedLeaf,
  waitReady,
} from "../identity/support.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

/**
 * The whole admission path as a cluster runs it: the operator process serves the webhook with a
 * certificate from Signet's own CA, fills in the webhook configuration's caBundle itself, and
 * answers from its informer cache of MachineIdentities. Only on the local control plane: a
 * cluster elsewhere cannot call back into this machine.
 */
describe.runIf(inject("localControlPlane"))("the operator's admission webhook", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  let ns: string;
  let operator: OperatorProcess;
  let configName: string;

  const pod = (name: string, serviceAccountName: string, identity: string): k8s.V1Pod => ({
    metadata: {
      name,
      labels: { "signet.dev/inject": "true" },
      annotations: { "signet.dev/identity": identity },
    },
    spec: { serviceAccountName, containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }] },
  });

  const denial = async (promise: Promise<unknown>): Promise<string> => {
    try {
      await promise;
    } catch (err) {
      const body = (err as { body?: unknown }).body;
      return String((typeof body === "string" ? JSON.parse(body) : body)?.message ?? err);
    }
    throw new Error("the pod was admitted");
  };

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "adm");
    const opNs = await createNamespace(kc, "signet-op");
    configName = `signet-pod-identity-${ns}`;
    for (const name of ["payments", "default"]) {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    }
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--leader-elect=false",
      "--webhook-host=127.0.0.1",
      "--webhook-dns-names=localhost",
      `--webhook-configuration=${configName}`,
    ]);
    // Registered without a caBundle: the operator has to fill it in before any call can succeed.
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
    await createIdentity(kc, ns, "payments-api", { serviceAccounts: ["payments"] });
    await waitReady(kc, ns, "payments-api");
  });

  afterAll(async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    await operator?.stop();
  });

  it("injects an authorized pod, whose mounted Secret holds a valid SVID for its identity", async () => {
    const stored = await waitFor("the webhook to admit the pod", () =>
      core.createNamespacedPod({ namespace: ns, body: pod("payments-0", "payments", "payments-api") }),
    );
    expect(stored.metadata?.labels?.["signet.dev/identity"]).toBe("payments-api");
    const volume = stored.spec?.volumes?.find((v) => v.secret?.secretName === "payments-api-identity");
    expect(volume).toBeDefined();
    const mount = stored.spec?.containers[0]?.volumeMounts?.find((m) => m.name === volume?.name);
    expect(mount).toMatchObject({ readOnly: true, mountPath: "/var/run/secrets/signet.dev/identity" });
    const env = Object.fromEntries((stored.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    const spiffeId = `spiffe://cluster.local/ns/${ns}/id/payments-api`;
    expect(env.SIGNET_SPIFFE_ID).toBe(spiffeId);

    const mounted = await readSecretFiles(kc, ns, volume?.secret?.secretName ?? "");
    expect(mounted).toBeDefined();
    const leaf = verifiedLeaf(mounted?.files ?? { "tls.crt": "", "tls.key": "", "ca.crt": "" });
    expect(uriSans(leaf)).toEqual([spiffeId]);
    expect(new Date(leaf.validTo).getTime()).toBeGreaterThan(Date.now());

    // The pod is counted as a consumer of its identity.
    await waitFor("status.consumers to count the pod", async () => {
      const mi = (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
        group: "signet.dev",
        version: "v1alpha1",
        namespace: ns,
        plural: "machineidentities",
        name: "payments-api",
      })) as { status?: { consumers?: number } };
      return mi.status?.consumers === 1 ? true : undefined;
    });
  });

  it("denies what the identity does not allow, saying why", async () => {
    expect(
      await denial(
        core.createNamespacedPod({ namespace: ns, body: pod("intruder", "default", "payments-api") }),
      ),
    ).toMatch(/does not list ServiceAccount "default" in spec.serviceAccounts/);
    expect(
      await denial(
        core.createNamespacedPod({ namespace: ns, body: pod("ghost", "payments", "no-such-identity") }),
      ),
    ).toMatch(/no-such-identity/);
    await patchIdentitySpec(kc, ns, "payments-api", { suspend: true });
    const message = await waitFor("the suspension to reach the webhook's cache", () =>
      denial(
        core.createNamespacedPod({ namespace: ns, body: pod("late", "payments", "payments-api") }),
      ).catch(() => undefined),
    );
    expect(message).toMatch(/suspend/);
    await patchIdentitySpec(kc, ns, "payments-api", { suspend: false });
  });
});
