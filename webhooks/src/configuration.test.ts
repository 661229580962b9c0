import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  DEFAULT_WEBHOOK_SERVICE,
  renderMutatingWebhookConfiguration,
  renderValidatingWebhookConfiguration,
} from "./configuration.ts";

const manifest = (file: string) => new URL(`../manifests/${file}`, import.meta.url);

describe("renderMutatingWebhookConfiguration", () => {
  it("should render exactly what the shipped manifest holds for the default Service", () => {
    const docs = parseAllDocuments(readFileSync(manifest("mutating-webhook-configuration.yaml"), "utf8"));
    expect(docs).toHaveLength(1);
    expect(docs[0]?.toJS()).toEqual(
      renderMutatingWebhookConfiguration({ target: { service: DEFAULT_WEBHOOK_SERVICE } }),
    );
  });

  it("should carry the CA bundle base64-encoded and point at a URL when given one", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const config = renderMutatingWebhookConfiguration({
      target: { url: "https://127.0.0.1:9443/mutate-pods" },
      caBundlePem: pem,
      name: "signet-e2e",
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } },
    });
    expect(config.metadata?.name).toBe("signet-e2e");
    const [webhook] = config.webhooks ?? [];
    expect(webhook?.clientConfig).toEqual({
      url: "https://127.0.0.1:9443/mutate-pods",
      caBundle: Buffer.from(pem).toString("base64"),
    });
    expect(webhook?.namespaceSelector).toEqual({ matchLabels: { "kubernetes.io/metadata.name": "shop" } });
  });

  it("should fail closed, select only opted-in pods and be safe to reinvoke", () => {
    const [webhook] =
      renderMutatingWebhookConfiguration({ target: { service: DEFAULT_WEBHOOK_SERVICE } }).webhooks ?? [];
    expect(webhook).toMatchObject({
      failurePolicy: "Fail",
      objectSelector: { matchLabels: { "signet.dev/inject": "true" } },
      reinvocationPolicy: "IfNeeded",
      sideEffects: "None",
      admissionReviewVersions: ["v1"],
      rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
    });
    expect(webhook?.timeoutSeconds).toBeLessThanOrEqual(10);
  });
});

describe("renderValidatingWebhookConfiguration", () => {
  it("should render exactly what the shipped manifest holds for the default Service", () => {
    const docs = parseAllDocuments(readFileSync(manifest("validating-webhook-configuration.yaml"), "utf8"));
    expect(docs).toHaveLength(1);
    expect(docs[0]?.toJS()).toEqual(
      renderValidatingWebhookConfiguration({ target: { service: DEFAULT_WEBHOOK_SERVICE } }),
    );
  });

  it("should send every pod, not only opted-in ones, and ephemeral container updates, failing closed", () => {
    const [pods, workloads, identities] =
      renderValidatingWebhookConfiguration({ target: { service: DEFAULT_WEBHOOK_SERVICE } }).webhooks ?? [];
    expect(pods?.objectSelector).toBeUndefined();
    expect(pods?.rules?.map((r) => [r.operations, r.resources])).toEqual([
      [["CREATE"], ["pods"]],
      [["UPDATE"], ["pods/ephemeralcontainers"]],
    ]);
    expect(workloads?.rules?.flatMap((r) => r.resources)).toEqual([
      "deployments",
      "replicasets",
      "statefulsets",
      "daemonsets",
      "jobs",
      "cronjobs",
    ]);
    expect(identities?.clientConfig.service?.path).toBe("/validate-machineidentities");
    for (const webhook of [pods, workloads, identities]) {
      expect(webhook).toMatchObject({
        failurePolicy: "Fail",
        sideEffects: "None",
        matchPolicy: "Equivalent",
      });
    }
  });

  it("should serve the given namespaces, minus Signet's own and kube-system for pods and workloads", () => {
    const served = { matchLabels: { "kubernetes.io/metadata.name": "shop" } };
    const [pods, workloads, identities] =
      renderValidatingWebhookConfiguration({
        target: { baseUrl: "https://127.0.0.1:9443" },
        namespaceSelector: served,
        exemptNamespaces: ["signet-e2e"],
      }).webhooks ?? [];
    const exempting = {
      ...served,
      matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["signet-e2e"] }],
    };
    expect(pods?.namespaceSelector).toEqual(exempting);
    expect(workloads?.namespaceSelector).toEqual(exempting);
    expect(identities?.namespaceSelector).toEqual(served);
    expect(pods?.clientConfig.url).toBe("https://127.0.0.1:9443/validate-pods");
    expect(workloads?.clientConfig.url).toBe("https://127.0.0.1:9443/validate-workloads");
  });
});

describe("the identity label policy manifest", () => {
  it("should hold a ValidatingAdmissionPolicy and a binding to it that denies", () => {
    const docs = parseAllDocuments(readFileSync(manifest("identity-label-policy.yaml"), "utf8")).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> },
    );
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      "ValidatingAdmissionPolicy/signet-identity-label",
      "ValidatingAdmissionPolicyBinding/signet-identity-label",
    ]);
    expect(docs[1]?.spec).toEqual({ policyName: "signet-identity-label", validationActions: ["Deny"] });
    expect(docs[0]?.spec).toMatchObject({
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: [{ operations: ["CREATE", "UPDATE"], resources: ["pods", "pods/status"] }],
      },
    });
  });
});
