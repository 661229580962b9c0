// The chart as a user installs it: a Deployment of the locally built image on a real node, the API
// server calling the webhook through its Service, one leader elected through the Lease, a handover
// when the leader's pod is deleted, and an uninstall that leaves nothing behind but the CRDs.
import { randomBytes, X509Certificate } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.ts";
import {
  admin,
  apps,
  core,
  createIdentity,
  execIn,
  helm,
  installChart,
  leaseHolder,
  RELEASE_NAMESPACE,
  startPeerPod,
} from "./support.ts";

const RELEASE = "signet";
const SELECTOR = `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=operator`;
const admission = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
const ns = `node-chart-${randomBytes(3).toString("hex")}`;

const operatorPods = async () =>
  (await core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: SELECTOR })).items;

describe("the chart on a real node", () => {
  beforeAll(async () => {
    await installChart(RELEASE);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  }, 240_000);

  afterAll(async () => {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it("runs two Ready replicas of the local image, exactly one of them leading", async () => {
    const pods = await operatorPods();
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.spec?.containers[0]?.image).toBe("signet:dev");
      expect(pod.status?.phase).toBe("Running");
      expect(pod.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    }
    const holder = await waitFor("a leader", () => leaseHolder(), { timeoutMs: 30_000 });
    expect(pods.map((p) => p.metadata?.name)).toContain(holder);
  });

  it("is called by the API server through its Service: an opted-in pod runs with its identity mounted", async () => {
    const webhooks = await admission.readMutatingWebhookConfiguration({ name: `${RELEASE}-pod-identity` });
    const clientConfig = webhooks.webhooks?.[0]?.clientConfig;
    expect(clientConfig?.url).toBeUndefined();
    expect(clientConfig?.service?.namespace).toBe(RELEASE_NAMESPACE);

    await createIdentity(ns, "api");
    const pod = await startPeerPod(ns, "api", "api", ["sleep"]);
    expect(pod.metadata?.labels?.["signet.dev/identity"]).toBe("api");
    const cert = await execIn(ns, "api", [
      "node",
      "-e",
      "process.stdout.write(require('fs').readFileSync(process.env.SIGNET_TLS_CERT_FILE))",
    ]);
    expect(cert.code).toBe(0);
    const x509 = new X509Certificate(cert.stdout);
    expect(x509.subjectAltName).toBe(`URI:spiffe://cluster.local/ns/${ns}/id/api`);
  });

  it("hands the lease over when the leader's pod is deleted, within the lease duration", async () => {
    const holder = await waitFor("a leader", () => leaseHolder(), { timeoutMs: 30_000 });
    const deletedAt = Date.now();
    await core.deleteNamespacedPod({ namespace: RELEASE_NAMESPACE, name: holder });
    const next = await waitFor(
      "another leader",
      async () => {
        const h = await leaseHolder();
        return h && h !== holder ? h : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const handoverMs = Date.now() - deletedAt;
    console.log(`[figure] leader handover after deleting the leader pod: ${handoverMs} ms`);
    expect(handoverMs).toBeLessThan(15_000);
    expect((await operatorPods()).map((p) => p.metadata?.name)).toContain(next);
    // The Deployment replaces the deleted pod.
    await waitFor(
      "two Ready replicas again",
      async () => {
        const d = await apps.readNamespacedDeployment({ namespace: RELEASE_NAMESPACE, name: RELEASE });
        return d.status?.readyReplicas === 2 && d.status.updatedReplicas === 2 ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  });

  it("helm uninstall leaves nothing behind but the CRDs", async () => {
    await helm(["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait", "--timeout", "120s"]);
    const instance = `app.kubernetes.io/instance=${RELEASE}`;
    const leftovers = async () => {
      const found: string[] = [];
      const add = (kind: string, items: { metadata?: k8s.V1ObjectMeta }[]) =>
        found.push(...items.map((i) => `${kind}/${i.metadata?.name}`));
      add("Pod", (await core.listNamespacedPod({ namespace: RELEASE_NAMESPACE })).items);
      add(
        "Secret",
        (await core.listNamespacedSecret({ namespace: RELEASE_NAMESPACE })).items.filter(
          (s) => s.type !== "kubernetes.io/service-account-token",
        ),
      );
      add(
        "ServiceAccount",
        (await core.listNamespacedServiceAccount({ namespace: RELEASE_NAMESPACE })).items.filter(
          (s) => s.metadata?.name !== "default",
        ),
      );
      add("Service", (await core.listNamespacedService({ namespace: RELEASE_NAMESPACE })).items);
      add(
        "Lease",
        (
          await admin
            .makeApiClient(k8s.CoordinationV1Api)
            .listNamespacedLease({ namespace: RELEASE_NAMESPACE })
        ).items,
      );
      add(
        "MutatingWebhookConfiguration",
        (await admission.listMutatingWebhookConfiguration({ labelSelector: instance })).items,
      );
      add(
        "ValidatingWebhookConfiguration",
        (await admission.listValidatingWebhookConfiguration({ labelSelector: instance })).items,
      );
      add(
        "ValidatingAdmissionPolicy",
        (await admission.listValidatingAdmissionPolicy({ labelSelector: instance })).items,
      );
      add("ClusterRole", (await rbac.listClusterRole({ labelSelector: instance })).items);
      add("ClusterRoleBinding", (await rbac.listClusterRoleBinding({ labelSelector: instance })).items);
      return found;
    };
    await waitFor(
      "nothing of the release left",
      async () => ((await leftovers()).length === 0 ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${(await leftovers()).join(", ")}`);
    });
    const crds = await admin.makeApiClient(k8s.ApiextensionsV1Api).listCustomResourceDefinition();
    expect(
      crds.items
        .map((c) => c.metadata?.name)
        .filter((n) => n?.endsWith(".signet.dev"))
        .sort(),
    ).toEqual([
      "accesspolicies.signet.dev",
      "accessschedules.signet.dev",
      "enrollments.signet.dev",
      "issuancepolicies.signet.dev",
      "machineidentities.signet.dev",
      "trustedissuers.signet.dev",
    ]);
  }, 180_000);
});
