import { readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { renderMutatingWebhookConfiguration } from "../../webhooks/src/configuration.ts";
import type { MachineIdentityLike } from "../../webhooks/src/identity.ts";
import { type Fixture, startFixture } from "../../webhooks/src/testing/fixture.ts";
import { createNamespace, kubeConfig } from "../support/cluster.ts";
import { rejection } from "../support/tenant.ts";

/**
 * The real kube-apiserver calls the real webhook server over TLS on loopback. MachineIdentities come
 * from an in-memory map standing in for the informer cache (an injected dependency of the server);
 * the API server, its JSON patching and the ValidatingAdmissionPolicy are real. The webhook and the
 * policy binding are scoped to this file's namespace, so other test files are unaffected. Only on
 * the local control plane: a cluster elsewhere cannot reach 127.0.0.1 of this process.
 */

const MOUNT = "/var/run/secrets/signet.dev/identity";
const POLICY_FILE = new URL("../../webhooks/manifests/identity-label-policy.yaml", import.meta.url);

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function pod(
  name: string,
  options: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    serviceAccountName?: string;
  } = {},
): k8s.V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels: options.labels ?? { app: "payments", "signet.dev/inject": "true" },
      annotations: options.annotations ?? { "signet.dev/identity": "payments-api" },
    },
    spec: {
      ...(options.serviceAccountName === undefined ? {} : { serviceAccountName: options.serviceAccountName }),
      initContainers: [{ name: "fetch", image: "registry.k8s.io/pause:3.10" }],
      containers: [
        { name: "app", image: "registry.k8s.io/pause:3.10", env: [{ name: "PORT", value: "8443" }] },
        { name: "proxy", image: "registry.k8s.io/pause:3.10" },
      ],
    },
  };
}

