// npm run demo [-- --keep]: Signet end to end on a local control plane (or the cluster in KUBECONFIG),
// narrated step by step. Leaves nothing running unless --keep is given.
import { X509Certificate } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { type ControlPlane, startControlPlane } from "../e2e/harness/controlplane.ts";
import { installCrds } from "../e2e/support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../e2e/support/operator.ts";
import { waitFor } from "../e2e/support/wait.ts";
import { API_VERSION, GROUP, type MachineIdentity, VERSION } from "../operator/src/api/index.ts";
import { applyObject } from "../operator/src/kube/apply.ts";
import { renderMutatingWebhookConfiguration } from "../webhooks/src/configuration.ts";

const { values: flags } = parseArgs({ options: { keep: { type: "boolean", default: false } } });
const root = fileURLToPath(new URL("../", import.meta.url));
const tty = process.stdout.isTTY;
const paint = (code: number) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint(1);
const green = paint(32);
const red = paint(31);
const dim = paint(2);
const cyan = paint(36);

let stepNo = 0;
const step = (title: string) => console.log(`\n${bold(`${++stepNo}. ${title}`)}`);
const say = (line: string) => console.log(`   ${line}`);

// The demo waits longer than a test would: a first run also starts a cold control plane.
const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000) =>
  waitFor(what, fn, { timeoutMs });

const code = (err: unknown) => (err as { code?: number }).code;
const bodyMessage = (err: unknown): string => {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed = typeof body === "string" ? JSON.parse(body) : body;
    return (parsed as { message?: string }).message ?? String(err);
  } catch {
    return String(body ?? err);
  }
};

/** On someone else's cluster the demo works in namespaces of its own: shop -> signet-demo-shop. */
function renameNamespaces<T>(value: T, rename: (ns: string) => string): T {
  const obj = structuredClone(value) as Record<string, unknown> & k8s.KubernetesObject;
  if (obj.kind === "Namespace" && obj.metadata?.name) obj.metadata.name = rename(obj.metadata.name);
  if (obj.metadata?.namespace) obj.metadata.namespace = rename(obj.metadata.namespace);
  const spec = obj.spec as { allowFrom?: { namespace?: string }[] } | undefined;
  for (const source of spec?.allowFrom ?? [])
    if (source.namespace) source.namespace = rename(source.namespace);
  return obj as T;
}

function loadExamples(): k8s.KubernetesObject[] {
  const dir = `${root}examples/`;
  const order = (f: string) => (f.startsWith("namespaces") ? 0 : f.startsWith("serviceaccounts") ? 1 : 2);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(dir + f, "utf8")).map((d) => d.toJS() as k8s.KubernetesObject),
    )
    .filter(Boolean);
}

