import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { GROUP, VERSION } from "../../operator/src/api/index.ts";
import { createNamespace, kubeConfig, kubeconfigPath, userKubeConfig } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { grantTenant, rejection } from "../support/tenant.ts";

const refusal = async (promise: Promise<unknown>) => (await rejection(promise)).message;

import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { sleep, waitFor } from "../support/wait.ts";
import {
  createIdentity,
  identity,
  MI,
  readIdentity,
  readSecretFiles,
  verifiedLeaf,
  waitReady,
  waitReadyReason,
} from "./support.ts";

const ISSUANCE = { group: GROUP, version: VERSION, plural: "issuancepolicies" } as const;

/**
 * Who may claim what, played by a tenant: full rights on Signet's resources and pods in one
 * namespace, none on Secrets. The API server refuses every claim beyond the namespace at apply
 * time through Signet's validating webhook, and the controller refuses the same before minting
 * when no webhook is in the way. Only on the local control plane: the webhook runs on this machine.
 */
describe.runIf(inject("localControlPlane"))("issuance policy and SPIFFE ID ownership", () => {
  const admin = kubeConfig();
  const adminObjects = admin.makeApiClient(k8s.CustomObjectsApi);
  const admission = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
  const core = admin.makeApiClient(k8s.CoreV1Api);
  let tenant: k8s.KubeConfig;
  let tenantObjects: k8s.CustomObjectsApi;
  let operator: OperatorProcess;
  let a = "";
  let b = "";
  let unguarded = "";
  let opNs = "";
  let configName = "";
  let policyName = "";
  let victimSecret: k8s.V1Secret;
  let victimStatus: unknown;

  const tenantCreate = (namespace: string, name: string, spec: Record<string, unknown>) =>
    tenantObjects.createNamespacedCustomObject({ ...MI, namespace, body: identity(namespace, name, spec) });

  beforeAll(async () => {
    await installCrds(admin);
    a = await createNamespace(admin, "iss-a");
    b = await createNamespace(admin, "iss-b");
    unguarded = await createNamespace(admin, "iss-c");
    opNs = await createNamespace(admin, "signet-op");
    configName = `signet-validating-${a}`;
    policyName = `grant-${a}`;
    // The admin's exception: namespace a may claim a path outside /ns/ and an external name.
    await adminObjects.createClusterCustomObject({
      ...ISSUANCE,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "IssuancePolicy",
        metadata: { name: policyName },
        spec: {
          namespaceSelector: {
            matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: [a] }],
          },
          spiffeIDs: [`spiffe://cluster.local/payments-${a}/**`, `spiffe://cluster.local/shared-${a}/*`],
          dnsNames: [`*.${a}.example.com`],
        },
      },
    });
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${a},${b},${unguarded}`,
      "--leader-elect=false",
      "--webhook-host=127.0.0.1",
      "--webhook-dns-names=localhost",
      `--validating-webhook-configuration=${configName}`,
    ]);
    await admission.createValidatingWebhookConfiguration({
      body: {
        metadata: { name: configName },
        webhooks: [
          {
            name: "machineidentity-claims.signet.dev",
            admissionReviewVersions: ["v1"],
            clientConfig: { url: `https://localhost:${operator.webhookPort}/validate-machineidentities` },
            rules: [
              {
                apiGroups: [GROUP],
                apiVersions: [VERSION],
                operations: ["CREATE", "UPDATE"],
                resources: ["machineidentities"],
                scope: "Namespaced",
              },
            ],
            // Namespace c is left out: there the controller alone stands between a claim and a mint.
            namespaceSelector: {
              matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: [a, b] }],
            },
            failurePolicy: "Fail",
            sideEffects: "None",
            matchPolicy: "Equivalent",
            timeoutSeconds: 10,
          },
        ],
      },
    });
    await waitFor("the operator to fill in the caBundle", async () => {
      const cfg = await admission.readValidatingWebhookConfiguration({ name: configName });
      return cfg.webhooks?.[0]?.clientConfig.caBundle || undefined;
    });
    tenant = await userKubeConfig(`tenant-${a}`);
    await grantTenant(admin, a, `tenant-${a}`);
    tenantObjects = tenant.makeApiClient(k8s.CustomObjectsApi);

    // The victims: an identity in b, and one in a whose default SPIFFE ID a tenant could copy.
    await waitFor("the webhook to admit the victim", () =>
      createIdentity(admin, b, "ledger", { dnsNames: [`ledger.${b}.svc`] }).then(() => true),
    );
    await createIdentity(admin, a, "payments");
    await waitReady(admin, b, "ledger");
    await waitReady(admin, a, "payments");
    victimSecret = await core.readNamespacedSecret({ namespace: b, name: "ledger-identity" });
    victimStatus = (await readIdentity(admin, b, "ledger")).status;
  });

  afterAll(async () => {
    await admission.deleteValidatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    await adminObjects.deleteClusterCustomObject({ ...ISSUANCE, name: policyName }).catch(() => undefined);
    await operator?.stop();
  });

  it.each([
    ["another namespace's Service", () => `ledger.${b}.svc`],
    ["the API server's name", () => "kubernetes.default.svc"],
    ["Signet's own webhook Service", () => `signet-webhook.${opNs}.svc`],
    ["an external domain no policy grants", () => "payments.example.org"],
    ["a wildcard over everything named like the namespace", () => `*.${a}`],
  ])(
    "refuses the tenant a certificate for %s at apply time, naming resource, field and rule",
    async (_, name) => {
      const message = await refusal(tenantCreate(a, "thief", { dnsNames: [name()] }));
      expect(message).toContain(`MachineIdentity ${a}/thief`);
      expect(message).toContain("spec.dnsNames[0]");
      expect(message).toContain(`namespace "${a}" may not claim DNS name "${name()}"`);
      expect(message).toContain("IssuancePolicy");
    },
  );

  it("refuses the tenant a SPIFFE ID outside /ns/<namespace>/ that no policy grants", async () => {
    const message = await refusal(tenantCreate(a, "thief", { spiffeID: "spiffe://cluster.local/payments" }));
    expect(message).toContain(`MachineIdentity ${a}/thief`);
    expect(message).toContain("spec.spiffeID");
    expect(message).toContain(`by default it may claim only spiffe://cluster.local/ns/${a}/...`);
  });

  it("refuses the tenant another identity's default SPIFFE ID, naming the holder", async () => {
    const message = await refusal(
      tenantCreate(a, "thief", { spiffeID: `spiffe://cluster.local/ns/${a}/id/payments` }),
    );
    expect(message).toContain("spec.spiffeID");
    expect(message).toContain(`already held by MachineIdentity ${a}/payments`);
  });

  it("refuses the tenant an IssuancePolicy of its own: granting claims is the cluster admin's", async () => {
    const { code, message } = await rejection(
      tenantObjects.createClusterCustomObject({
        ...ISSUANCE,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "IssuancePolicy",
          metadata: { name: `self-grant-${a}` },
          spec: { namespaceSelector: {}, spiffeIDs: ["spiffe://cluster.local/**"] },
        },
      }),
    );
    expect(code).toBe(403);
    expect(message).toContain("issuancepolicies");
  });

  it("refuses the tenant, at apply time, a MachineIdentity naming another identity's Secret", async () => {
    const message = await refusal(tenantCreate(a, "alias", { secretName: "payments-identity" }));
    expect(message).toContain(`MachineIdentity ${a}/alias`);
    expect(message).toContain("spec.secretName");
    expect(message).toContain(`MachineIdentity ${a}/payments`);
  });

  it("grants the admin's exceptions only to the namespace the policy selects", async () => {
    await tenantCreate(a, "partner-api", {
      spiffeID: `spiffe://cluster.local/payments-${a}/partner`,
      dnsNames: [`api.${a}.example.com`],
    });
    await waitReady(admin, a, "partner-api");
    const files = await readSecretFiles(admin, a, "partner-api-identity");
    const leaf = verifiedLeaf(files?.files ?? { "tls.crt": "", "tls.key": "", "ca.crt": "" });
    expect(leaf.subjectAltName).toContain(`DNS:api.${a}.example.com`);
    expect(leaf.subjectAltName).toContain(`URI:spiffe://cluster.local/payments-${a}/partner`);

    const message = await refusal(
      adminObjects.createNamespacedCustomObject({
        ...MI,
        namespace: b,
        body: identity(b, "partner-api", {
          spiffeID: `spiffe://cluster.local/payments-${a}/partner-b`,
          dnsNames: [`api.${a}.example.com`],
        }),
      }),
    );
    expect(message).toContain(`MachineIdentity ${b}/partner-api`);
    expect(message).toContain("spec.spiffeID");
    expect(message).toContain("spec.dnsNames[0]");
  });

  it("keeps one holder per SPIFFE ID when the webhook is not in the way, and mints nothing for the rest", async () => {
    // In the unguarded namespace both claimants are stored; the controller decides. A path the
    // default rule refuses there is refused before minting, too.
    const shared = `spiffe://cluster.local/ns/${unguarded}/id/shared`;
    await Promise.all([
      createIdentity(admin, unguarded, "first", { spiffeID: shared }),
      createIdentity(admin, unguarded, "second", { spiffeID: shared }),
    ]);
    await createIdentity(admin, unguarded, "outside", { spiffeID: "spiffe://cluster.local/payments" });
    const outside = await waitReadyReason(admin, unguarded, "outside", "ClaimNotPermitted");
    expect(outside.status?.conditions?.find((c) => c.type === "Ready")?.message).toContain("spec.spiffeID");

    const outcome = async () => {
      const got = await Promise.all(["first", "second"].map((n) => readIdentity(admin, unguarded, n)));
      const reasons = got.map((mi) => mi.status?.conditions?.find((c) => c.type === "Ready"));
      const lost = reasons.findIndex((r) => r?.reason === "SpiffeIDConflict");
      const held = reasons.findIndex((r) => r?.status === "True");
      return lost >= 0 && held >= 0 && lost !== held
        ? { loser: ["first", "second"][lost] as string, winner: ["first", "second"][held] as string }
        : undefined;
    };
    const { loser, winner } = await waitFor(
      "one claimant to hold the SPIFFE ID and the other to be refused",
      outcome,
    );
    expect(
      (await readIdentity(admin, unguarded, loser)).status?.conditions?.find((c) => c.type === "Ready")
        ?.message,
    ).toContain(`MachineIdentity ${unguarded}/${winner}`);
    // A few more reconciles change nothing: the loser has and gets no Secret.
    await sleep(2_000);
    expect(await outcome()).toEqual({ loser, winner });
    expect(await readSecretFiles(admin, unguarded, `${loser}-identity`)).toBeUndefined();
    expect(await readSecretFiles(admin, unguarded, `${winner}-identity`)).toBeDefined();
    expect(await readSecretFiles(admin, unguarded, "outside-identity")).toBeUndefined();
  });

  it("leaves the victim's Secret and status exactly as they were", async () => {
    await sleep(1_000);
    const secret = await core.readNamespacedSecret({ namespace: b, name: "ledger-identity" });
    expect(secret.metadata?.resourceVersion).toBe(victimSecret.metadata?.resourceVersion);
    expect(secret.data).toEqual(victimSecret.data);
    expect((await readIdentity(admin, b, "ledger")).status).toEqual(victimStatus);
  });
});
