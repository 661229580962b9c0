// The security-critical admission cases, written once and run wherever a webhook serves pods: the
// webhook server on loopback, the operator process on loopback, and the chart on a real node where
// the API server calls the webhook in-cluster through its Service. A tenant of one namespace (every
// right there, none on Secrets) plays against the mutating webhook and the shipped
// ValidatingAdmissionPolicy. Every case sets up what it needs in the shared beforeAll or itself, so
// each passes alone.
import { readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  createIdentity,
  patchIdentitySpec,
  readIdentity,
  readSecretFiles,
  uriSans,
  verifiedLeaf,
} from "../identity/support.ts";
import { rejection } from "../support/tenant.ts";
import { waitFor } from "../support/wait.ts";

const MOUNT = "/var/run/secrets/signet.dev/identity";
const WEBHOOK_DENIED = 'admission webhook "pod-identity.signet.dev" denied the request';
const HAND_SET = "label signet.dev/identity is set only by Signet's admission webhook";

export interface IdentitySpec {
  serviceAccounts: string[];
  suspend?: boolean;
}

export interface AdmissionSetup {
  /** Cluster admin: ServiceAccounts, the other namespace's objects, reading Secrets. */
  admin: k8s.KubeConfig;
  /** A tenant of `namespace` (see grantTenant): every right there, none on Secrets. */
  tenant: k8s.KubeConfig;
  /** The tenant's namespace, served by the webhook and bound by the identity-label policy. */
  namespace: string;
  /** Another namespace; its pods are stored as they would be without Signet. */
  otherNamespace: string;
  /** The image of the pods the cases create. */
  image: string;
  /** Creates or updates a MachineIdentity as the webhook will see it, once it can see it. */
  putIdentity(namespace: string, name: string, spec: IdentitySpec): Promise<void>;
  /** The number of admission requests the webhook has served, where the test can count them. */
  admissionRequests?: () => Promise<number>;
}

export interface AdmissionOptions {
  /** True when identities are reconciled by the operator, which issues their Secrets. */
  issuesSecrets?: boolean;
}

const POLICY_FILE = new URL("../../webhooks/manifests/identity-label-policy.yaml", import.meta.url);

/** The shipped policy, verbatim, under a name of this run, bound to `namespace` only. */
export async function bindShippedPolicy(kc: k8s.KubeConfig, namespace: string): Promise<string> {
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const [policy, binding] = parseAllDocuments(readFileSync(POLICY_FILE, "utf8")).map((d) => d.toJS()) as [
    k8s.V1ValidatingAdmissionPolicy,
    k8s.V1ValidatingAdmissionPolicyBinding,
  ];
  const name = `signet-identity-label-${namespace}`;
  await admission.createValidatingAdmissionPolicy({
    body: { ...policy, metadata: { ...policy.metadata, name } },
  });
  await admission.createValidatingAdmissionPolicyBinding({
    body: {
      ...binding,
      metadata: { ...binding.metadata, name },
      spec: {
        ...binding.spec,
        policyName: name,
        matchResources: {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
        },
      },
    },
  });
  return name;
}

/**
 * `putIdentity` for identities the operator reconciles: created or updated as `tenant` in its
 * namespace and as `admin` elsewhere, and returned once the operator has seen the change.
 */
export function operatorIdentities(admin: k8s.KubeConfig, tenant: k8s.KubeConfig, tenantNamespace: string) {
  return async (namespace: string, name: string, spec: IdentitySpec): Promise<void> => {
    const kc = namespace === tenantNamespace ? tenant : admin;
    const exists = await readIdentity(kc, namespace, name).then(
      () => true,
      (err) => {
        if (err instanceof k8s.ApiException && err.code === 404) return false;
        throw err;
      },
    );
    if (exists) await patchIdentitySpec(kc, namespace, name, { suspend: false, ...spec });
    else await createIdentity(kc, namespace, name, spec);
    await waitFor(`MachineIdentity ${namespace}/${name} observed by the operator`, async () => {
      const mi = await readIdentity(kc, namespace, name);
      const ready = mi.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      return mi.status?.observedGeneration === mi.metadata.generation && (ready || spec.suspend)
        ? true
        : undefined;
    });
  };
}

