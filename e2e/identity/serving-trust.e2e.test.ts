import { X509Certificate } from "node:crypto";
import { type AddressInfo, connect } from "node:net";
import { networkInterfaces } from "node:os";
import * as tls from "node:tls";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseCertificate, subjectAltNames } from "../../operator/src/pki/certificate.ts";
import {
  renderMutatingWebhookConfiguration,
  renderValidatingWebhookConfiguration,
} from "../../webhooks/src/configuration.ts";
import { createNamespace, kubeConfig, kubeconfigPath, userKubeConfig } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { grantTenant } from "../support/tenant.ts";
import { waitFor } from "../support/wait.ts";
import { createIdentity, type IdentityFiles, readSecretFiles, verifiedLeaf, waitReady } from "./support.ts";

const certificates = (pem: string) =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (p) => new X509Certificate(p),
  );

/** Whether a TLS client that trusts only `caPem` accepts the certificate the server presents. */
function clientAccepts(
  port: number,
  caPem: string,
  servername?: string,
): Promise<{ ok: true } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      ca: caPem,
      ...(servername ? { servername } : {}),
      minVersion: "TLSv1.2",
    });
    socket.once("secureConnect", () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve({ ok: false, error: err.code ?? err.message });
    });
  });
}

/** Whether a TCP connection to host:port is accepted. */
function tcpAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** An IPv4 address of this machine other than loopback, standing in for a pod IP. */
const otherAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a?.family === "IPv4" && !a.internal)?.address;

/**
 * Signet's own TLS stands on a CA that signs no workload: what a tenant can obtain from Signet never
 * chains to the caBundle the API server uses to trust Signet's webhooks. Only on the local control
 * plane: the API server calls the webhook back on this machine.
 */
