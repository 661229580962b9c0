import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, inject } from "vitest";
import { renderMutatingWebhookConfiguration } from "../../webhooks/src/configuration.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { grantTenant, impersonating } from "../support/tenant.ts";
import { waitFor } from "../support/wait.ts";
import { admissionCases, bindShippedPolicy, operatorIdentities } from "./cases.ts";

/**
 * The whole admission path as a cluster runs it: the operator process serves the webhook with a
 * certificate from Signet's own CA, fills in the webhook configuration's caBundle itself, and
 * answers from its informer cache of MachineIdentities; the shipped identity-label policy is bound
 * to the tenant's namespace. Only on the local control plane: a cluster elsewhere cannot call back
 * into this machine. The same cases run against the chart on a real node
 * (e2e/node/admission.node.test.ts).
 */
describe.runIf(inject("localControlPlane"))("the operator's admission webhook", () => {
  const kc = kubeConfig();
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  let ns: string;
  let otherNs: string;
  let tenant: k8s.KubeConfig;
  let operator: OperatorProcess;
  let configName: string;
  let policyName: string;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "adm");
    otherNs = await createNamespace(kc, "adm-other");
    const opNs = await createNamespace(kc, "signet-op");
    configName = `signet-pod-identity-${ns}`;
    await grantTenant(kc, ns, `tenant-${ns}`);
    tenant = impersonating(kc, `tenant-${ns}`);
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns},${otherNs}`,
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
    policyName = await bindShippedPolicy(kc, ns);
  });

  afterAll(async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicyBinding({ name: policyName }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicy({ name: policyName }).catch(() => undefined);
    await operator?.stop();
  });

  admissionCases(
    () => ({
      admin: kc,
      tenant,
      namespace: ns,
      otherNamespace: otherNs,
      image: "registry.k8s.io/pause:3.10",
      putIdentity: operatorIdentities(kc, tenant, ns),
    }),
    { issuesSecrets: true },
  );
});