function identity(spec: Partial<MachineIdentityLike["spec"]> = {}): MachineIdentityLike {
  return {
    spec: { serviceAccounts: ["payments"], ...spec },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
}

describe.runIf(inject("localControlPlane"))("pod identity admission on a real API server", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  let f: Fixture;
  let namespace: string;
  let plainNamespace: string;
  let webhookName: string;
  let policyName: string;

  const admissionRequests = async (): Promise<number> => {
    const metric = (await f.registry.getMetricsAsJSON()).find(
      (m) => m.name === "signet_admission_requests_total",
    );
    return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
  };

  beforeAll(async () => {
    f = await startFixture();
    namespace = await createNamespace(kc, "webhook");
    plainNamespace = await createNamespace(kc, "webhook-plain");
    for (const name of ["payments", "default"]) {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    }
    f.identities.set(`${namespace}/payments-api`, identity());
    f.identities.set(`${namespace}/paused`, identity({ suspend: true }));
    f.identities.set(`${plainNamespace}/ledger`, identity());

    webhookName = `signet-e2e-${namespace}`;
    await admission.createMutatingWebhookConfiguration({
      body: renderMutatingWebhookConfiguration({
        name: webhookName,
        target: { url: `https://127.0.0.1:${f.server.port}/mutate-pods` },
        caBundlePem: f.ca.certPem,
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
      }),
    });

    // The shipped policy, verbatim, under a name of this run, bound to this namespace only.
    const [policy, binding] = parseAllDocuments(readFileSync(POLICY_FILE, "utf8")).map((d) => d.toJS()) as [
      k8s.V1ValidatingAdmissionPolicy,
      k8s.V1ValidatingAdmissionPolicyBinding,
    ];
    policyName = `signet-identity-label-${namespace}`;
    await admission.createValidatingAdmissionPolicy({
      body: { ...policy, metadata: { ...policy.metadata, name: policyName } },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        ...binding,
        metadata: { ...binding.metadata, name: policyName },
        spec: {
          ...binding.spec,
          policyName,
          matchResources: {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
          },
        },
      },
    });

    await eventually("the webhook to inject", async () => {
      const probe = await core.createNamespacedPod({
        namespace,
        body: pod("probe", { serviceAccountName: "payments" }),
        dryRun: "All",
      });
      return probe.metadata?.labels?.["signet.dev/identity"] === "payments-api" ? true : undefined;
    });
    await eventually("the policy to reject a hand-set label", async () => {
      const result = await rejection(
        core.createNamespacedPod({
          namespace,
          body: pod("probe", { labels: { "signet.dev/identity": "payments-api" } }),
          dryRun: "All",
        }),
      ).catch(() => undefined);
      return result?.message.includes("ValidatingAdmissionPolicy") ? true : undefined;
    });
  });

  afterAll(async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicyBinding({ name: policyName }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicy({ name: policyName }).catch(() => undefined);
    await f?.close();
  });

  it("stores an authorized pod with the identity volume, read-only mounts, env and label", async () => {
    await core.createNamespacedPod({
      namespace,
      body: pod("authorized", { serviceAccountName: "payments" }),
    });
    const stored = await core.readNamespacedPod({ namespace, name: "authorized" });

    expect(stored.metadata?.labels).toEqual({
      app: "payments",
      "signet.dev/inject": "true",
      "signet.dev/identity": "payments-api",
    });
    expect(stored.spec?.volumes?.find((v) => v.name === "signet-identity")).toEqual({
      name: "signet-identity",
      secret: { secretName: "payments-api-identity", defaultMode: 0o444 },
    });
    const env = [
      { name: "SIGNET_SPIFFE_ID", value: `spiffe://cluster.local/ns/${namespace}/id/payments-api` },
      { name: "SIGNET_TLS_CERT_FILE", value: `${MOUNT}/tls.crt` },
      { name: "SIGNET_TLS_KEY_FILE", value: `${MOUNT}/tls.key` },
      { name: "SIGNET_TLS_CA_FILE", value: `${MOUNT}/ca.crt` },
    ];
    const containers = [...(stored.spec?.initContainers ?? []), ...(stored.spec?.containers ?? [])];
    expect(containers.map((c) => c.name)).toEqual(["fetch", "app", "proxy"]);
    for (const c of containers) {
      expect(c.volumeMounts).toContainEqual({ name: "signet-identity", mountPath: MOUNT, readOnly: true });
      expect(c.env?.filter((e) => e.name.startsWith("SIGNET_"))).toEqual(env);
    }
    expect(containers[1]?.env?.[0]).toEqual({ name: "PORT", value: "8443" });
  });

  it("replaces a hand-set identity label on an opted-in pod with the identity it checked", async () => {
    const body = pod("relabelled", {
      serviceAccountName: "payments",
      labels: { "signet.dev/inject": "true", "signet.dev/identity": "admin" },
    });
    await core.createNamespacedPod({ namespace, body });
    const stored = await core.readNamespacedPod({ namespace, name: "relabelled" });
    expect(stored.metadata?.labels?.["signet.dev/identity"]).toBe("payments-api");
  });

  const denials = [
    {
      name: "denies a pod whose MachineIdentity does not exist",
      body: () =>
        pod("missing", { serviceAccountName: "payments", annotations: { "signet.dev/identity": "ledger" } }),
      message: () =>
        `MachineIdentity "${namespace}/ledger" does not exist; create it in namespace "${namespace}"`,
    },
    {
      name: "denies a pod whose MachineIdentity is suspended",
      body: () =>
        pod("suspended", {
          serviceAccountName: "payments",
          annotations: { "signet.dev/identity": "paused" },
        }),
      message: () => `MachineIdentity "${namespace}/paused" is suspended (spec.suspend: true)`,
    },
    {
      name: "denies a pod whose ServiceAccount the MachineIdentity does not list",
      body: () => pod("wrong-account"),
      message: () =>
        `MachineIdentity "${namespace}/payments-api" does not list ServiceAccount "default" in spec.serviceAccounts; ` +
        "add it there or run the pod as one of: payments",
    },
    {
      name: "denies a pod that names a MachineIdentity of another namespace",
      body: () =>
        pod("elsewhere", {
          serviceAccountName: "payments",
          annotations: { "signet.dev/identity": `${plainNamespace}/ledger` },
        }),
      message: () => `a pod can only hold a MachineIdentity of its own namespace "${namespace}"`,
    },
    {
      name: "denies a pod that opts in without naming an identity",
      body: () => pod("unnamed", { serviceAccountName: "payments", annotations: {} }),
      message: () => "has no annotation signet.dev/identity",
    },
  ];
  it.each(denials)("$name, with a message that says what to fix", async ({ body, message }) => {
    const result = await rejection(core.createNamespacedPod({ namespace, body: body() }));
    expect(result.code).toBe(403);
    expect(result.message).toContain('admission webhook "pod-identity.signet.dev" denied the request');
    expect(result.message).toContain(message());
  });

  const handSet: { name: string; labels: Record<string, string>; annotations: Record<string, string> }[] = [
    {
      name: "rejects a pod created with the identity label but without opting in",
      labels: { app: "x", "signet.dev/identity": "payments-api" },
      annotations: { "signet.dev/identity": "payments-api" },
    },
    {
      name: "rejects a pod created with the identity label and a mismatching annotation",
      labels: { "signet.dev/identity": "payments-api" },
      annotations: { "signet.dev/identity": "ledger" },
    },
    {
      name: "rejects a pod created with the identity label and an opt-in label other than true",
      labels: { "signet.dev/inject": "false", "signet.dev/identity": "payments-api" },
      annotations: { "signet.dev/identity": "payments-api" },
    },
  ];
  it.each(handSet)("$name", async ({ labels, annotations }) => {
    const result = await rejection(
      core.createNamespacedPod({
        namespace,
        body: pod("hand-set", { labels, annotations, serviceAccountName: "payments" }),
      }),
    );
    expect(result.code).toBe(403);
    expect(result.message).toContain("label signet.dev/identity is set only by Signet's admission webhook");
  });

  describe("updates of existing pods", () => {
    const relabel = async (
      name: string,
      change: (p: k8s.V1Pod) => void,
      status = false,
    ): Promise<k8s.V1Pod> => {
      const current = await core.readNamespacedPod({ namespace, name });
      change(current);
      return status
        ? core.replaceNamespacedPodStatus({ namespace, name, body: current })
        : core.replaceNamespacedPod({ namespace, name, body: current });
    };

    beforeAll(async () => {
      await core.createNamespacedPod({
        namespace,
        body: pod("plain", { labels: { app: "plain" }, annotations: {}, serviceAccountName: "payments" }),
      });
      await core.createNamespacedPod({ namespace, body: pod("holder", { serviceAccountName: "payments" }) });
    });

    const refused = [
      {
        name: "refuses adding the identity label to a pod that does not hold one",
        pod: "plain",
        change: (p: k8s.V1Pod) =>
          Object.assign(p.metadata?.labels ?? {}, { "signet.dev/identity": "payments-api" }),
        message: "label signet.dev/identity cannot be added, changed or removed",
      },
      {
        name: "refuses adding the identity label through the status subresource",
        pod: "plain",
        status: true,
        change: (p: k8s.V1Pod) =>
          Object.assign(p.metadata?.labels ?? {}, { "signet.dev/identity": "payments-api" }),
        message: "label signet.dev/identity cannot be added, changed or removed",
      },
      {
        name: "refuses changing the identity label of a pod that holds one",
        pod: "holder",
        change: (p: k8s.V1Pod) => Object.assign(p.metadata?.labels ?? {}, { "signet.dev/identity": "admin" }),
        message: "label signet.dev/identity cannot be added, changed or removed",
      },
      {
        name: "refuses removing the identity label, since the pod keeps its credential",
        pod: "holder",
        change: (p: k8s.V1Pod) => delete p.metadata?.labels?.["signet.dev/identity"],
        message: "label signet.dev/identity cannot be added, changed or removed",
      },
      {
        name: "refuses changing the identity annotation of a pod that holds an identity",
        pod: "holder",
        change: (p: k8s.V1Pod) =>
          Object.assign(p.metadata?.annotations ?? {}, { "signet.dev/identity": "admin" }),
        message: "annotation signet.dev/identity cannot change on a pod that holds a Signet identity",
      },
      {
        name: "refuses removing the opt-in label of a pod that holds an identity",
        pod: "holder",
        change: (p: k8s.V1Pod) => delete p.metadata?.labels?.["signet.dev/inject"],
        message: "label signet.dev/inject and annotation signet.dev/identity cannot change",
      },
    ];
    it.each(refused)("$name", async ({ pod: name, change, status, message }) => {
      const result = await rejection(relabel(name, change, status));
      expect(result.code).toBe(403);
      expect(result.message).toContain(message);
      const stored = await core.readNamespacedPod({ namespace, name });
      expect(stored.metadata?.labels?.["signet.dev/identity"]).toBe(
        name === "holder" ? "payments-api" : undefined,
      );
    });

    it("allows any other label change on a pod that holds an identity", async () => {
      const updated = await relabel("holder", (p) =>
        Object.assign(p.metadata?.labels ?? {}, { tier: "backend" }),
      );
      expect(updated.metadata?.labels).toMatchObject({
        tier: "backend",
        "signet.dev/identity": "payments-api",
      });
    });
  });

  it("stores a pod that does not opt in exactly as it would without Signet, without calling the webhook", async () => {
    const body: k8s.V1Pod = {
      metadata: { name: "bystander", labels: { app: "web" }, annotations: { note: "no identity" } },
      spec: {
        serviceAccountName: "payments",
        containers: [
          {
            name: "web",
            image: "registry.k8s.io/pause:3.10",
            env: [{ name: "SIGNET_SPIFFE_ID", value: "mine" }],
            volumeMounts: [{ name: "data", mountPath: MOUNT }],
          },
        ],
        volumes: [{ name: "data", emptyDir: {} }],
      },
    };
    const before = await admissionRequests();
    const stored = await core.createNamespacedPod({ namespace, body });
    const reference = await core.createNamespacedPod({ namespace: plainNamespace, body });
    expect(await admissionRequests()).toBe(before);
    expect(stored.spec).toEqual(reference.spec);
    expect(stored.metadata?.labels).toEqual({ app: "web" });
    expect(stored.metadata?.annotations).toEqual({ note: "no identity" });
  });
});