/** Registers the cases in the calling describe; `setup` is read once its beforeAll has run. */
export function admissionCases(setup: () => AdmissionSetup, options: AdmissionOptions = {}): void {
  let s: AdmissionSetup;
  let admin: k8s.CoreV1Api;
  let tenant: k8s.CoreV1Api;
  let namespace: string;

  const pod = (
    name: string,
    options: {
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      serviceAccountName?: string;
    } = {},
  ): k8s.V1Pod => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels: options.labels ?? { app: "payments", "signet.dev/inject": "true" },
      annotations: options.annotations ?? { "signet.dev/identity": "payments-api" },
    },
    spec: {
      ...(options.serviceAccountName === undefined ? {} : { serviceAccountName: options.serviceAccountName }),
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      initContainers: [{ name: "fetch", image: s.image }],
      containers: [
        { name: "app", image: s.image, env: [{ name: "PORT", value: "8443" }] },
        { name: "proxy", image: s.image },
      ],
    },
  });

  /** The message of the webhook's denial of a dry-run create, or undefined when it admits. */
  const dryRunDenial = (body: k8s.V1Pod): Promise<string | undefined> =>
    tenant.createNamespacedPod({ namespace, body, dryRun: "All" }).then(
      () => undefined,
      async (err) => (await rejection(Promise.reject(err))).message,
    );

  beforeAll(async () => {
    s = setup();
    namespace = s.namespace;
    admin = s.admin.makeApiClient(k8s.CoreV1Api);
    tenant = s.tenant.makeApiClient(k8s.CoreV1Api);
    for (const [ns, name] of [
      [namespace, "payments"],
      [namespace, "default"],
      [s.otherNamespace, "payments"],
    ] as const) {
      await admin
        .createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } })
        .catch((err) => {
          // The node's controller-manager creates "default" itself.
          if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
        });
    }
    await s.putIdentity(namespace, "payments-api", { serviceAccounts: ["payments"] });
    await s.putIdentity(namespace, "paused", { serviceAccounts: ["payments"], suspend: true });
    await s.putIdentity(s.otherNamespace, "ledger", { serviceAccounts: ["payments"] });

    await waitFor("the webhook to inject", async () => {
      const probe = await tenant.createNamespacedPod({
        namespace,
        body: pod("probe", { serviceAccountName: "payments" }),
        dryRun: "All",
      });
      return probe.metadata?.labels?.["signet.dev/identity"] === "payments-api" ? true : undefined;
    });
    await waitFor("the webhook to see the suspended identity", async () =>
      (
        await dryRunDenial(
          pod("probe", { serviceAccountName: "payments", annotations: { "signet.dev/identity": "paused" } }),
        )
      )?.includes("is suspended")
        ? true
        : undefined,
    );
    await waitFor("the policy to reject a hand-set label", async () =>
      (await dryRunDenial(pod("probe", { labels: { "signet.dev/identity": "payments-api" } })))?.includes(
        "ValidatingAdmissionPolicy",
      )
        ? true
        : undefined,
    );
  }, 120_000);

  it("stores an authorized pod with the identity volume, read-only mounts, env and label", async () => {
    const stored = await tenant.createNamespacedPod({
      namespace,
      body: pod("authorized", { serviceAccountName: "payments" }),
    });

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
    const stored = await tenant.createNamespacedPod({
      namespace,
      body: pod("relabelled", {
        serviceAccountName: "payments",
        labels: { "signet.dev/inject": "true", "signet.dev/identity": "admin" },
      }),
    });
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
          annotations: { "signet.dev/identity": `${s.otherNamespace}/ledger` },
        }),
      message: () => `a pod can only hold a MachineIdentity of its own namespace "${namespace}"`,
    },
    {
      name: "denies a pod that opts in without naming an identity",
      body: () => pod("unnamed", { serviceAccountName: "payments", annotations: {} }),
      message: () => "has no annotation signet.dev/identity",
    },
  ];
  for (const { name, body, message } of denials) {
    it(`${name}, with a message that says what to fix`, async () => {
      const result = await rejection(tenant.createNamespacedPod({ namespace, body: body() }));
      expect(result.code).toBe(403);
      expect(result.message).toContain(WEBHOOK_DENIED);
      expect(result.message).toContain(message());
    });
  }

  it("denies pods of an identity once it is suspended, and admits them again once it is resumed", async () => {
    await s.putIdentity(namespace, "toggled", { serviceAccounts: ["payments"] });
    const body = pod("toggled", {
      serviceAccountName: "payments",
      annotations: { "signet.dev/identity": "toggled" },
    });
    await waitFor("the webhook to admit the identity's pods", async () =>
      (await dryRunDenial(body)) === undefined ? true : undefined,
    );
    await s.putIdentity(namespace, "toggled", { serviceAccounts: ["payments"], suspend: true });
    const message = await waitFor("the suspension to reach the webhook", () => dryRunDenial(body));
    expect(message).toContain(WEBHOOK_DENIED);
    expect(message).toContain(`MachineIdentity "${namespace}/toggled" is suspended (spec.suspend: true)`);
    await s.putIdentity(namespace, "toggled", { serviceAccounts: ["payments"] });
    await waitFor("the resumption to reach the webhook", async () =>
      (await dryRunDenial(body)) === undefined ? true : undefined,
    );
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
  for (const { name, labels, annotations } of handSet) {
    it(name, async () => {
      const result = await rejection(
        tenant.createNamespacedPod({
          namespace,
          body: pod("hand-set", { labels, annotations, serviceAccountName: "payments" }),
        }),
      );
      expect(result.code).toBe(403);
      expect(result.message).toContain(HAND_SET);
    });
  }

  describe("updates of existing pods", () => {
    const relabel = async (
      name: string,
      change: (p: k8s.V1Pod) => void,
      status = false,
    ): Promise<k8s.V1Pod> => {
      const current = await tenant.readNamespacedPod({ namespace, name });
      change(current);
      // A tenant has no right on pods/status; the policy binds whoever has it, admins included.
      return status
        ? admin.replaceNamespacedPodStatus({ namespace, name, body: current })
        : tenant.replaceNamespacedPod({ namespace, name, body: current });
    };

    beforeAll(async () => {
      await tenant.createNamespacedPod({
        namespace,
        body: pod("plain", { labels: { app: "plain" }, annotations: {}, serviceAccountName: "payments" }),
      });
      await tenant.createNamespacedPod({
        namespace,
        body: pod("holder", { serviceAccountName: "payments" }),
      });
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
        name: "refuses adding the identity label through the status subresource, even to an admin",
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
    for (const { name: title, pod: name, change, status, message } of refused) {
      it(title, async () => {
        // The kubelet may update the pod's status between the read and the write: retry on conflicts.
        const result = await waitFor("a refusal other than a conflict", async () => {
          const r = await rejection(relabel(name, change, status));
          return r.code === 409 ? undefined : r;
        });
        expect(result.code).toBe(403);
        expect(result.message).toContain(message);
        const stored = await tenant.readNamespacedPod({ namespace, name });
        expect(stored.metadata?.labels?.["signet.dev/identity"]).toBe(
          name === "holder" ? "payments-api" : undefined,
        );
      });
    }

    it("allows any other label change on a pod that holds an identity", async () => {
      const updated = await waitFor("an update without a conflict", () =>
        relabel("holder", (p) => Object.assign(p.metadata?.labels ?? {}, { tier: "backend" })),
      );
      expect(updated.metadata?.labels).toMatchObject({
        tier: "backend",
        "signet.dev/identity": "payments-api",
      });
    });
  });

  it("stores a pod that does not opt in exactly as it would without Signet", async () => {
    const body: k8s.V1Pod = {
      metadata: { name: "bystander", labels: { app: "web" }, annotations: { note: "no identity" } },
      spec: {
        serviceAccountName: "payments",
        automountServiceAccountToken: false,
        containers: [
          {
            name: "web",
            image: s.image,
            env: [{ name: "SIGNET_SPIFFE_ID", value: "mine" }],
            volumeMounts: [{ name: "data", mountPath: MOUNT }],
          },
        ],
        volumes: [{ name: "data", emptyDir: {} }],
      },
    };
    const before = await s.admissionRequests?.();
    const stored = await tenant.createNamespacedPod({ namespace, body });
    const reference = await admin.createNamespacedPod({ namespace: s.otherNamespace, body });
    // Where the webhook's requests can be counted: it was not even called.
    if (before !== undefined) expect(await s.admissionRequests?.()).toBe(before);
    expect(stored.spec).toEqual(reference.spec);
    expect(stored.metadata?.labels).toEqual({ app: "web" });
    expect(stored.metadata?.annotations).toEqual({ note: "no identity" });
  });

  describe.runIf(options.issuesSecrets === true)("with the operator issuing the identities", () => {
    it("mounts a Secret that holds a valid SVID for the pod's identity, and counts the pod as a consumer", async () => {
      await s.putIdentity(namespace, "svid", { serviceAccounts: ["payments"] });
      const stored = await tenant.createNamespacedPod({
        namespace,
        body: pod("svid-0", {
          serviceAccountName: "payments",
          annotations: { "signet.dev/identity": "svid" },
        }),
      });
      const secretName = stored.spec?.volumes?.find((v) => v.name === "signet-identity")?.secret?.secretName;
      expect(secretName).toBe("svid-identity");
      const spiffeId = `spiffe://cluster.local/ns/${namespace}/id/svid`;
      const mounted = await waitFor("the identity Secret", () =>
        readSecretFiles(s.admin, namespace, "svid-identity"),
      );
      const leaf = verifiedLeaf(mounted.files);
      expect(uriSans(leaf)).toEqual([spiffeId]);
      expect(new Date(leaf.validTo).getTime()).toBeGreaterThan(Date.now());

      await waitFor("status.consumers to count the pod", async () => {
        const mi = (await s.admin.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
          group: "signet.dev",
          version: "v1alpha1",
          namespace,
          plural: "machineidentities",
          name: "svid",
        })) as { status?: { consumers?: number } };
        return mi.status?.consumers === 1 ? true : undefined;
      });
    });

    it("keeps the identity's Secret from the tenant who may run pods that mount it", async () => {
      const result = await rejection(
        tenant.readNamespacedSecret({ namespace, name: "payments-api-identity" }),
      );
      expect(result.code).toBe(403);
      expect(result.message).toContain('cannot get resource "secrets"');
    });
  });
}
