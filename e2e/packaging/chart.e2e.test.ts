// The chart as files: lint, rendering with every option, the values schema, and that what it renders
// stays the same as the CRDs, the webhook manifests and manifests/ kept elsewhere in the repository.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as k8s from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  chartDir,
  existingManifests,
  helmBinary,
  helmTemplate,
  manifestsDir,
  renderManifests,
} from "../../scripts/render-manifests.ts";
import { mustRun, objectKey, parseObjects, runCommand } from "./support.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const allOptions = join(chartDir, "ci", "all-options-values.yaml");

let helm: string;
beforeAll(() => {
  helm = helmBinary();
});

const render = async (args: string[] = []) => parseObjects(helmTemplate(helm, args));
const find = (objects: k8s.KubernetesObject[], kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
const one = <T extends k8s.KubernetesObject>(
  objects: k8s.KubernetesObject[],
  kind: string,
  name?: string,
) => {
  const found = find(objects, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ""}, found ${found.length}`);
  return found[0] as T;
};
const rulesOf = (o: k8s.KubernetesObject) => (o as k8s.V1Role).rules ?? [];

/** Paths of every leaf of a values tree; empty maps and lists count as leaves (they are values too). */
function leafPaths(value: unknown, prefix = ""): string[] {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}
const at = (tree: unknown, path: string) =>
  path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], tree);

describe("the chart", () => {
  it.each([
    ["default values", []],
    ["every option set", ["-f", allOptions]],
  ])("lints without a warning or an error with %s", async (_name, args) => {
    const out = await mustRun(helm, ["lint", chartDir, "--strict", ...args]);
    expect(out).toContain("0 chart(s) failed");
    expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it("carries byte-identical copies of the repository's CRDs", () => {
    const repoCrds = readdirSync(join(repo, "crds")).sort();
    expect(readdirSync(join(chartDir, "crds")).sort()).toEqual(repoCrds);
    for (const file of repoCrds) {
      expect(readFileSync(join(chartDir, "crds", file), "utf8"), file).toBe(
        readFileSync(join(repo, "crds", file), "utf8"),
      );
    }
  });

  it("sets every documented value in the all-options values file", () => {
    const defaults = parse(readFileSync(join(chartDir, "values.yaml"), "utf8"));
    const all = parse(readFileSync(allOptions, "utf8"));
    const missing = leafPaths(defaults).filter((p) => at(all, p) === undefined);
    expect(missing).toEqual([]);
  });

  it("renders the operator's objects with default values", async () => {
    const objects = await render();
    expect(objects.map(objectKey).sort()).toEqual(
      [
        "ClusterRole/signet",
        "ClusterRoleBinding/signet",
        "CustomResourceDefinition/accesspolicies.signet.dev",
        "CustomResourceDefinition/accessschedules.signet.dev",
        "CustomResourceDefinition/enrollments.signet.dev",
        "CustomResourceDefinition/issuancepolicies.signet.dev",
        "CustomResourceDefinition/machineidentities.signet.dev",
        "CustomResourceDefinition/trustedissuers.signet.dev",
        "Deployment/signet-system/signet",
        "MutatingWebhookConfiguration/signet-pod-identity",
        "NetworkPolicy/signet-system/signet",
        "PodDisruptionBudget/signet-system/signet",
        "Role/signet-system/signet",
        "RoleBinding/signet-system/signet",
        "Service/signet-system/signet-enrollment",
        "Service/signet-system/signet-jwt",
        "Service/signet-system/signet-metrics",
        "Service/signet-system/signet-webhook",
        "ServiceAccount/signet-system/signet",
        "ValidatingAdmissionPolicy/signet-identity-label",
        "ValidatingAdmissionPolicyBinding/signet-identity-label",
        "ValidatingWebhookConfiguration/signet-validating",
      ].sort(),
    );
    const deployment = one<k8s.V1Deployment>(objects, "Deployment");
    const pod = deployment.spec?.template.spec;
    const container = pod?.containers[0];
    expect(deployment.spec?.replicas).toBe(2);
    expect(container?.args).toEqual(["run"]);
    expect(pod?.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container?.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(container?.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      POD_NAME: { fieldRef: { fieldPath: "metadata.name" } },
      SIGNET_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } },
      SIGNET_LEADER_ELECT: "true",
      SIGNET_WEBHOOK_CONFIGURATION: "signet-pod-identity",
      SIGNET_VALIDATING_WEBHOOK_CONFIGURATION: "signet-validating",
      // The kubelet's probes and Prometheus reach the pod IP; no other interface serves metrics.
      SIGNET_METRICS_HOST: { fieldRef: { fieldPath: "status.podIP" } },
      SIGNET_WEBHOOK_DNS_NAMES:
        "signet-webhook.signet-system.svc,signet-webhook.signet-system.svc.cluster.local",
      // The issuer is the JWT Service's URL at its port, which the certificate's names match.
      SIGNET_JWT_PORT: "8444",
      SIGNET_JWT_ISSUER: "https://signet-jwt.signet-system.svc:8444",
      SIGNET_JWT_DNS_NAMES: "signet-jwt.signet-system.svc,signet-jwt.signet-system.svc.cluster.local",
      SIGNET_JWT_SIGNING_SECRET: "signet-jwt-signing",
      SIGNET_JWT_TLS_SECRET: "signet-jwt-tls",
      SIGNET_JWT_KEY_ROTATION: "24h",
      SIGNET_JWT_PUBLISH_AHEAD: "15m",
      SIGNET_ENROLLMENT_PORT: "8445",
      SIGNET_ENROLLMENT_TLS_SECRET: "signet-enrollment-tls",
      SIGNET_ENROLLMENT_DNS_NAMES:
        "signet-enrollment.signet-system.svc,signet-enrollment.signet-system.svc.cluster.local",
      // The proxy sidecar runs the Deployment's own image.
      SIGNET_PROXY_IMAGE: container?.image,
    });
    expect(container?.image).toMatch(/^signet:\S+$/);
    expect(pod?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    const webhookService = one<k8s.V1Service>(objects, "Service", "signet-webhook");
    expect(webhookService.spec?.ports).toEqual([
      { name: "https", port: 443, targetPort: "webhook", protocol: "TCP" },
    ]);
    expect(container?.ports?.find((p) => p.name === "webhook")?.containerPort).toBe(9443);
    expect(container?.ports?.find((p) => p.name === "metrics")?.containerPort).toBe(8080);
    expect(container?.ports?.find((p) => p.name === "jwt")?.containerPort).toBe(8444);
    expect(one<k8s.V1Service>(objects, "Service", "signet-jwt").spec?.ports).toEqual([
      { name: "jwt", port: 8444, targetPort: "jwt", protocol: "TCP" },
    ]);
    expect(env.SIGNET_ENROLLMENT_IP_ADDRESSES).toBeUndefined();
    expect(container?.ports?.find((p) => p.name === "enrollment")?.containerPort).toBe(8445);
    const enrollmentService = one<k8s.V1Service>(objects, "Service", "signet-enrollment");
    expect(enrollmentService.spec?.type).toBe("ClusterIP");
    expect(enrollmentService.spec?.ports).toEqual([
      { name: "enrollment", port: 8445, targetPort: "enrollment", protocol: "TCP" },
    ]);
    const ingress = one<k8s.V1NetworkPolicy>(objects, "NetworkPolicy").spec?.ingress ?? [];
    expect(ingress[2]).toEqual({ ports: [{ port: "jwt", protocol: "TCP" }] });
    expect(ingress[3]).toEqual({ ports: [{ port: "enrollment", protocol: "TCP" }] });
  });

  it("renders every option where it belongs", async () => {
    const objects = await render(["-f", allOptions]);
    const deployment = one<k8s.V1Deployment>(objects, "Deployment");
    const pod = deployment.spec?.template.spec;
    const container = pod?.containers[0];
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    expect(deployment.spec?.replicas).toBe(3);
    expect(container?.image).toBe("registry.example.org/platform/signet:0.1.0-rc.1");
    expect(container?.imagePullPolicy).toBe("Always");
    expect(container?.args).toEqual(["run", "--workers=8"]);
    expect(env).toMatchObject({
      SIGNET_TRUST_DOMAIN: "prod.example.org",
      SIGNET_MIN_TTL: "10m",
      SIGNET_MAX_TTL: "12h",
      SIGNET_CA_SECRET: "signet-root-ca",
      SIGNET_USER_CA_SECRET: "corp-intermediate-ca",
      SIGNET_WATCH_NAMESPACES: "shop,finance",
      SIGNET_LEASE_NAME: "signet-leader",
      SIGNET_METRICS_PORT: "9090",
      SIGNET_METRICS_HOST: "0.0.0.0",
      SIGNET_WEBHOOK_PORT: "10443",
      SIGNET_WEBHOOK_SECRET: "signet-serving",
      SIGNET_LOG_LEVEL: "debug",
      SIGNET_LEASE_DURATION: "20s",
      SIGNET_POD_CERTIFICATE_SIGNER: "false",
      SIGNET_TRUST_BUNDLE: "ConfigMap",
      SIGNET_JWT_PORT: "9444",
      SIGNET_JWT_ISSUER: "https://signet-jwt.prod.example.org",
      SIGNET_JWT_SIGNING_SECRET: "signet-jwt-keys",
      SIGNET_JWT_TLS_SECRET: "signet-jwt-serving",
      SIGNET_JWT_KEY_ROTATION: "12h",
      SIGNET_JWT_PUBLISH_AHEAD: "20m",
      SIGNET_ENROLLMENT_PORT: "9445",
      SIGNET_ENROLLMENT_TLS_SECRET: "signet-enrollment-serving",
      SIGNET_ENROLLMENT_DNS_NAMES:
        "signet-enrollment.signet-system.svc,signet-enrollment.signet-system.svc.cluster.local,signet.prod.example.org",
      SIGNET_ENROLLMENT_IP_ADDRESSES: "203.0.113.10",
      SIGNET_PROXY_IMAGE: "registry.example.org/platform/signet-proxy:0.1.0-rc.1",
    });
    expect(container?.resources).toEqual({
      requests: { cpu: "100m", memory: "192Mi" },
      limits: { cpu: "1", memory: "384Mi" },
    });
    expect(pod?.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    expect(pod?.tolerations).toHaveLength(1);
    expect(pod?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    expect(pod?.priorityClassName).toBe("system-cluster-critical");
    expect(pod?.imagePullSecrets).toEqual([{ name: "registry-credentials" }]);
    expect(deployment.spec?.template.metadata?.labels?.team).toBe("platform");
    expect(deployment.spec?.template.metadata?.annotations).toEqual({ "example.org/scrape": "true" });

    const mwc = one<k8s.V1MutatingWebhookConfiguration>(objects, "MutatingWebhookConfiguration");
    // Both limits apply: the selector, and the watched namespaces, the only ones Signet knows identities in.
    const served = {
      matchExpressions: [
        { key: "signet.dev/enabled", operator: "In", values: ["true"] },
        { key: "kubernetes.io/metadata.name", operator: "In", values: ["shop", "finance"] },
      ],
    };
    expect(mwc.webhooks?.[0]).toMatchObject({ failurePolicy: "Fail", timeoutSeconds: 3 });
    expect(mwc.webhooks?.[0]?.namespaceSelector).toEqual(served);
    const vwc = one<k8s.V1ValidatingWebhookConfiguration>(objects, "ValidatingWebhookConfiguration");
    expect(
      vwc.webhooks?.map((w) => [w.name, w.failurePolicy, w.timeoutSeconds, w.clientConfig.service?.port]),
    ).toEqual([
      ["pod-references.signet.dev", "Fail", 3, 443],
      ["workload-references.signet.dev", "Fail", 3, 443],
      ["machineidentities.signet.dev", "Fail", 3, 443],
    ]);
    expect(vwc.webhooks?.[2]?.namespaceSelector).toEqual(served);
    expect(one<k8s.V1ServiceAccount>(objects, "ServiceAccount").metadata?.annotations).toEqual({
      "example.org/owner": "platform",
    });
    expect(one<k8s.V1PodDisruptionBudget>(objects, "PodDisruptionBudget").spec?.minAvailable).toBe(2);
    const np = one<k8s.V1NetworkPolicy>(objects, "NetworkPolicy");
    expect(np.spec?.egress).toEqual([
      {
        ports: [{ port: 6443, protocol: "TCP" }],
        to: [{ ipBlock: { cidr: "10.0.0.1/32" } }, { ipBlock: { cidr: "172.18.0.0/16" } }],
      },
    ]);
    const ingress = (np.spec?.ingress ?? []) as unknown as { from?: unknown }[];
    expect(ingress[1]?.from).toEqual([
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
    ]);
    expect(ingress[2]?.from).toEqual([{ namespaceSelector: { matchLabels: { "signet.dev/jwt": "true" } } }]);
    expect(ingress[3]?.from).toEqual([{ ipBlock: { cidr: "203.0.113.0/24" } }]);
    expect(one<k8s.V1Service>(objects, "Service", "signet-enrollment").spec?.type).toBe("LoadBalancer");
    const monitor = one(objects, "ServiceMonitor") as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { endpoints: { port: string; interval: string }[] };
    };
    expect(monitor.metadata.labels.release).toBe("prometheus");
    expect(monitor.spec.endpoints).toEqual([
      { port: "metrics", path: "/metrics", honorLabels: true, interval: "15s" },
    ]);
    const dashboard = one<k8s.V1ConfigMap>(objects, "ConfigMap", "signet-dashboard");
    expect(dashboard.metadata?.namespace).toBe("monitoring");
    expect(dashboard.metadata?.labels).toMatchObject({
      "example.org/grafana-dashboard": "signet",
      team: "platform",
    });
    expect(dashboard.metadata?.annotations).toEqual({ grafana_folder: "Signet" });
    const alerts = one(objects, "PrometheusRule") as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { groups: { rules: { labels: Record<string, string> }[] }[] };
    };
    expect(alerts.metadata.labels.release).toBe("prometheus");
    expect(alerts.spec.groups.flatMap((g) => g.rules).every((r) => r.labels.team === "platform")).toBe(true);
    const releaseRole = one<k8s.V1Role>(find(objects, "Role", "signet"), "Role");
    expect(releaseRole.rules).toContainEqual({
      apiGroups: [""],
      resources: ["secrets"],
      resourceNames: [
        "signet-root-ca",
        "signet-serving-ca",
        "signet-serving",
        "signet-jwt-keys",
        "signet-jwt-serving",
        "signet-enrollment-serving",
        "corp-intermediate-ca",
      ],
      verbs: ["get", "update"],
    });
    // Every replica follows the serving Secrets and the signing keys by name, and no other Secret here.
    expect(releaseRole.rules).toContainEqual({
      apiGroups: [""],
      resources: ["secrets"],
      // And the workload CA, the user's here, which the enrollment endpoint mints with.
      resourceNames: [
        "signet-serving",
        "signet-jwt-keys",
        "signet-jwt-serving",
        "signet-enrollment-serving",
        "corp-intermediate-ca",
      ],
      verbs: ["list", "watch"],
    });
    expect(releaseRole.rules).toContainEqual({
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      resourceNames: ["signet-leader"],
      verbs: ["get", "update"],
    });
  });

  it.each([
    ["the PodDisruptionBudget", "podDisruptionBudget.enabled=false", "PodDisruptionBudget"],
    [
      "the PodDisruptionBudget for a single replica, where it would block every drain",
      "replicas=1",
      "PodDisruptionBudget",
    ],
    ["the NetworkPolicy", "networkPolicy.enabled=false", "NetworkPolicy"],
  ])("leaves out %s when it is disabled", async (_name, set, kind) => {
    expect(find(await render(), kind)).toHaveLength(1);
    expect(find(await render(["--set", set]), kind)).toHaveLength(0);
  });

  it.each([
    ["replicas as a word", ["--set-json", 'replicas="two"'], "at '/replicas': got string, want integer"],
    [
      "an unknown webhook failure policy",
      ["--set", "webhook.failurePolicy=Maybe"],
      "at '/webhook/failurePolicy': value must be 'Fail'",
    ],
    [
      "a webhook that fails open, which would let the identity label through unchecked",
      ["--set", "webhook.failurePolicy=Ignore"],
      "at '/webhook/failurePolicy': value must be 'Fail'",
    ],
    ["an unknown log level", ["--set", "logLevel=loud"], "at '/logLevel': value must be one of"],
    ["a TTL that is not a duration", ["--set", "minTTL=5 minutes"], "at '/minTTL'"],
    ["a JWT issuer that is not https", ["--set", "jwt.issuer=http://signet.example.org"], "at '/jwt/issuer'"],
    [
      "a JWT issuer with a trailing slash, which OIDC discovery forbids",
      ["--set", "jwt.issuer=https://signet.example.org/"],
      "at '/jwt/issuer'",
    ],
    [
      "a JWT key rotation that is not a duration",
      ["--set", "jwt.keyRotation=daily"],
      "at '/jwt/keyRotation'",
    ],
    [
      "a namespace that is not a DNS label",
      ["--set-json", 'watchNamespaces=["Shop"]'],
      "at '/watchNamespaces/0'",
    ],
    ["zero replicas", ["--set", "replicas=0"], "at '/replicas'"],
    ["a trust domain with capitals", ["--set", "trustDomain=Example.org"], "at '/trustDomain'"],
    ["a misspelt value", ["--set", "replica=3"], "additional properties 'replica' not allowed"],
    [
      "a misspelt nested value",
      ["--set", "image.pulPolicy=Always"],
      "additional properties 'pulPolicy' not allowed",
    ],
  ])("rejects %s with a message naming the value", async (_name, args, message) => {
    const result = await runCommand(helm, ["template", "signet", chartDir, ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
  });
});

describe("the chart's RBAC", () => {
  const verbsEverGranted = new Set(["get", "list", "watch", "create", "update", "patch", "delete"]);

  it.each([
    ["every namespace", []],
    ["chosen namespaces", ["--set-json", 'watchNamespaces=["shop","finance"]']],
  ])(
    "uses no wildcard and no verb beyond get, list, watch, create, update, patch, delete for %s, but sign and attest on its own signer",
    async (_n, args) => {
      const roles = (await render(args)).filter((o) => o.kind === "ClusterRole" || o.kind === "Role");
      for (const rule of roles.flatMap(rulesOf)) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs, rule.resourceNames ?? []]) {
          expect(field).not.toContain("*");
        }
        if (rule.resources?.includes("signers")) {
          // The pod certificate signer's own name only, and nothing else in the rule.
          expect(rule).toEqual({
            apiGroups: ["certificates.k8s.io"],
            resources: ["signers"],
            resourceNames: ["signet.dev/svid"],
            verbs: ["sign", "attest"],
          });
          continue;
        }
        for (const verb of rule.verbs) expect(verbsEverGranted, verb).toContain(verb);
      }
    },
  );

  it("grants the pod certificate signer's rights only with podCertificates.signer", async () => {
    const withSigner = one<k8s.V1ClusterRole>(await render(), "ClusterRole");
    expect(
      withSigner.rules?.filter(
        (r) =>
          r.apiGroups?.includes("certificates.k8s.io") &&
          r.resources?.some((x) => x === "signers" || x === "clustertrustbundles"),
      ),
    ).toEqual([
      {
        apiGroups: ["certificates.k8s.io"],
        resources: ["signers"],
        resourceNames: ["signet.dev/svid"],
        verbs: ["sign", "attest"],
      },
      {
        apiGroups: ["certificates.k8s.io"],
        resources: ["clustertrustbundles"],
        resourceNames: ["signet.dev:svid:trust-bundle"],
        verbs: ["get", "patch"],
      },
      { apiGroups: ["certificates.k8s.io"], resources: ["clustertrustbundles"], verbs: ["create"] },
    ]);
    const without = one<k8s.V1ClusterRole>(
      await render(["--set", "podCertificates.signer=false"]),
      "ClusterRole",
    );
    expect(
      without.rules?.some(
        (r) => r.resources?.includes("signers") || r.resources?.includes("clustertrustbundles"),
      ),
    ).toBe(false);
  });

  it("grants Secrets cluster-wide only when Signet manages every namespace", async () => {
    const clusterRole = one<k8s.V1ClusterRole>(await render(), "ClusterRole");
    expect(clusterRole.rules?.some((r) => r.resources?.includes("secrets"))).toBe(true);
  });

  it("grants Secrets, Pods and NetworkPolicies only in the chosen namespaces and the release namespace", async () => {
    const objects = await render(["--set-json", 'watchNamespaces=["shop","finance"]']);
    const clusterRole = one<k8s.V1ClusterRole>(objects, "ClusterRole");
    expect(clusterRole.rules).toEqual([
      {
        apiGroups: ["admissionregistration.k8s.io"],
        resources: ["mutatingwebhookconfigurations"],
        resourceNames: ["signet-pod-identity"],
        verbs: ["get", "list", "watch", "update"],
      },
      {
        apiGroups: ["admissionregistration.k8s.io"],
        resources: ["validatingwebhookconfigurations"],
        resourceNames: ["signet-validating"],
        verbs: ["get", "list", "watch", "update"],
      },
      { apiGroups: ["signet.dev"], resources: ["issuancepolicies"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["signet.dev"], resources: ["trustedissuers"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
      {
        apiGroups: ["certificates.k8s.io"],
        resources: ["signers"],
        resourceNames: ["signet.dev/svid"],
        verbs: ["sign", "attest"],
      },
      {
        apiGroups: ["certificates.k8s.io"],
        resources: ["clustertrustbundles"],
        resourceNames: ["signet.dev:svid:trust-bundle"],
        verbs: ["get", "patch"],
      },
      { apiGroups: ["certificates.k8s.io"], resources: ["clustertrustbundles"], verbs: ["create"] },
    ]);
    const withSecrets = find(objects, "Role").filter((r) =>
      rulesOf(r).some((rule) => rule.resources?.includes("secrets")),
    );
    expect(withSecrets.map(objectKey).sort()).toEqual([
      "Role/finance/signet-workloads",
      "Role/shop/signet-workloads",
      "Role/signet-system/signet",
    ]);
    const bindings = find(objects, "RoleBinding") as k8s.V1RoleBinding[];
    expect(bindings.map(objectKey).sort()).toEqual([
      "RoleBinding/finance/signet-workloads",
      "RoleBinding/shop/signet-workloads",
      "RoleBinding/signet-system/signet",
    ]);
    for (const binding of bindings) {
      expect(binding.subjects).toEqual([
        { kind: "ServiceAccount", name: "signet", namespace: "signet-system" },
      ]);
    }
    const mwc = one<k8s.V1MutatingWebhookConfiguration>(objects, "MutatingWebhookConfiguration");
    expect(mwc.webhooks?.[0]?.namespaceSelector).toEqual({
      matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["shop", "finance"] }],
    });
  });
});

describe("the chart's admission objects", () => {
  const shipped = parseObjects(
    readdirSync(join(repo, "webhooks", "manifests"))
      .sort()
      .map((f) => readFileSync(join(repo, "webhooks", "manifests", f), "utf8"))
      .join("\n---\n"),
  );

  it.each([
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
  ])("renders the %s of webhooks/manifests with default values", async (kind) => {
    const expected = one(shipped, kind) as k8s.KubernetesObject & Record<string, unknown>;
    const actual = one(await render(), kind) as k8s.KubernetesObject & Record<string, unknown>;
    expect(actual.metadata?.name).toBe(expected.metadata?.name);
    expect(actual.metadata?.labels).toMatchObject(expected.metadata?.labels ?? {});
    const { apiVersion: _a, kind: _k, metadata: _m, ...expectedBody } = expected;
    const { apiVersion: _b, kind: _l, metadata: _n, ...actualBody } = actual;
    expect(actualBody).toEqual(expectedBody);
  });
});

describe("the identity label outside the served namespaces", () => {
  const unserved = async (args: string[]) => {
    const objects = await render(args);
    return {
      policies: find(objects, "ValidatingAdmissionPolicy").map((o) => o.metadata?.name),
      bindings: (
        find(objects, "ValidatingAdmissionPolicyBinding") as k8s.V1ValidatingAdmissionPolicyBinding[]
      )
        .filter((b) => b.spec?.policyName === "signet-identity-label-unserved")
        .map((b) => [b.metadata?.name, b.spec?.matchResources?.namespaceSelector]),
    };
  };

  it("needs no refusal when every namespace is served", async () => {
    expect(await unserved([])).toEqual({ policies: ["signet-identity-label"], bindings: [] });
  });

  it("binds the refusal once per requirement of the served selector, each negated", async () => {
    const selector = {
      matchLabels: { tier: "apps" },
      matchExpressions: [
        { key: "signet.dev/enabled", operator: "In", values: ["true", "yes"] },
        { key: "legacy", operator: "NotIn", values: ["1"] },
        { key: "team", operator: "Exists" },
        { key: "frozen", operator: "DoesNotExist" },
      ],
    };
    const result = await unserved([
      "--set-json",
      `webhook.namespaceSelector=${JSON.stringify(selector)}`,
      "--set-json",
      'watchNamespaces=["shop","finance"]',
    ]);
    expect(result.policies).toEqual(["signet-identity-label", "signet-identity-label-unserved"]);
    const negations = [
      { key: "tier", operator: "NotIn", values: ["apps"] },
      { key: "signet.dev/enabled", operator: "NotIn", values: ["true", "yes"] },
      { key: "legacy", operator: "In", values: ["1"] },
      { key: "team", operator: "DoesNotExist" },
      { key: "frozen", operator: "Exists" },
      { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["shop", "finance"] },
    ];
    expect(result.bindings).toEqual(
      negations.map((r, i) => [`signet-identity-label-unserved-${i}`, { matchExpressions: [r] }]),
    );
  });

  it("refuses the label outright in the refusal policy, whatever else the pod carries", async () => {
    const objects = await render(["--set-json", 'watchNamespaces=["shop"]']);
    const policy = one<k8s.V1ValidatingAdmissionPolicy>(
      objects,
      "ValidatingAdmissionPolicy",
      "signet-identity-label-unserved",
    );
    expect(policy.spec?.matchConstraints?.resourceRules).toEqual([
      { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] },
    ]);
    expect(policy.spec?.validations?.map((v) => v.expression)).toEqual([
      "!has(object.metadata.labels) || !('signet.dev/identity' in object.metadata.labels)",
    ]);
  });
});

describe("manifests/", () => {
  it("is the chart rendered with default values (run `npm run manifests` after changing the chart)", () => {
    const rendered = renderManifests(helm);
    expect(existingManifests()).toEqual([...rendered.keys()].sort());
    for (const [file, text] of rendered) {
      expect(readFileSync(join(manifestsDir, file), "utf8"), `manifests/${file}`).toBe(text);
    }
  });
});

describe("docs/gitops.md", () => {
  it.each([
    ["MachineIdentity", "machineidentity.lua"],
    ["AccessPolicy", "accesspolicy.lua"],
    ["AccessSchedule", "accessschedule.lua"],
  ])("holds the Argo CD health check of %s exactly as docs/argocd/%s", (kind, file) => {
    const markdown = readFileSync(join(repo, "docs", "gitops.md"), "utf8");
    const configMap = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .flatMap((m) => parseObjects(m[1] ?? ""))
      .find((doc) => doc.kind === "ConfigMap") as { data?: Record<string, string> } | undefined;
    expect(configMap?.data?.[`resource.customizations.health.signet.dev_${kind}`]).toBe(
      readFileSync(join(repo, "docs", "argocd", file), "utf8"),
    );
  });
});
