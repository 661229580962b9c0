// The chart installed with Helm into the real API server, and the operator running with nothing but
// the chart's ServiceAccount: the RBAC must be enough for the whole identity and access flow, and
// refuse everything else.
import { randomBytes, X509Certificate } from "node:crypto";
import { get as httpsGet } from "node:https";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chartDir,
  helmBinary,
  helmTemplate,
  manifestsDir,
  NAMESPACE,
} from "../../scripts/render-manifests.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { committedCrds, installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";
import {
  type Access,
  describeAccess,
  flagsFromDeployment,
  mayI,
  mustRun,
  objectKey,
  parseObjects,
  serviceAccountKubeconfig,
} from "./support.ts";

const GROUP = "signet.dev";
const VERSION = "v1alpha1";
const admin = kubeConfig();
const core = admin.makeApiClient(k8s.CoreV1Api);
const apps = admin.makeApiClient(k8s.AppsV1Api);
const objects = admin.makeApiClient(k8s.CustomObjectsApi);
const generic = k8s.KubernetesObjectApi.makeApiClient(admin);

let helm: string;
const helmRun = (args: string[]) => mustRun(helm, ["--kubeconfig", kubeconfigPath(), ...args]);
const statusOf = (err: unknown) => (err as { code?: number }).code;

/** Signet's kinds, read from the server as plain JSON. */
const readCustom = (namespace: string, plural: string, name: string) =>
  objects.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }) as Promise<{
    status?: {
      conditions?: { type: string; status: string }[];
      active?: boolean;
      networkPolicies?: string[];
    };
  }>;
const createCustom = (namespace: string, plural: string, kind: string, name: string, spec: object) =>
  objects.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind, metadata: { name, namespace }, spec },
  });
const decode = (secret: k8s.V1Secret, key: string) =>
  Buffer.from(secret.data?.[key] ?? "", "base64").toString("utf8");

const admissionApi = admin.makeApiClient(k8s.AdmissionregistrationV1Api);

/**
 * The chart refuses the identity label in every namespace it does not serve, but this control plane
 * also holds the namespaces of other test files, running at the same time with webhooks of their
 * own. Right after the install, each refusal binding keeps the chart's requirement and gains one
 * more: only this file's namespaces.
 */
async function narrowLabelRefusal(release: string, namespaces: string[]): Promise<void> {
  const bindings = await admissionApi.listValidatingAdmissionPolicyBinding({
    labelSelector: `app.kubernetes.io/instance=${release}`,
  });
  const ours = { key: "kubernetes.io/metadata.name", operator: "In", values: namespaces };
  for (const binding of bindings.items) {
    if (binding.spec?.policyName !== `${release}-identity-label-unserved`) continue;
    const selector = binding.spec.matchResources?.namespaceSelector ?? {};
    binding.spec.matchResources = {
      ...binding.spec.matchResources,
      namespaceSelector: { ...selector, matchExpressions: [...(selector.matchExpressions ?? []), ours] },
    };
    await admissionApi.replaceValidatingAdmissionPolicyBinding({
      name: binding.metadata?.name ?? "",
      body: binding,
    });
  }
}

/**
 * Points the release's validating webhooks at the operator process on loopback, which stands in for
 * the webhook Service (a bare API server has no Service routing), as the ServiceAccount's operator
 * would be reached in a cluster.
 */
async function validatingWebhooksTo(release: string, port: number): Promise<void> {
  const name = `${release}-validating`;
  const config = await admissionApi.readValidatingWebhookConfiguration({ name });
  for (const webhook of config.webhooks ?? []) {
    const path = webhook.clientConfig.service?.path ?? "";
    webhook.clientConfig = {
      ...webhook.clientConfig,
      service: undefined,
      url: `https://localhost:${port}${path}`,
    };
  }
  await admissionApi.replaceValidatingWebhookConfiguration({ name, body: config });
}

/**
 * Undoes narrowLabelRefusal and validatingWebhooksTo before a helm upgrade, whose server-side apply
 * would otherwise conflict with them: the webhooks back to the manifest's Service (the caBundle the
 * operator wrote stays), the narrowed bindings removed for helm to create again.
 */