describe.runIf(inject("localControlPlane"))("separate trust for Signet's own endpoints", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  let ns: string;
  let opNs: string;
  let mutatingName: string;
  let validatingName: string;
  let operator: OperatorProcess;
  let caBundlePem: string;
  let tenantFiles: IdentityFiles;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "trust");
    opNs = await createNamespace(kc, "signet-trust");
    mutatingName = `signet-pod-identity-${ns}`;
    validatingName = `signet-validating-${ns}`;
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "payments" } } });
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--leader-elect=false",
      "--webhook-host=127.0.0.1",
      "--webhook-dns-names=localhost",
      "--webhook-ip-addresses=127.0.0.1",
      `--webhook-configuration=${mutatingName}`,
      `--validating-webhook-configuration=${validatingName}`,
    ]);
    // Both registered without a caBundle; the API server calls the mutating one by IP address.
    await admission.createMutatingWebhookConfiguration({
      body: renderMutatingWebhookConfiguration({
        name: mutatingName,
        target: { url: `https://127.0.0.1:${operator.webhookPort}/mutate-pods` },
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
      }),
    });
    // Selecting no namespace: only its caBundle is under test here, not the validating handlers.
    await admission.createValidatingWebhookConfiguration({
      body: renderValidatingWebhookConfiguration({
        name: validatingName,
        target: { baseUrl: `https://127.0.0.1:${operator.webhookPort}` },
        namespaceSelector: { matchLabels: { "signet.dev/e2e-selects": "nothing" } },
      }),
    });
    caBundlePem = await waitFor("the operator to fill in the mutating caBundle", async () => {
      const cfg = await admission.readMutatingWebhookConfiguration({ name: mutatingName });
      const bundle = cfg.webhooks?.[0]?.clientConfig.caBundle;
      return bundle ? Buffer.from(bundle, "base64").toString("utf8") : undefined;
    });

    const tenant = `tenant-${ns}`;
    await grantTenant(kc, ns, tenant);
    // `usages: [client]` as older manifests say; SPIFFE section 4.4 gets both anyway.
    await createIdentity(await userKubeConfig(tenant), ns, "payments-api", {
      serviceAccounts: ["payments"],
      usages: ["client"],
    });
    await waitReady(kc, ns, "payments-api");
    const stored = await readSecretFiles(kc, ns, "payments-api-identity");
    if (!stored) throw new Error("the tenant's identity Secret was not written");
    tenantFiles = stored.files;
  }, 120_000);

  afterAll(async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: mutatingName }).catch(() => undefined);
    await admission.deleteValidatingWebhookConfiguration({ name: validatingName }).catch(() => undefined);
    await operator?.stop();
  });

  it("keeps the workload CA and the serving CA in two distinct Secrets with distinct roots", async () => {
    const workload = await readSecretFiles(kc, opNs, "signet-ca");
    const serving = await readSecretFiles(kc, opNs, "signet-serving-ca");
    expect(workload?.secret.metadata?.labels?.["signet.dev/component"]).toBe("ca");
    expect(serving?.secret.metadata?.labels?.["signet.dev/component"]).toBe("serving-ca");
    const workloadRoot = parseCertificate(workload?.files["tls.crt"] ?? "");
    const servingRoot = parseCertificate(serving?.files["tls.crt"] ?? "");
    expect(servingRoot.node.fingerprint256).not.toBe(workloadRoot.node.fingerprint256);
    // The workload root names its trust domain and confines its leaves' URIs to it; the serving
    // root is no SPIFFE CA at all.
    expect(subjectAltNames(workloadRoot).uris).toEqual(["spiffe://cluster.local"]);
    expect(workloadRoot.peculiar.getExtension("2.5.29.30")?.critical).toBe(true);
    expect(subjectAltNames(servingRoot).uris).toEqual([]);
    // The caBundle of both webhook configurations is the serving CA's bundle and nothing else.
    expect(caBundlePem).toBe(serving?.files["ca.crt"]);
    const validating = await waitFor("the operator to fill in the validating caBundle", async () => {
      const cfg = await admission.readValidatingWebhookConfiguration({ name: validatingName });
      const bundles = (cfg.webhooks ?? []).map((w) => w.clientConfig.caBundle);
      return bundles.length > 0 && bundles.every(Boolean) ? bundles : undefined;
    });
    for (const bundle of validating)
      expect(Buffer.from(bundle ?? "", "base64").toString("utf8")).toBe(caBundlePem);
  });

  it("puts back at once a caBundle that an apply or a replace dropped, for both configurations", async () => {
    for (const kind of ["mutating", "validating"] as const) {
      const read = () =>
        kind === "mutating"
          ? admission.readMutatingWebhookConfiguration({ name: mutatingName })
          : admission.readValidatingWebhookConfiguration({ name: validatingName });
      const cfg = await read();
      for (const webhook of cfg.webhooks ?? []) delete webhook.clientConfig.caBundle;
      const droppedAt = Date.now();
      if (kind === "mutating")
        await admission.replaceMutatingWebhookConfiguration({ name: mutatingName, body: cfg as never });
      else
        await admission.replaceValidatingWebhookConfiguration({ name: validatingName, body: cfg as never });
      await waitFor(
        `the ${kind} caBundle restored`,
        async () => {
          const bundles = ((await read()).webhooks ?? []).map((w) => w.clientConfig.caBundle);
          return bundles.length > 0 &&
            bundles.every((b) => Buffer.from(b ?? "", "base64").toString() === caBundlePem)
            ? true
            : undefined;
        },
        // The timer alone would take up to an hour; the watch brings it back in moments.
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      console.log(`[figure] ${kind} caBundle restored ${Date.now() - droppedAt} ms after it was dropped`);
    }
  });

  it("issues the tenant's SVID with both serverAuth and clientAuth, though the spec lists client only", () => {
    expect([...(verifiedLeaf(tenantFiles).keyUsage ?? [])].sort()).toEqual([
      "1.3.6.1.5.5.7.3.1",
      "1.3.6.1.5.5.7.3.2",
    ]);
  });

  it("does not let a tenant's SVID verify against the webhook configuration's caBundle", () => {
    const leaf = verifiedLeaf(tenantFiles);
    const roots = certificates(caBundlePem);
    expect(roots.length).toBeGreaterThan(0);
    for (const root of roots) {
      expect(leaf.checkIssued(root)).toBe(false);
      expect(leaf.verify(root.publicKey)).toBe(false);
    }
    const tenantRoots = certificates(tenantFiles["ca.crt"]).map((c) => c.fingerprint256);
    for (const root of roots) expect(tenantRoots).not.toContain(root.fingerprint256);
  });

  it("refuses, in a real TLS handshake, a server presenting a tenant's SVID to a client that trusts the caBundle", async () => {
    const server = tls.createServer({ cert: tenantFiles["tls.crt"], key: tenantFiles["tls.key"] }, (s) =>
      s.end(),
    );
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      expect(await clientAccepts(port, caBundlePem, "localhost")).toEqual({
        ok: false,
        error: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("serves the webhook with a certificate that chains to the caBundle only, for its DNS name and IP", async () => {
    const webhook = await readSecretFiles(kc, opNs, "signet-webhook-tls");
    expect(webhook?.files["ca.crt"]).toBe(caBundlePem);
    const leaf = verifiedLeaf(webhook?.files ?? tenantFiles);
    expect(leaf.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1");
    expect(await clientAccepts(operator.webhookPort, caBundlePem, "localhost")).toEqual({ ok: true });
    expect(await clientAccepts(operator.webhookPort, caBundlePem)).toEqual({ ok: true });
    // The workload trust bundle, which every identity Secret carries, does not vouch for Signet.
    expect(await clientAccepts(operator.webhookPort, tenantFiles["ca.crt"], "localhost")).toEqual({
      ok: false,
      error: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    });
  });

  it("is trusted by the API server, which admits a pod through the webhook at https://127.0.0.1", async () => {
    const stored = await waitFor("the webhook to admit the pod", () =>
      core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: {
            name: "payments-0",
            labels: { "signet.dev/inject": "true" },
            annotations: { "signet.dev/identity": "payments-api" },
          },
          spec: {
            serviceAccountName: "payments",
            containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }],
          },
        },
      }),
    );
    expect(stored.metadata?.labels?.["signet.dev/identity"]).toBe("payments-api");
  });
});

