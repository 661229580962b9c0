import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { helmBinary, helmTemplate } from "../../scripts/render-manifests.ts";
import {
  MACHINE_IDENTITIES_WEBHOOK_NAME,
  renderMutatingWebhookConfiguration,
  renderValidatingWebhookConfiguration,
} from "../../webhooks/src/configuration.ts";
import type { MachineIdentityLike } from "../../webhooks/src/identity.ts";
import { type Fixture, startFixture } from "../../webhooks/src/testing/fixture.ts";
import { parseObjects } from "../packaging/support.ts";
import { createNamespace, kubeConfig, userKubeConfig } from "../support/cluster.ts";
import { grantTenant, rejection } from "../support/tenant.ts";
import { waitFor } from "../support/wait.ts";

/**
 * The tenant of the threat model: every right on pods (ephemeral containers included), workloads and
 * Signet's resources in one namespace, none on Secrets, tries to reach identity Secrets it was never
 * given. The real kube-apiserver calls the real webhook server (mutating and validating paths) on
 * loopback; MachineIdentities come from the server's injected cache. The label policies are the
 * chart's own, rendered by helm for watchNamespaces=[served]; their bindings are narrowed to this
 * file's two namespaces (one requirement added, the chart's kept) so that other files are unaffected.
 */

const MOUNT = "/var/run/secrets/signet.dev/identity";
const IMAGE = "registry.k8s.io/pause:3.10";
const RULE = "an identity Secret reaches a pod only through Signet's injection";