async function restoreForHelm(manifest: k8s.KubernetesObject[]): Promise<void> {
  for (const object of manifest) {
    const name = object.metadata?.name ?? "";
    if (object.kind === "ValidatingWebhookConfiguration") {
      const wanted = object as k8s.V1ValidatingWebhookConfiguration;
      const live = await admissionApi.readValidatingWebhookConfiguration({ name });
      live.webhooks = live.webhooks?.map((webhook, i) => ({
        ...webhook,
        clientConfig: { ...wanted.webhooks?.[i]?.clientConfig, caBundle: webhook.clientConfig.caBundle },
      }));
      await admissionApi.replaceValidatingWebhookConfiguration({ name, body: live });
    } else if (object.kind === "ValidatingAdmissionPolicyBinding" && name.includes("-unserved-")) {
      // matchResources is one atomic field with server defaults: helm recreates the binding instead.
      await admissionApi.deleteValidatingAdmissionPolicyBinding({ name });
    }
  }
}

/** What the operator does in a namespace it manages, and in its own namespace, by the chart's RBAC. */
function operatorNeeds(release: string, releaseNs: string, managedNs: string): Access[] {
  const ours = (verb: string, resource: string, group = "") => ({
    verb,
    resource,
    group,
    namespace: managedNs,
  });
  return [
    ...["machineidentities", "accesspolicies", "accessschedules"].flatMap((resource) => [
      ours("list", resource, GROUP),
      ours("watch", resource, GROUP),
      { ...ours("update", resource, GROUP), subresource: "status" },
    ]),
    ...["get", "list", "watch", "create", "patch", "delete"].map((verb) => ours(verb, "secrets")),
    ...["get", "list", "watch", "create", "update", "delete"].map((verb) =>
      ours(verb, "networkpolicies", "networking.k8s.io"),
    ),
    ours("list", "pods"),
    ours("watch", "pods"),
    ours("create", "events"),
    { verb: "create", resource: "leases", group: "coordination.k8s.io", namespace: releaseNs },
    ...["get", "update"].map((verb) => ({
      verb,
      resource: "leases",
      group: "coordination.k8s.io",
      namespace: releaseNs,
      name: "signet-controller",
    })),
    { verb: "create", resource: "secrets", namespace: releaseNs },
    ...["list", "watch"].map((verb) => ({
      verb,
      resource: "secrets",
      namespace: releaseNs,
      name: "signet-webhook-tls",
    })),
    ...["signet-ca", "signet-serving-ca", "signet-webhook-tls"].flatMap((name) =>
      ["get", "update"].map((verb) => ({ verb, resource: "secrets", namespace: releaseNs, name })),
    ),
    ...["get", "list", "watch", "update"].map((verb) => ({
      verb,
      resource: "mutatingwebhookconfigurations",
      group: "admissionregistration.k8s.io",
      name: `${release}-pod-identity`,
    })),
    ...["get", "list", "watch", "update"].map((verb) => ({
      verb,
      resource: "validatingwebhookconfigurations",
      group: "admissionregistration.k8s.io",
      name: `${release}-validating`,
    })),
  ];
}