/**
 * /metrics, /healthz and /readyz listen on one address: loopback by default, the pod IP in the chart
 * (here another address of this machine), never every interface.
 */
describe.runIf(inject("localControlPlane") && otherAddress !== undefined)("the metrics address", () => {
  const operators: OperatorProcess[] = [];
  afterAll(async () => {
    await Promise.all(operators.map((o) => o.stop()));
  });

  it.each([
    { name: "loopback by default", flags: [], serves: "127.0.0.1", refuses: otherAddress ?? "" },
    {
      name: "the address it is given, as the chart gives the pod IP",
      flags: [`--metrics-host=${otherAddress}`],
      serves: otherAddress ?? "",
      refuses: "127.0.0.1",
    },
  ])("serves health and metrics on $name and nowhere else", async ({ flags, serves, refuses }) => {
    const opNs = await createNamespace(kubeConfig(), "signet-metrics");
    // The webhook alone: no controllers, so nothing here writes beside the other operators.
    const operator = await startOperatorProcess(
      kubeconfigPath(),
      [`--namespace=${opNs}`, ...flags],
      "webhook",
    );
    operators.push(operator);
    const healthz = await waitFor(`/healthz on ${serves}`, async () => {
      const res = await fetch(`http://${serves}:${operator.metricsPort}/healthz`);
      return res.status;
    });
    expect(healthz).toBe(200);
    expect(await tcpAccepts(serves, operator.metricsPort)).toBe(true);
    expect(await tcpAccepts(refuses, operator.metricsPort)).toBe(false);
  });
});
