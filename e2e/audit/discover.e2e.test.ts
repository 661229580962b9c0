import { generateKeyPairSync, randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DiscoverReport, Risk } from "../../operator/src/discover/classify.ts";
import { DAY_MS, jwt, selfSignedCertificate } from "../../testing/discover-fixtures.ts";
import { createIdentity, waitReady } from "../identity/support.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { type CliResult, signet } from "./support.ts";

const days = (n: number) => new Date(Date.now() + n * DAY_MS);

describe("signet discover against a real cluster", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: string;
  let quiet: string;
  let operator: OperatorProcess;
  /** Every secret value planted in the cluster: none may appear in anything the CLI prints. */
  const planted: string[] = [];

  const plant = (
    namespace: string,
    name: string,
    type: string,
    stringData: Record<string, string>,
    annotations?: Record<string, string>,
  ) =>
    core.createNamespacedSecret({
      namespace,
      body: { metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, type, stringData },
    });

  const createPod = (name: string, serviceAccount: string, spec: Partial<k8s.V1PodSpec>) =>
    core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name, namespace: ns },
        spec: {
          serviceAccountName: serviceAccount,
          ...spec,
          containers: [{ name: "app", image: "registry.example/app:1", ...(spec.containers?.[0] ?? {}) }],
        },
      },
    });

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "discover");
    quiet = await createNamespace(kc, "discover-quiet");
    const opNs = await createNamespace(kc, "signet-discover-op");
    operator = await startOperatorProcess(kubeconfigPath(), [
      "--leader-elect=false",
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--metrics-port=0",
    ]);
    // Signet's own identity Secret, and a pod mounting it: the replacement, never a finding.
    await createIdentity(kc, ns, "payments", { serviceAccounts: ["payments"] });

    const tenYear = await selfSignedCertificate("legacy-api", days(-30), days(3620));
    const thirtyDay = await selfSignedCertificate("short-lived", days(-10), days(20));
    const expired = await selfSignedCertificate("forgotten", days(-400), days(-35));
    const bareKey = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({
      type: "pkcs8",
      format: "pem",
    }) as string;
    const forever = await jwt({ iss: "billing", sub: "reporting" });
    const fiveMinutes = await jwt({ iss: "sts", exp: Math.floor(Date.now() / 1000) + 300 });
    const saToken = await jwt({
      iss: "kubernetes/serviceaccount",
      sub: `system:serviceaccount:${ns}:deployer`,
    });
    const registryPassword = randomBytes(16).toString("hex");
    planted.push(
      tenYear.keyPem,
      tenYear.certPem,
      thirtyDay.keyPem,
      expired.keyPem,
      bareKey,
      forever,
      fiveMinutes,
      saToken,
      registryPassword,
    );

    await plant(ns, "api-tls", "kubernetes.io/tls", {
      "tls.crt": tenYear.certPem,
      "tls.key": tenYear.keyPem,
    });
    await plant(ns, "edge-tls", "kubernetes.io/tls", {
      "tls.crt": thirtyDay.certPem,
      "tls.key": thirtyDay.keyPem,
    });
    await plant(ns, "old-tls", "kubernetes.io/tls", {
      "tls.crt": expired.certPem,
      "tls.key": expired.keyPem,
    });
    await plant(ns, "signing-key", "Opaque", { "signing.pem": bareKey });
    await plant(ns, "reporting-token", "Opaque", { token: forever });
    await plant(ns, "sts-token", "Opaque", { token: fiveMinutes });
    await plant(
      ns,
      "deployer-token",
      "kubernetes.io/service-account-token",
      { token: saToken },
      { "kubernetes.io/service-account.name": "deployer" },
    );
    await plant(ns, "registry", "kubernetes.io/dockerconfigjson", {
      ".dockerconfigjson": JSON.stringify({
        auths: { "registry.example.com": { username: "ci", password: registryPassword } },
      }),
    });
    await plant(ns, "settings", "Opaque", { "config.yaml": "replicas: 3\n", greeting: "hello" });
    await plant(quiet, "edge-tls", "kubernetes.io/tls", {
      "tls.crt": thirtyDay.certPem,
      "tls.key": thirtyDay.keyPem,
    });

    await createPod("api-0", "legacy-api", {
      volumes: [{ name: "tls", secret: { secretName: "api-tls" } }],
      imagePullSecrets: [{ name: "registry" }],
    });
    await createPod("signer", "signer", {
      containers: [
        {
          name: "app",
          env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "reporting-token", key: "token" } } }],
          envFrom: [{ secretRef: { name: "signing-key" } }],
        },
      ],
    });
    await createPod("deployer", "deployer", {
      volumes: [{ name: "token", secret: { secretName: "deployer-token" } }],
    });
    await createPod("payments-0", "payments", {
      volumes: [{ name: "identity", secret: { secretName: "payments-identity" } }],
    });
    await waitReady(kc, ns, "payments");
  });

  afterAll(async () => {
    await operator?.stop();
  });

  const runs: CliResult[] = [];
  const run = async (...args: string[]) => {
    const result = await signet(...args);
    runs.push(result);
    return result;
  };

  it("should find each planted credential with its risk and consumer pods, as JSON", async () => {
    const result = await run("discover", "--namespace", ns, "--output", "json");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as DiscoverReport;
    const summary = report.findings.map((f) => ({
      secret: f.secret,
      risk: f.risk,
      kinds: f.credentials.map((c) => c.kind),
      pods: f.consumers.map((c) => c.pod),
    }));
    expect(summary).toEqual([
      { secret: "api-tls", risk: "high", kinds: ["Certificate"], pods: ["api-0"] },
      { secret: "deployer-token", risk: "high", kinds: ["ServiceAccountToken"], pods: ["deployer"] },
      { secret: "reporting-token", risk: "high", kinds: ["JWT"], pods: ["signer"] },
      { secret: "signing-key", risk: "high", kinds: ["PrivateKey"], pods: ["signer"] },
      { secret: "old-tls", risk: "medium", kinds: ["Certificate"], pods: [] },
      { secret: "edge-tls", risk: "low", kinds: ["Certificate"], pods: [] },
      { secret: "registry", risk: "low", kinds: ["RegistryCredential"], pods: ["api-0"] },
      { secret: "sts-token", risk: "low", kinds: ["JWT"], pods: [] },
    ]);
    const api = report.findings.find((f) => f.secret === "api-tls");
    expect(api?.suggestion.identity).toBe("api");
    expect(api?.suggestion.yaml).toContain("serviceAccounts:\n    - legacy-api\n");
    expect(report.findings.find((f) => f.secret === "signing-key")?.credentials[0]).toMatchObject({
      algorithm: "EC secp384r1",
    });
  });

  it("should not report Signet's own Secrets", async () => {
    const identitySecret = await core.readNamespacedSecret({ namespace: ns, name: "payments-identity" });
    expect(identitySecret.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("signet");
    const result = await run("discover", "-n", ns, "-o", "json");
    const report = JSON.parse(result.stdout) as DiscoverReport;
    expect(report.findings.map((f) => f.secret)).not.toContain("payments-identity");
    expect(result.stdout).not.toContain("payments-identity");
  });

  it("should print a table ranked by risk with what to do", async () => {
    const result = await run("discover", "-n", ns);
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^RISK\s+SECRET\s+TYPE\s+PODS\s+REASON$/);
    expect(lines[1]).toMatch(new RegExp(`^HIGH\\s+${ns}/api-tls\\s+kubernetes.io/tls\\s+api-0\\s+`));
    expect(result.stdout).toContain("What to do:");
    expect(result.stdout).toMatch(/4 high, 1 medium, 3 low in \d+ Secrets/);
  });

  it.each<[string, string, Risk, number]>([
    ["should exit 1 on --fail-on high when a high finding exists", "main", "high", 1],
    ["should exit 0 on --fail-on high when only low findings exist", "quiet", "high", 0],
    ["should exit 1 on --fail-on low when a low finding exists", "quiet", "low", 1],
  ])("%s", async (_name, which, threshold, code) => {
    const result = await run(
      "discover",
      "-n",
      which === "main" ? ns : quiet,
      "--fail-on",
      threshold,
      "-o",
      "json",
    );
    expect(result.code).toBe(code);
    expect(JSON.parse(result.stdout).findings.length).toBeGreaterThan(0);
  });

  it("should refuse an unknown --fail-on level with exit 2", async () => {
    const result = await run("discover", "-n", ns, "--fail-on", "critical");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--fail-on must be one of low, medium, high");
  });

  it("should never print a planted secret value, in any run, on stdout or stderr", async () => {
    runs.push(await signet("discover", "-A", "-o", "json"), await signet("discover", "-A"));
    expect(runs.length).toBeGreaterThanOrEqual(8);
    const output = runs.map((r) => r.stdout + r.stderr).join("\n");
    const needles = planted.flatMap((value) =>
      value.includes("-----BEGIN")
        ? value.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----"))
        : [value],
    );
    expect(needles.length).toBeGreaterThan(planted.length);
    for (const needle of needles) {
      expect(output.includes(needle), `a planted value leaked: ${needle.slice(0, 6)}...`).toBe(false);
    }
  });
});