/** What Signet must never be able to do, wherever it runs. */
function neverAllowed(release: string, releaseNs: string, managedNs: string): Access[] {
  const rbac = "rbac.authorization.k8s.io";
  return [
    { verb: "create", resource: "clusterroles", group: rbac },
    { verb: "create", resource: "clusterrolebindings", group: rbac },
    { verb: "create", resource: "rolebindings", group: rbac, namespace: managedNs },
    { verb: "create", resource: "rolebindings", group: rbac, namespace: releaseNs },
    { verb: "bind", resource: "clusterroles", group: rbac },
    { verb: "escalate", resource: "clusterroles", group: rbac },
    { verb: "impersonate", resource: "users" },
    { verb: "impersonate", resource: "groups" },
    { verb: "impersonate", resource: "serviceaccounts", namespace: releaseNs },
    { verb: "delete", resource: "customresourcedefinitions", group: "apiextensions.k8s.io" },
    { verb: "update", resource: "customresourcedefinitions", group: "apiextensions.k8s.io" },
    { verb: "create", resource: "pods", namespace: managedNs },
    { verb: "update", resource: "pods", namespace: managedNs },
    { verb: "delete", resource: "pods", namespace: managedNs },
    { verb: "create", resource: "pods", subresource: "exec", namespace: managedNs },
    { verb: "update", resource: "machineidentities", group: GROUP, namespace: managedNs },
    { verb: "delete", resource: "machineidentities", group: GROUP, namespace: managedNs },
    {
      verb: "create",
      resource: "serviceaccounts",
      subresource: "token",
      namespace: releaseNs,
      name: release,
    },
    {
      verb: "update",
      resource: "mutatingwebhookconfigurations",
      group: "admissionregistration.k8s.io",
      name: "someone-elses-webhook",
    },
    { verb: "create", resource: "mutatingwebhookconfigurations", group: "admissionregistration.k8s.io" },
    {
      verb: "update",
      resource: "validatingwebhookconfigurations",
      group: "admissionregistration.k8s.io",
      name: "someone-elses-webhook",
    },
    {
      verb: "delete",
      resource: "validatingadmissionpolicies",
      group: "admissionregistration.k8s.io",
      name: `${release}-identity-label`,
    },
    { verb: "update", resource: "leases", group: "coordination.k8s.io", namespace: releaseNs, name: "other" },
    { verb: "get", resource: "nodes" },
  ];
}