function identity(serviceAccounts: string[], secretName?: string): MachineIdentityLike {
  return {
    spec: { serviceAccounts, ...(secretName ? { secretName } : {}) },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
}

function pod(
  name: string,
  spec: Partial<k8s.V1PodSpec> = {},
  metadata: Partial<k8s.V1ObjectMeta> = {},
): k8s.V1Pod {
  return {
    metadata: { name, ...metadata },
    spec: { serviceAccountName: "payments", containers: [{ name: "app", image: IMAGE }], ...spec },
  };
}

const optIn = (identityName = "payments-api"): Partial<k8s.V1ObjectMeta> => ({
  labels: { "signet.dev/inject": "true" },
  annotations: { "signet.dev/identity": identityName },
});

describe.runIf(inject("localControlPlane"))(
  "identity Secrets and the identity label, against a tenant",
  () => {
    const admin = kubeConfig();
    const adminCore = admin.makeApiClient(k8s.CoreV1Api);
    const admission = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    const run = randomBytes(3).toString("hex");
    const release = `e2e-${run}`;
    let f: Fixture;
    let served: string;
    let unserved: string;
    let core: k8s.CoreV1Api;
    let apps: k8s.AppsV1Api;
    const created: { kind: "mutating" | "validating" | "policy" | "binding"; name: string }[] = [];

    beforeAll(async () => {
      f = await startFixture();
      served = await createNamespace(admin, "tenant");
      unserved = await createNamespace(admin, "unserved");
      for (const namespace of [served, unserved]) {
        for (const name of ["payments", "ledger", "default"]) {
          await adminCore.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
        }
      }
      f.identities.set(`${served}/payments-api`, identity(["payments"]));
      f.identities.set(`${served}/ledger`, identity(["ledger"], "ledger-creds"));

      const user = `tenant-${run}`;
      for (const namespace of [served, unserved]) await grantTenant(admin, namespace, user);
      const tenant = await userKubeConfig(user);
      core = tenant.makeApiClient(k8s.CoreV1Api);
      apps = tenant.makeApiClient(k8s.AppsV1Api);

      const onlyServed = { matchLabels: { "kubernetes.io/metadata.name": served } };
      const mutating = renderMutatingWebhookConfiguration({
        name: `signet-e2e-${served}`,
        target: { url: `https://127.0.0.1:${f.server.port}/mutate-pods` },
        caBundlePem: f.ca.certPem,
        namespaceSelector: onlyServed,
      });
      await admission.createMutatingWebhookConfiguration({ body: mutating });
      created.push({ kind: "mutating", name: mutating.metadata?.name ?? "" });
      const validating = renderValidatingWebhookConfiguration({
        name: `signet-e2e-validating-${served}`,
        target: { baseUrl: `https://127.0.0.1:${f.server.port}` },
        caBundlePem: f.ca.certPem,
        namespaceSelector: onlyServed,
      });
      // MachineIdentity claims are another handler's, not served by this fixture.
      validating.webhooks = validating.webhooks?.filter((w) => w.name !== MACHINE_IDENTITIES_WEBHOOK_NAME);
      await admission.createValidatingWebhookConfiguration({ body: validating });
      created.push({ kind: "validating", name: validating.metadata?.name ?? "" });

      const ours = { key: "kubernetes.io/metadata.name", operator: "In", values: [served, unserved] };
      const policies = parseObjects(
        helmTemplate(helmBinary(), [
          "--set-json",
          `watchNamespaces=["${served}"]`,
          "--show-only",
          "templates/validatingadmissionpolicy.yaml",
        ]).replaceAll("signet-identity-label", `${release}-identity-label`),
      );
      for (const object of policies) {
        if (object.kind === "ValidatingAdmissionPolicy") {
          await admission.createValidatingAdmissionPolicy({
            body: object as k8s.V1ValidatingAdmissionPolicy,
          });
          created.push({ kind: "policy", name: object.metadata?.name ?? "" });
        } else {
          const binding = object as k8s.V1ValidatingAdmissionPolicyBinding;
          const selector = binding.spec?.matchResources?.namespaceSelector ?? {};
          binding.spec = {
            ...binding.spec,
            matchResources: {
              namespaceSelector: {
                ...selector,
                matchExpressions: [...(selector.matchExpressions ?? []), ours],
              },
            },
          };
          await admission.createValidatingAdmissionPolicyBinding({ body: binding });
          created.push({ kind: "binding", name: binding.metadata?.name ?? "" });
        }
      }
      expect(created.filter((c) => c.kind === "binding").map((c) => c.name)).toEqual([
        `${release}-identity-label`,
        `${release}-identity-label-unserved-0`,
      ]);

      await waitFor("the validating webhook to deny a stolen Secret", async () => {
        const result = await rejection(
          core.createNamespacedPod({
            namespace: served,
            body: pod("probe", { volumes: [{ name: "x", secret: { secretName: "ledger-creds" } }] }),
            dryRun: "All",
          }),
        ).catch(() => undefined);
        return result?.message.includes("pod-references.signet.dev") ? true : undefined;
      });
      await waitFor("the label policy to refuse the label where it is not served", async () => {
        const result = await rejection(
          core.createNamespacedPod({
            namespace: unserved,
            // Opted in with the same name, so that only the unserved-namespace refusal applies:
            // another file's copy of the label policy may be bound cluster-wide at the same time.
            body: pod(
              "probe",
              {},
              {
                labels: { "signet.dev/inject": "true", "signet.dev/identity": "x" },
                annotations: { "signet.dev/identity": "x" },
              },
            ),
            dryRun: "All",
          }),
        ).catch(() => undefined);
        return result?.message.includes("is refused in namespace") ? true : undefined;
      });
    });

    afterAll(async () => {
      for (const { kind, name } of created.reverse()) {
        const remove = {
          mutating: () => admission.deleteMutatingWebhookConfiguration({ name }),
          validating: () => admission.deleteValidatingWebhookConfiguration({ name }),
          policy: () => admission.deleteValidatingAdmissionPolicy({ name }),
          binding: () => admission.deleteValidatingAdmissionPolicyBinding({ name }),
        }[kind];
        await remove().catch(() => undefined);
      }
      await f?.close();
    });

    const denied: { name: string; body: () => k8s.V1Pod; message: string[] }[] = [
      {
        name: "a plain secret volume of another identity's Secret",
        body: () =>
          pod("plain-volume", { volumes: [{ name: "stolen", secret: { secretName: "ledger-creds" } }] }),
        message: [
          'Secret "ledger-creds" at spec.volumes[0].secret.secretName',
          'MachineIdentity "NS/ledger"',
        ],
      },
      {
        name: "a projected secret source",
        body: () =>
          pod("projected", {
            volumes: [
              { name: "bundle", projected: { sources: [{ secret: { name: "payments-api-identity" } }] } },
            ],
          }),
        message: [
          'Secret "payments-api-identity" at spec.volumes[0].projected.sources[0].secret',
          'MachineIdentity "NS/payments-api"',
        ],
      },
      {
        name: "an env secretKeyRef",
        body: () =>
          pod("env", {
            containers: [
              {
                name: "app",
                image: IMAGE,
                env: [{ name: "KEY", valueFrom: { secretKeyRef: { name: "ledger-creds", key: "tls.key" } } }],
              },
            ],
          }),
        message: ['Secret "ledger-creds" at spec.containers[0].env[0].valueFrom.secretKeyRef'],
      },
      {
        name: "an envFrom secretRef",
        body: () =>
          pod("env-from", {
            containers: [
              { name: "app", image: IMAGE, envFrom: [{ secretRef: { name: "payments-api-identity" } }] },
            ],
          }),
        message: ['Secret "payments-api-identity" at spec.containers[0].envFrom[0].secretRef'],
      },
      {
        name: "an opted-in pod of identity payments-api that also mounts ledger's Secret",
        body: () =>
          pod("both", { volumes: [{ name: "extra", secret: { secretName: "ledger-creds" } }] }, optIn()),
        // The injected volume is appended after the pod's own, which keeps index 0.
        message: [
          'Secret "ledger-creds" at spec.volumes[0].secret.secretName',
          'MachineIdentity "NS/ledger"',
        ],
      },
    ];
    it.each(denied)("denies $name, naming the Secret, the field and the rule", async ({ body, message }) => {
      const result = await rejection(core.createNamespacedPod({ namespace: served, body: body() }));
      expect(result.code).toBe(403);
      expect(result.message).toContain('admission webhook "pod-references.signet.dev" denied the request');
      for (const part of message) expect(result.message).toContain(part.replace("NS", served));
      expect(result.message).toContain(RULE);
    });

    it("admits the pod Signet injects, and a pod mounting an ordinary Secret", async () => {
      const injected = await core.createNamespacedPod({
        namespace: served,
        body: pod("injected", {}, optIn()),
      });
      expect(injected.metadata?.labels?.["signet.dev/identity"]).toBe("payments-api");
      expect(injected.spec?.volumes).toContainEqual({
        name: "signet-identity",
        secret: { secretName: "payments-api-identity", defaultMode: 0o444 },
      });
      const ordinary = await core.createNamespacedPod({
        namespace: served,
        body: pod("ordinary", {
          volumes: [{ name: "config", secret: { secretName: "app-config" } }],
          containers: [{ name: "app", image: IMAGE, envFrom: [{ secretRef: { name: "app-config" } }] }],
        }),
      });
      expect(ordinary.spec?.volumes?.[0]?.secret?.secretName).toBe("app-config");
    });

    describe("ephemeral containers", () => {
      const addEphemeral = async (name: string, container: k8s.V1EphemeralContainer) => {
        const current = await core.readNamespacedPod({ namespace: served, name });
        current.spec = { ...current.spec, containers: current.spec?.containers ?? [] };
        current.spec.ephemeralContainers = [...(current.spec.ephemeralContainers ?? []), container];
        return core.replaceNamespacedPodEphemeralcontainers({ namespace: served, name, body: current });
      };

      beforeAll(async () => {
        await core.createNamespacedPod({ namespace: served, body: pod("debugged", {}, optIn()) });
      });

      it("denies, as kubectl debug would add it, an ephemeral container that mounts signet-identity", async () => {
        const result = await rejection(
          addEphemeral("debugged", {
            name: "debugger",
            image: "busybox",
            volumeMounts: [{ name: "signet-identity", mountPath: MOUNT, readOnly: true }],
          }),
        );
        expect(result.code).toBe(403);
        expect(result.message).toContain('admission webhook "pod-references.signet.dev" denied the request');
        expect(result.message).toContain(
          'ephemeral container "debugger" mounts volume "signet-identity" at spec.ephemeralContainers[0].volumeMounts[0]',
        );
        const stored = await adminCore.readNamespacedPod({ namespace: served, name: "debugged" });
        expect(stored.spec?.ephemeralContainers).toBeUndefined();
      });

      it("admits an ephemeral container that mounts nothing of Signet's", async () => {
        const updated = await addEphemeral("debugged", { name: "shell", image: "busybox" });
        expect(updated.spec?.ephemeralContainers?.map((c) => c.name)).toEqual(["shell"]);
      });
    });

    it("denies a Deployment whose pod template mounts an identity Secret, saying Signet injects it", async () => {
      const result = await rejection(
        apps.createNamespacedDeployment({
          namespace: served,
          body: {
            metadata: { name: "thief" },
            spec: {
              selector: { matchLabels: { app: "thief" } },
              template: {
                metadata: { labels: { app: "thief" } },
                spec: {
                  containers: [{ name: "app", image: IMAGE }],
                  volumes: [{ name: "stolen", secret: { secretName: "ledger-creds" } }],
                },
              },
            },
          },
        }),
      );
      expect(result.code).toBe(403);
      expect(result.message).toContain(
        'admission webhook "workload-references.signet.dev" denied the request',
      );
      expect(result.message).toContain(
        `Deployment "${served}/thief" (its pod template) references Secret "ledger-creds" at spec.template.spec.volumes[0].secret.secretName`,
      );
      expect(result.message).toContain("Signet injects it into each pod at creation");
    });

    describe("the identity label", () => {
      const forged = (name: string, serviceAccountName: string) =>
        pod(
          name,
          { serviceAccountName },
          {
            labels: { "signet.dev/inject": "true", "signet.dev/identity": "payments-api" },
            annotations: { "signet.dev/identity": "payments-api" },
          },
        );

      it("is refused by the API server in a namespace the webhook does not serve", async () => {
        const result = await rejection(
          core.createNamespacedPod({ namespace: unserved, body: forged("forged", "payments") }),
        );
        expect(result.code).toBe(403);
        expect(result.message).toContain(`ValidatingAdmissionPolicy '${release}-identity-label-unserved'`);
        expect(result.message).toContain(`label signet.dev/identity is refused in namespace "${unserved}"`);
      });

      it("still goes through the webhook in a served namespace: checked, then admitted or denied", async () => {
        const admitted = await core.createNamespacedPod({
          namespace: served,
          body: forged("labelled", "payments"),
        });
        expect(admitted.metadata?.labels?.["signet.dev/identity"]).toBe("payments-api");
        expect(admitted.spec?.volumes?.map((v) => v.name)).toContain("signet-identity");
        const result = await rejection(
          core.createNamespacedPod({ namespace: served, body: forged("wrong-sa", "default") }),
        );
        expect(result.message).toContain('admission webhook "pod-identity.signet.dev" denied the request');
        expect(result.message).toContain('does not list ServiceAccount "default"');
      });
    });
  },
);
