import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, inject } from "vitest";
import { renderMutatingWebhookConfiguration } from "../../webhooks/src/configuration.ts";
import { type Fixture, startFixture } from "../../webhooks/src/testing/fixture.ts";
import { admissionCases, bindShippedPolicy } from "../admission/cases.ts";
import { createNamespace, kubeConfig } from "../support/cluster.ts";
import { grantTenant, impersonating } from "../support/tenant.ts";

/**
 * The real kube-apiserver calls the real webhook server over TLS on loopback. MachineIdentities come
 * from an in-memory map standing in for the informer cache (an injected dependency of the server);
 * the API server, its JSON patching and the ValidatingAdmissionPolicy are real. The webhook and the
 * policy binding are scoped to this file's namespace, so other test files are unaffected. Only on
 * the local control plane: a cluster elsewhere cannot reach 127.0.0.1 of this process. The same
 * cases run against the chart on a real node (e2e/node/admission.node.test.ts).
 */

describe.runIf(inject("localControlPlane"))("pod identity admission on a real API server", () => {
  const kc = kubeConfig();
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  let f: Fixture;
  let namespace: string;
  let otherNamespace: string;
  let webhookName: string;
  let policyName: string;

  beforeAll(async () => {
    f = await startFixture();
    namespace = await createNamespace(kc, "webhook");
    otherNamespace = await createNamespace(kc, "webhook-plain");
    await grantTenant(kc, namespace, `tenant-${namespace}`);
    webhookName = `signet-e2e-${namespace}`;
    await admission.createMutatingWebhookConfiguration({
      body: renderMutatingWebhookConfiguration({
        name: webhookName,
        target: { url: `https://127.0.0.1:${f.server.port}/mutate-pods` },
        caBundlePem: f.ca.certPem,
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
      }),
    });
    policyName = await bindShippedPolicy(kc, namespace);
  });

  afterAll(async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicyBinding({ name: policyName }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicy({ name: policyName }).catch(() => undefined);
    await f?.close();
  });

  admissionCases(() => ({
    admin: kc,
    tenant: impersonating(kc, `tenant-${namespace}`),
    namespace,
    otherNamespace,
    image: "registry.k8s.io/pause:3.10",
    putIdentity: async (ns, name, spec) => {
      f.identities.set(`${ns}/${name}`, {
        spec,
        status: { conditions: [{ type: "Ready", status: "True" }] },
      });
    },
    admissionRequests: async () => {
      const metric = (await f.registry.getMetricsAsJSON()).find(
        (m) => m.name === "signet_admission_requests_total",
      );
      return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
    },
  }));
});