describe("the chart installed with Helm, Signet limited to chosen namespaces", () => {
  const release = `signet-${randomBytes(3).toString("hex")}`;
  let releaseNs: string;
  let managedNs: string;
  let outsideNs: string;
  let manifest: k8s.KubernetesObject[] = [];
  let serviceAccount: { path: string; kc: k8s.KubeConfig };
  let operator: OperatorProcess | undefined;
  let uninstalled = false;

  beforeAll(async () => {
    helm = helmBinary();
    releaseNs = await createNamespace(admin, "signet-rel");
    managedNs = await createNamespace(admin, "signet-app");
    outsideNs = await createNamespace(admin, "signet-outside");
    // The CRDs are cluster-scoped and shared with other test files: Helm creates them when they are
    // missing and leaves them alone when present; installCrds then waits until they are served.
    await helmRun([
      "install",
      release,
      chartDir,
      "--namespace",
      releaseNs,
      "--set-json",
      `watchNamespaces=["${managedNs}"]`,
      "--set",
      "minTTL=1m",
    ]);
    await narrowLabelRefusal(release, [releaseNs, managedNs, outsideNs]);
    await installCrds(admin);
    manifest = parseObjects(await helmRun(["get", "manifest", release, "--namespace", releaseNs]));
  });

  afterAll(async () => {
    await operator?.stop();
    if (!uninstalled) await helmRun(["uninstall", release, "--namespace", releaseNs]).catch(() => undefined);
  });

  it("creates every object of the release, and nothing else carries its label", async () => {
    expect(manifest.map((o) => o.kind).sort()).toEqual(
      [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "MutatingWebhookConfiguration",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "Role",
        "RoleBinding",
        "RoleBinding",
        // The webhook, the JWT-SVID endpoint, the enrollment endpoint and metrics.
        "Service",
        "Service",
        "Service",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
      ].sort(),
    );
    for (const object of manifest) {
      const live = await generic.read({
        apiVersion: object.apiVersion ?? "",
        kind: object.kind ?? "",
        metadata: { name: object.metadata?.name ?? "", namespace: object.metadata?.namespace ?? "" },
      });
      expect(live.metadata?.labels?.["app.kubernetes.io/instance"], objectKey(object)).toBe(release);
    }
    const labelled: string[] = [];
    const kinds = new Map(manifest.map((o) => [o.kind, o.apiVersion ?? ""]));
    for (const [kind, apiVersion] of kinds) {
      const list = await generic.list(
        apiVersion,
        kind ?? "",
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        `app.kubernetes.io/instance=${release}`,
      );
      labelled.push(...list.items.map((o) => objectKey({ ...o, kind })));
    }
    expect(labelled.sort()).toEqual(manifest.map(objectKey).sort());
  });

  it("puts the workload Roles only into the chosen namespace", () => {
    const roles = manifest.filter((o) => o.kind === "Role" || o.kind === "RoleBinding").map(objectKey);
    expect(roles.sort()).toEqual(
      [
        `Role/${managedNs}/${release}-workloads`,
        `Role/${releaseNs}/${release}`,
        `RoleBinding/${managedNs}/${release}-workloads`,
        `RoleBinding/${releaseNs}/${release}`,
      ].sort(),
    );
  });

  it("lets the operator, with only its ServiceAccount's token, issue identities and write NetworkPolicies without a 403", async () => {
    serviceAccount = await serviceAccountKubeconfig(admin, releaseNs, release);
    const deployment = await apps.readNamespacedDeployment({ name: release, namespace: releaseNs });
    const flags = flagsFromDeployment(deployment, { name: `${release}-6d5f8b7c9-x2x4q` });
    expect(flags).toContain(`--namespace=${releaseNs}`);
    expect(flags).toContain(`--webhook-configuration=${release}-pod-identity`);
    expect(flags).toContain(`--validating-webhook-configuration=${release}-validating`);
    // The API server calls the process at localhost (validatingWebhooksTo), so its certificate names it.
    const reachable = flags.map((f) => (f.startsWith("--webhook-dns-names=") ? `${f},localhost` : f));
    operator = await startOperatorProcess(serviceAccount.path, reachable);
    const port = operator.webhookPort;
    // The operator writes the caBundle meanwhile; a conflicting write is simply retried.
    await waitFor("the validating webhooks to point at the operator", () =>
      validatingWebhooksTo(release, port).then(() => true),
    );
    await waitFor("the operator to fill in the validating webhooks' caBundle", async () => {
      const config = await admissionApi.readValidatingWebhookConfiguration({ name: `${release}-validating` });
      return config.webhooks?.every((w) => w.clientConfig.caBundle) ? true : undefined;
    });

    // The first create also waits for the webhook to listen.
    await waitFor("the first MachineIdentity to be admitted", () =>
      createCustom(managedNs, "machineidentities", "MachineIdentity", "payments-api", {
        serviceAccounts: ["payments"],
        ttl: "1h",
      }),
    );
    await createCustom(managedNs, "machineidentities", "MachineIdentity", "checkout", {
      serviceAccounts: ["checkout"],
    });
    for (const name of ["payments-api", "checkout"]) {
      await waitFor(
        `MachineIdentity ${name} to become Ready`,
        async () => {
          const mi = await readCustom(managedNs, "machineidentities", name);
          return mi.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
            ? mi
            : undefined;
        },
        { timeoutMs: 60_000 },
      );
    }
    const identity = await core.readNamespacedSecret({ namespace: managedNs, name: "payments-api-identity" });
    expect(identity.type).toBe("kubernetes.io/tls");
    const leaf = new X509Certificate(decode(identity, "tls.crt"));
    expect(leaf.subjectAltName).toContain(`URI:spiffe://cluster.local/ns/${managedNs}/id/payments-api`);

    const ca = await core.readNamespacedSecret({ namespace: releaseNs, name: "signet-ca" });
    expect(ca.metadata?.labels?.["signet.dev/component"]).toBe("ca");
    expect(decode(identity, "ca.crt")).toBe(decode(ca, "ca.crt"));

    const serving = await waitFor("the webhook's serving Secret", () =>
      core.readNamespacedSecret({ namespace: releaseNs, name: "signet-webhook-tls" }),
    );
    expect(new X509Certificate(decode(serving, "tls.crt")).subjectAltName).toContain(
      `DNS:${release}-webhook.${releaseNs}.svc`,
    );
    // The JWT-SVID signing keys and the endpoint's certificate, written and then followed by name
    // with only the ServiceAccount's rights: the endpoint publishes the key the leader made.
    const keys = await waitFor("the JWT signing keys", () =>
      core.readNamespacedSecret({ namespace: releaseNs, name: "signet-jwt-signing" }),
    );
    expect(keys.metadata?.labels?.["signet.dev/component"]).toBe("jwt-signing");
    const kid = (JSON.parse(decode(keys, "keys.json")) as { kid: string }[])[0]?.kid;
    const jwtTls = await waitFor("the JWT endpoint's serving Secret", () =>
      core.readNamespacedSecret({ namespace: releaseNs, name: "signet-jwt-tls" }),
    );
    const jwtName = `${release}-jwt.${releaseNs}.svc`;
    expect(new X509Certificate(decode(jwtTls, "tls.crt")).subjectAltName).toContain(`DNS:${jwtName}`);
    const published = await waitFor("the JWT endpoint to publish the signing key", async () => {
      const body = await new Promise<string>((resolve, reject) => {
        httpsGet(
          {
            host: "127.0.0.1",
            port: operator?.jwtPort,
            path: "/keys",
            servername: jwtName,
            ca: decode(jwtTls, "ca.crt"),
          },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () => resolve(text));
          },
        ).on("error", reject);
      });
      const kids = (JSON.parse(body) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
      return kids.length > 0 ? kids : undefined;
    });
    expect(published).toEqual([kid]);

    const admission = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    const caBundle = await waitFor("the webhook configuration's caBundle", async () => {
      const mwc = await admission.readMutatingWebhookConfiguration({ name: `${release}-pod-identity` });
      return mwc.webhooks?.[0]?.clientConfig.caBundle || undefined;
    });
    expect(Buffer.from(caBundle, "base64").toString("utf8")).toBe(decode(serving, "ca.crt"));

    await createCustom(managedNs, "accesspolicies", "AccessPolicy", "checkout-to-payments", {
      target: { identity: "payments-api", ports: [{ port: 8443, protocol: "TCP" }] },
      allowFrom: [{ identity: "checkout" }],
    });
    const policy = await waitFor(
      "AccessPolicy checkout-to-payments to become active",
      async () => {
        const p = await readCustom(managedNs, "accesspolicies", "checkout-to-payments");
        return p.status?.active && (p.status.networkPolicies ?? []).length > 0 ? p : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const networkPolicies = await admin.makeApiClient(k8s.NetworkingV1Api).listNamespacedNetworkPolicy({
      namespace: managedNs,
      labelSelector: "app.kubernetes.io/managed-by=signet",
    });
    expect(networkPolicies.items.map((np) => np.metadata?.name).sort()).toEqual(
      [...(policy.status?.networkPolicies ?? [])].sort(),
    );

    const log = operator.log();
    expect(log).toContain("became leader");
    expect(log).toContain("controllers started");
    expect(log).not.toMatch(/forbidden/i);
    expect(log).not.toMatch(/\b403\b/);
  });

  it("grants the ServiceAccount every access the operator uses", async () => {
    const denied: string[] = [];
    for (const access of operatorNeeds(release, releaseNs, managedNs)) {
      if (!(await mayI(serviceAccount.kc, access))) denied.push(describeAccess(access));
    }
    expect(denied).toEqual([]);
  });

  it("refuses the ServiceAccount what Signet must never do", async () => {
    const granted: string[] = [];
    const outside: Access[] = [
      // Only its own Secrets in the release namespace, and it never deletes its CA.
      { verb: "delete", resource: "secrets", namespace: releaseNs, name: "signet-ca" },
      { verb: "get", resource: "secrets", namespace: releaseNs, name: "someone-elses-secret" },
      // Lists and watches in its namespace only by name: a list of all its Secrets would return their data.
      { verb: "list", resource: "secrets", namespace: releaseNs },
      { verb: "watch", resource: "secrets", namespace: releaseNs },
      { verb: "get", resource: "secrets", namespace: outsideNs },
      { verb: "list", resource: "secrets", namespace: outsideNs },
      { verb: "list", resource: "secrets" },
      { verb: "watch", resource: "pods" },
      { verb: "create", resource: "networkpolicies", group: "networking.k8s.io", namespace: outsideNs },
      { verb: "list", resource: "machineidentities", group: GROUP },
    ];
    for (const access of [...neverAllowed(release, releaseNs, managedNs), ...outside]) {
      if (await mayI(serviceAccount.kc, access)) granted.push(describeAccess(access));
    }
    expect(granted).toEqual([]);
  });

  it("answers the ServiceAccount's forbidden calls with 403", async () => {
    await core.createNamespacedSecret({
      namespace: outsideNs,
      body: { metadata: { name: "database-password" }, stringData: { password: "not for Signet" } },
    });
    const sa = serviceAccount.kc;
    const attempts: [string, () => Promise<unknown>][] = [
      [
        "create a ClusterRole",
        () =>
          sa.makeApiClient(k8s.RbacAuthorizationV1Api).createClusterRole({
            body: { metadata: { name: `${release}-escalation` }, rules: [] },
          }),
      ],
      [
        "read a Secret outside its namespaces",
        () =>
          sa
            .makeApiClient(k8s.CoreV1Api)
            .readNamespacedSecret({ namespace: outsideNs, name: "database-password" }),
      ],
      ["list Secrets cluster-wide", () => sa.makeApiClient(k8s.CoreV1Api).listSecretForAllNamespaces()],
      [
        "create a Pod",
        () =>
          sa.makeApiClient(k8s.CoreV1Api).createNamespacedPod({
            namespace: managedNs,
            body: { metadata: { name: "intruder" }, spec: { containers: [{ name: "c", image: "busybox" }] } },
          }),
      ],
      [
        "delete a CRD",
        () =>
          sa
            .makeApiClient(k8s.ApiextensionsV1Api)
            .deleteCustomResourceDefinition({ name: "machineidentities.signet.dev" }),
      ],
    ];
    for (const [what, call] of attempts) {
      const code = await call().then(
        () => 200,
        (err: unknown) => statusOf(err),
      );
      expect(code, what).toBe(403);
    }
  });

  it("changes the Deployment on helm upgrade and keeps the caBundle the operator wrote", async () => {
    const admission = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    const name = `${release}-pod-identity`;
    const before = (await admission.readMutatingWebhookConfiguration({ name })).webhooks?.[0]?.clientConfig
      .caBundle;
    expect(before).toBeTruthy();
    await restoreForHelm(manifest);
    await helmRun([
      "upgrade",
      release,
      chartDir,
      "--namespace",
      releaseNs,
      "--reuse-values",
      "--set",
      "logLevel=debug",
      "--set",
      "replicas=3",
    ]);
    await narrowLabelRefusal(release, [releaseNs, managedNs, outsideNs]);
    const deployment = await apps.readNamespacedDeployment({ name: release, namespace: releaseNs });
    expect(deployment.spec?.replicas).toBe(3);
    const env = deployment.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === "SIGNET_LOG_LEVEL")?.value).toBe("debug");
    expect(env.find((e) => e.name === "SIGNET_WATCH_NAMESPACES")?.value).toBe(managedNs);
    const after = (await admission.readMutatingWebhookConfiguration({ name })).webhooks?.[0]?.clientConfig
      .caBundle;
    expect(after).toBe(before);
  });

  it("removes the release's objects on helm uninstall and keeps the CRDs", async () => {
    await operator?.stop();
    operator = undefined;
    await helmRun(["uninstall", release, "--namespace", releaseNs]);
    uninstalled = true;
    for (const object of manifest) {
      await waitFor(`${objectKey(object)} to be deleted`, async () => {
        try {
          await generic.read({
            apiVersion: object.apiVersion ?? "",
            kind: object.kind ?? "",
            metadata: { name: object.metadata?.name ?? "", namespace: object.metadata?.namespace ?? "" },
          });
          return undefined;
        } catch (err) {
          return statusOf(err) === 404 ? true : undefined;
        }
      });
    }
    const crds = admin.makeApiClient(k8s.ApiextensionsV1Api);
    for (const crd of committedCrds()) {
      await expect(
        crds.readCustomResourceDefinition({ name: crd.metadata?.name ?? "" }),
      ).resolves.toBeTruthy();
    }
  });
});