async function main(): Promise<void> {
  const started = Date.now();
  const external = process.env.KUBECONFIG;
  let controlPlane: ControlPlane | undefined;
  let operator: OperatorProcess | undefined;
  const kc = new k8s.KubeConfig();
  const cleanup = async () => {
    await operator?.stop();
    await controlPlane?.stop();
  };
  process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

  try {
    step("A Kubernetes control plane");
    let kubeconfigPath: string;
    if (external) {
      kubeconfigPath = external;
      kc.loadFromFile(external);
      say(
        `using KUBECONFIG=${external} (${kc.getCurrentCluster()?.server}); only Signet's demo namespaces are changed`,
      );
    } else {
      say("starting etcd and kube-apiserver v1.36 on loopback (the first run builds them: minutes)");
      controlPlane = await startControlPlane();
      kubeconfigPath = controlPlane.kubeconfigPath;
      kc.loadFromFile(kubeconfigPath);
      say(`${green("ready")} at ${controlPlane.server}`);
    }
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const objects = kc.makeApiClient(k8s.CustomObjectsApi);
    const networking = kc.makeApiClient(k8s.NetworkingV1Api);
    const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);

    step("Install Signet's CRDs and the identity-label guard");
    await installCrds(kc);
    say("CRDs established: machineidentities, accesspolicies, accessschedules (kubectl get signet -A)");
    const local = !external;
    if (local) {
      for (const doc of parseAllDocuments(
        readFileSync(`${root}webhooks/manifests/identity-label-policy.yaml`, "utf8"),
      )) {
        await applyObject(kc, doc.toJS() as k8s.KubernetesObject, { fieldManager: "signet-demo" });
      }
      say(
        "ValidatingAdmissionPolicy signet-identity-label: only Signet's webhook may set the identity label",
      );
    }

    const ns = (name: string) => (local ? name : `signet-demo-${name}`);
    const shop = ns("shop");

    step("Start the operator (controllers and admission webhook)");
    const opNamespace = ns("signet-system");
    await core.createNamespace({ body: { metadata: { name: opNamespace } } }).catch((e) => {
      if (code(e) !== 409) throw e;
    });
    operator = await startOperatorProcess(kubeconfigPath, [
      `--namespace=${opNamespace}`,
      `--watch-namespaces=${shop},${ns("finance")}`,
      "--min-ttl=20s",
      "--leader-elect=true",
      "--webhook-host=127.0.0.1",
      "--webhook-dns-names=localhost",
      ...(local ? ["--webhook-configuration=signet-pod-identity"] : []),
      "--log-level=warn",
    ]);
    if (local) {
      await applyObject(
        kc,
        renderMutatingWebhookConfiguration({
          target: { url: `https://localhost:${operator.webhookPort}/mutate-pods` },
        }),
        { fieldManager: "signet-demo" },
      );
      await until("the webhook's caBundle", async () => {
        const cfg = await admission.readMutatingWebhookConfiguration({ name: "signet-pod-identity" });
        return cfg.webhooks?.[0]?.clientConfig.caBundle ? cfg : undefined;
      });
      say(
        `webhook serving on https://localhost:${operator.webhookPort}/mutate-pods, certificate from Signet's CA`,
      );
      say("the operator filled in the webhook's caBundle itself: no cert-manager needed");
    } else {
      say(
        dim(
          "the admission webhook runs here, but a remote API server cannot call it: install the Helm chart for that",
        ),
      );
    }
    const ca = await until("Signet's root CA", () =>
      core.readNamespacedSecret({ namespace: opNamespace, name: "signet-ca" }),
    );
    const rootCa = new X509Certificate(Buffer.from(ca.data?.["tls.crt"] ?? "", "base64"));
    say(
      `root CA generated in Secret ${opNamespace}/signet-ca: ${rootCa.subject.replace(/\n/g, ", ")}, valid until ${rootCa.validTo}`,
    );

    step("Apply the examples: the shop and its payments");
    const examples = loadExamples().map((o) => renameNamespaces(o, ns));
    for (const obj of examples) await applyObject(kc, obj, { fieldManager: "signet-demo" });
    say(
      `${examples.length} objects from examples/: namespaces, ServiceAccounts, identities, schedules, policies`,
    );
    const identities = examples.filter((o) => o.kind === "MachineIdentity");
    for (const id of identities) {
      const namespace = id.metadata?.namespace ?? "";
      const name = id.metadata?.name ?? "";
      const mi = await until(`${namespace}/${name}`, async () => {
        const got = (await objects.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: "machineidentities",
          name,
        })) as MachineIdentity;
        return got.status?.conditions?.some((c) => c.type === "Ready") ? got : undefined;
      });
      const ready = mi.status?.conditions?.find((c) => c.type === "Ready");
      if (ready?.status === "True") {
        say(
          `${green("✔")} ${cyan(mi.status?.spiffeID ?? "")}  serial ${mi.status?.serialNumber?.slice(0, 12)}…  expires ${mi.status?.notAfter}`,
        );
      } else {
        say(`${dim("○")} ${namespace}/${name}: ${ready?.reason} — ${ready?.message}`);
      }
    }

    if (local) {
      step("Pods ask for identities at admission");
      const pod = (name: string, sa: string, identity: string): k8s.V1Pod => ({
        metadata: {
          name,
          namespace: "shop",
          labels: { app: name, "signet.dev/inject": "true" },
          annotations: { "signet.dev/identity": identity },
        },
        spec: { serviceAccountName: sa, containers: [{ name: "app", image: "registry.invalid/shop/app:1" }] },
      });
      const admitted = await core.createNamespacedPod({
        namespace: "shop",
        body: pod("checkout-7f9c", "checkout", "checkout"),
      });
      const mount = admitted.spec?.containers[0]?.volumeMounts?.find((m) => m.name.startsWith("signet"));
      say(`${green("admitted")} shop/checkout-7f9c as ServiceAccount checkout:`);
      say(`   label signet.dev/identity=${admitted.metadata?.labels?.["signet.dev/identity"]}`);
      say(
        `   volume from Secret ${admitted.spec?.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName} at ${mount?.mountPath} (read-only)`,
      );
      say(`   env ${admitted.spec?.containers[0]?.env?.map((e) => e.name).join(", ")}`);
      try {
        await core.createNamespacedPod({
          namespace: "shop",
          body: pod("intruder", "default", "payments-api"),
        });
        say(red("unexpected: a pod with the wrong ServiceAccount was admitted"));
      } catch (err) {
        say(`${red("denied")} shop/intruder asking for payments-api as ServiceAccount default:`);
        say(`   ${bodyMessage(err)}`);
      }
      try {
        await core.createNamespacedPod({
          namespace: "shop",
          body: {
            metadata: { name: "spoofer", labels: { "signet.dev/identity": "payments-api" } },
            spec: { containers: [{ name: "app", image: "x" }] },
          },
        });
        say(red("unexpected: a hand-set identity label was accepted"));
      } catch (err) {
        say(`${red("denied")} shop/spoofer with a hand-set identity label:`);
        say(`   ${bodyMessage(err).slice(0, 200)}…`);
      }
    }

    step("Access that exists only inside a window");
    const now = Date.now();
    const opens = new Date(Math.ceil((now + 6_000) / 1000) * 1000);
    const closes = new Date(opens.getTime() + 8_000);
    await applyObject(
      kc,
      {
        apiVersion: API_VERSION,
        kind: "AccessSchedule",
        metadata: { name: "demo-window", namespace: shop },
        spec: {
          timeZone: "UTC",
          windows: [],
          grants: [{ start: opens.toISOString(), end: closes.toISOString(), reason: "demo" }],
        },
      } as k8s.KubernetesObject,
      { fieldManager: "signet-demo" },
    );
    await applyObject(
      kc,
      {
        apiVersion: API_VERSION,
        kind: "AccessPolicy",
        metadata: { name: "checkout-to-payments-demo", namespace: shop },
        spec: {
          target: { identity: "payments-api", ports: [{ port: 9090, protocol: "TCP" }] },
          allowFrom: [{ identity: "checkout" }],
          scheduleRef: { name: "demo-window" },
        },
      } as k8s.KubernetesObject,
      { fieldManager: "signet-demo" },
    );
    say(
      `AccessPolicy ${shop}/checkout-to-payments-demo, open from ${opens.toISOString()} to ${closes.toISOString()}`,
    );
    const allowName = async () => {
      const list = await networking.listNamespacedNetworkPolicy({
        namespace: shop,
        labelSelector: "signet.dev/policy=checkout-to-payments-demo",
      });
      return list.items.map((p) => p.metadata?.name ?? "");
    };
    const all = await networking.listNamespacedNetworkPolicy({ namespace: shop });
    say(`NetworkPolicies in ${shop} now: ${all.items.map((p) => p.metadata?.name).join(", ") || "none"}`);
    const appeared = await until(
      "the window to open",
      async () => ((await allowName()).length ? await allowName() : undefined),
      30_000,
    );
    say(
      `${green("window open")}: ${appeared.join(", ")} appeared ${((Date.now() - opens.getTime()) / 1000).toFixed(1)} s after the boundary`,
    );
    await until("the window to close", async () => ((await allowName()).length ? undefined : true), 30_000);
    say(
      `${red("window closed")}: the allow policy is gone ${((Date.now() - closes.getTime()) / 1000).toFixed(1)} s after the boundary; default-deny stays`,
    );

    step("Rotation: a fresh key and serial long before expiry");
    await applyObject(
      kc,
      {
        apiVersion: API_VERSION,
        kind: "MachineIdentity",
        metadata: { name: "fast-rotating", namespace: shop },
        spec: { serviceAccounts: ["checkout"], ttl: "24s", renewBefore: "16s" },
      } as k8s.KubernetesObject,
      { fieldManager: "signet-demo" },
    );
    const read = () =>
      objects.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: shop,
        plural: "machineidentities",
        name: "fast-rotating",
      }) as Promise<MachineIdentity>;
    const first = await until("the first certificate", async () =>
      (await read()).status?.serialNumber ? read() : undefined,
    );
    say(
      `issued serial ${first.status?.serialNumber}, valid until ${first.status?.notAfter}, renewal at ${first.status?.renewalTime}`,
    );
    const second = await until("a rotation", async () => {
      const mi = await read();
      return mi.status?.serialNumber && mi.status.serialNumber !== first.status?.serialNumber
        ? mi
        : undefined;
    });
    say(
      `${green("rotated")}: serial ${second.status?.serialNumber}, valid until ${second.status?.notAfter} (rotations: ${second.status?.rotations})`,
    );

    step("What to try next");
    say(`kubectl get signet -A        ${dim("# identities, policies and schedules")}`);
    say(`kubectl describe mid -n ${shop} payments-api   ${dim("# conditions and events")}`);
    say(
      `npm exec signet -- audit --all-namespaces  ${dim("# who holds which identity, who may talk to whom")}`,
    );
    say(`npm exec signet -- discover --all-namespaces  ${dim("# static credentials Signet would replace")}`);
    say(`docs/quickstart.md, docs/concepts.md  ${dim("# the ideas behind it")}`);
    console.log(`\n${green("Demo complete")} in ${((Date.now() - started) / 1000).toFixed(0)} s.`);

    if (!local && !flags.keep) {
      for (const name of [shop, ns("finance"), opNamespace])
        await core.deleteNamespace({ name }).catch(() => undefined);
      say(dim(`removed the demo namespaces ${shop}, ${ns("finance")} and ${opNamespace}`));
    }
    if (flags.keep) {
      say(
        `still running (Ctrl-C stops everything)${controlPlane ? `: export KUBECONFIG=${controlPlane.kubeconfigPath}` : ""}`,
      );
      await new Promise(() => {});
    }
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`\n${red("demo failed")}: ${(err as Error).message}`);
    process.exit(1);
  },
);
