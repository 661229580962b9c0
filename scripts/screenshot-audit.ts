// npm run screenshot [-- --out docs/audit-report.png]: the picture of `signet audit --format html`
// in the docs, taken from a real run. It starts a bare control plane and the operator, applies
// examples/, suspends one policy, plants two static credentials for discover, runs the real CLI and
// photographs the page in headless Chromium with the network off. Nothing is left running.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { type ControlPlane, startControlPlane } from "../e2e/harness/controlplane.ts";
import { applyObject } from "../e2e/support/apply.ts";
import { openOffline } from "../e2e/support/browser.ts";
import { installCrds } from "../e2e/support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../e2e/support/operator.ts";
import { waitFor } from "../e2e/support/wait.ts";
import { ACCESS_POLICY_PLURAL, GROUP, MACHINE_IDENTITY_PLURAL, VERSION } from "../operator/src/api/index.ts";
import { DAY_MS, jwt, selfSignedCertificate } from "../testing/discover-fixtures.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const { values: flags } = parseArgs({
  options: { out: { type: "string", default: join(root, "docs", "audit-report.png") } },
});
const out = resolve(flags.out);
const log = (line: string) => process.stderr.write(`[screenshot] ${line}\n`);

function examples(): k8s.KubernetesObject[] {
  const dir = join(root, "examples");
  const rank = (f: string) => (f.startsWith("namespaces") ? 0 : f.startsWith("serviceaccounts") ? 1 : 2);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .flatMap((f) => k8s.loadAllYaml(readFileSync(join(dir, f), "utf8")) as k8s.KubernetesObject[]);
}

function runCli(kubeconfig: string, args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [join(root, "operator/src/cli/main.ts"), ...args],
      {
        env: { ...process.env, KUBECONFIG: kubeconfig, NO_PROXY: "127.0.0.1,localhost" },
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) => (err ? fail(new Error(`signet ${args.join(" ")}: ${stderr}`)) : done(stdout)),
    );
  });
}

async function stage(kc: k8s.KubeConfig, kubeconfig: string): Promise<OperatorProcess> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  await installCrds(kc);
  await core.createNamespace({ body: { metadata: { name: "signet-system" } } });
  const operator = await startOperatorProcess(kubeconfig, [
    "--leader-elect=false",
    "--namespace=signet-system",
    "--watch-namespaces=shop,finance",
    "--metrics-port=0",
  ]);
  const applied = examples();
  for (const obj of applied) await applyObject(kc, obj, { fieldManager: "signet-screenshot" });
  log(`applied ${applied.length} objects of examples/`);

  // The on-call engineer stops the support console's access during an incident.
  await objects.patchNamespacedCustomObject(
    {
      group: GROUP,
      version: VERSION,
      plural: ACCESS_POLICY_PLURAL,
      namespace: "shop",
      name: "support-to-payments",
      body: { spec: { suspend: true } },
    },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );

  // What Signet replaces: a ten-year certificate a reporting job mounts, and a token that never expires.
  const now = Date.now();
  const legacy = await selfSignedCertificate(
    "reports.shop.svc",
    new Date(now - 200 * DAY_MS),
    new Date(now + 3450 * DAY_MS),
  );
  await core.createNamespacedSecret({
    namespace: "shop",
    body: {
      metadata: { name: "reports-tls", namespace: "shop" },
      type: "kubernetes.io/tls",
      stringData: { "tls.crt": legacy.certPem, "tls.key": legacy.keyPem },
    },
  });
  await core.createNamespacedSecret({
    namespace: "finance",
    body: {
      metadata: { name: "billing-api-token", namespace: "finance" },
      type: "Opaque",
      stringData: { token: await jwt({ iss: "billing", sub: "ledger" }) },
    },
  });
  const app = { name: "app", image: "registry.example/app:1" };
  const pods: k8s.V1Pod[] = [
    {
      metadata: { name: "reports-0", namespace: "shop" },
      spec: {
        serviceAccountName: "reports",
        volumes: [{ name: "tls", secret: { secretName: "reports-tls" } }],
        containers: [app],
      },
    },
    {
      metadata: { name: "ledger-0", namespace: "finance", labels: { "signet.dev/identity": "ledger" } },
      spec: {
        serviceAccountName: "ledger",
        containers: [
          {
            ...app,
            env: [
              {
                name: "BILLING_TOKEN",
                valueFrom: { secretKeyRef: { name: "billing-api-token", key: "token" } },
              },
            ],
          },
        ],
      },
    },
    ...["payments-api-0", "payments-api-1"].map((name) => ({
      metadata: { name, namespace: "shop", labels: { "signet.dev/identity": "payments-api" } },
      spec: { serviceAccountName: "payments", containers: [app] },
    })),
    {
      metadata: { name: "checkout-0", namespace: "shop", labels: { "signet.dev/identity": "checkout" } },
      spec: { serviceAccountName: "checkout", containers: [app] },
    },
  ];
  for (const pod of pods)
    await core.createNamespacedPod({ namespace: pod.metadata?.namespace ?? "", body: pod });

  // Every identity and policy reconciled by the operator, so the page shows its word.
  for (const [plural, kind] of [
    [MACHINE_IDENTITY_PLURAL, "MachineIdentities"],
    [ACCESS_POLICY_PLURAL, "AccessPolicies"],
  ] as const) {
    await waitFor(
      `${kind} to be reconciled`,
      async () => {
        const list = (await objects.listCustomObjectForAllNamespaces({
          group: GROUP,
          version: VERSION,
          resourcePlural: plural,
        })) as {
          items: {
            metadata: { generation?: number };
            status?: { observedGeneration?: number; conditions?: { observedGeneration?: number }[] };
          }[];
        };
        const current = list.items.every(
          (o) =>
            o.status?.observedGeneration === o.metadata.generation ||
            o.status?.conditions?.some((c) => c.observedGeneration === o.metadata.generation),
        );
        return list.items.length > 0 && current ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
  }
  return operator;
}

let controlPlane: ControlPlane | undefined;
let operator: OperatorProcess | undefined;
const stop = async () => {
  await operator?.stop();
  await controlPlane?.stop();
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void stop().finally(() => process.exit(1)));
}
try {
  const started = performance.now();
  controlPlane = await startControlPlane();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  operator = await stage(kc, controlPlane.kubeconfigPath);
  const html = await runCli(controlPlane.kubeconfigPath, ["audit", "--all-namespaces", "--format", "html"]);
  const file = join(mkdtempSync(join(tmpdir(), "signet-audit-")), "audit.html");
  writeFileSync(file, html);
  const page = await openOffline(file, { width: 1440, height: 900 });
  try {
    if (page.requests.length !== 1 || page.problems.length > 0) {
      throw new Error(
        `the page is not self-contained: ${[...page.requests.slice(1), ...page.problems].join("; ")}`,
      );
    }
    await page.page.screenshot({ path: out, fullPage: true });
  } finally {
    await page.close();
  }
  log(`wrote ${out} (page ${file}) in ${Math.round((performance.now() - started) / 1000)} s`);
} finally {
  await stop();
}