describe("the chart installed with Helm, Signet managing every namespace", () => {
  const release = `signet-${randomBytes(3).toString("hex")}`;
  let releaseNs: string;
  let somewhere: string;
  let serviceAccount: { kc: k8s.KubeConfig };

  beforeAll(async () => {
    helm = helmBinary();
    releaseNs = await createNamespace(admin, "signet-rel");
    somewhere = await createNamespace(admin, "signet-any");
    await installCrds(admin);
    // No operator runs for this release: its webhook must not reach other test files' pods.
    await helmRun([
      "install",
      release,
      chartDir,
      "--namespace",
      releaseNs,
      "--skip-crds",
      "--set-json",
      `webhook.namespaceSelector={"matchLabels":{"kubernetes.io/metadata.name":"${releaseNs}"}}`,
    ]);
    await narrowLabelRefusal(release, [releaseNs, somewhere]);
    serviceAccount = await serviceAccountKubeconfig(admin, releaseNs, release);
  });

  afterAll(async () => {
    await helmRun(["uninstall", release, "--namespace", releaseNs]).catch(() => undefined);
  });

  it("grants the ServiceAccount every access the operator uses, in any namespace", async () => {
    const denied: string[] = [];
    const clusterWide: Access[] = [
      { verb: "list", resource: "secrets" },
      { verb: "watch", resource: "secrets" },
      { verb: "list", resource: "pods" },
      { verb: "watch", resource: "pods" },
      { verb: "list", resource: "networkpolicies", group: "networking.k8s.io" },
      { verb: "watch", resource: "machineidentities", group: GROUP },
    ];
    for (const access of [...operatorNeeds(release, releaseNs, somewhere), ...clusterWide]) {
      if (!(await mayI(serviceAccount.kc, access))) denied.push(describeAccess(access));
    }
    expect(denied).toEqual([]);
  });

  it("refuses the ServiceAccount what Signet must never do", async () => {
    const granted: string[] = [];
    for (const access of neverAllowed(release, releaseNs, somewhere)) {
      if (await mayI(serviceAccount.kc, access)) granted.push(describeAccess(access));
    }
    expect(granted).toEqual([]);
  });
});

describe("manifests/ applied with kubectl", () => {
  /** The objects as the API server would store them, without what differs between two requests. */
  const normalized = (text: string) => {
    const items = parseObjects(text).flatMap((o) =>
      o.kind === "List" ? ((o as unknown as { items: k8s.KubernetesObject[] }).items ?? []) : [o],
    );
    return items
      .filter((o) => o.kind !== "Namespace")
      .map((o) => {
        const { status: _status, ...rest } = o as k8s.KubernetesObject & { status?: unknown };
        const {
          uid: _u,
          resourceVersion: _r,
          creationTimestamp: _c,
          managedFields: _f,
          generation: _g,
          ...meta
        } = o.metadata ?? {};
        return { ...rest, metadata: meta };
      })
      .sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
  };

  it("yields the same objects as the chart (server-side dry run)", async () => {
    helm = helmBinary();
    await installCrds(admin);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch((err: unknown) => {
      if (statusOf(err) !== 409) throw err;
    });
    const kubectl = ["--kubeconfig", kubeconfigPath(), "apply", "--server-side", "--force-conflicts"];
    const dryRun = ["--dry-run=server", "-o", "yaml"];
    const fromManifests = await mustRun("kubectl", [...kubectl, "-k", manifestsDir, ...dryRun]);
    const fromChart = await mustRun("kubectl", [...kubectl, "-f", "-", ...dryRun], helmTemplate(helm));
    const applied = normalized(fromManifests);
    expect(applied.map(objectKey)).toContain("Deployment/signet-system/signet");
    expect(applied.map(objectKey)).toContain("CustomResourceDefinition/machineidentities.signet.dev");
    expect(applied).toEqual(normalized(fromChart));
  });
});
