import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { Registry } from "prom-client";
import { decidePodAdmission } from "../../webhooks/src/decide.ts";
import type { NamedMachineIdentity } from "../../webhooks/src/identity.ts";
import type { PodLike } from "../../webhooks/src/pod.ts";
import { MUTATE_PODS_PATH, startWebhookServer, VALIDATE_PODS_PATH } from "../../webhooks/src/server.ts";
import { loopbackCertificates } from "../../webhooks/src/testing/fixture.ts";
import { applyJsonPatch } from "../../webhooks/src/testing/json-patch.ts";
import type { GeneratorResult, GeneratorTask } from "./generator.ts";

/**
 * Admission latency over TLS on loopback at a fixed arrival rate. The webhook server runs in this
 * process, exactly as the operator starts it; the load comes from a forked generator process so
 * that the two do not share an event loop.
 *
 *   npm run bench:webhook -- --duration 30 --rate 1000
 */

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: process.env.BENCH_DURATION ?? "30" },
    rate: { type: "string", default: "1000" },
    warmup: { type: "string", default: "3" },
    // /mutate-pods: the injection; /validate-pods: the identity Secret reference check of the
    // same pod once injected, which the API server calls next for every pod.
    path: { type: "string", default: "/mutate-pods" },
  },
});
const path = values.path;
if (path !== MUTATE_PODS_PATH && path !== VALIDATE_PODS_PATH) {
  throw new Error(`--path must be ${MUTATE_PODS_PATH} or ${VALIDATE_PODS_PATH}, not ${path}`);
}
const durationSeconds = Number(values.duration);
const rate = Number(values.rate);
const warmupSeconds = Number(values.warmup);

/** A pod as a Deployment would create it: two containers, an init container, probes and env. */
function deploymentPod(): unknown {
  const container = (name: string) => ({
    name,
    image: `registry.example/${name}:1.4.2`,
    ports: [{ containerPort: 8443, name: "https", protocol: "TCP" }],
    env: Array.from({ length: 8 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}` })),
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
    readinessProbe: { httpGet: { path: "/ready", port: 8443, scheme: "HTTPS" }, periodSeconds: 5 },
    volumeMounts: [
      { name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
    ],
  });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "payments-api-7d9f8c6b5-",
      namespace: "shop",
      labels: { app: "payments-api", "pod-template-hash": "7d9f8c6b5", "signet.dev/inject": "true" },
      annotations: { "signet.dev/identity": "payments-api" },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "payments-api-7d9f8c6b5",
          uid: "6a1c9a36-5b3e-4b8e-9d51-1c0c2f6f0a11",
          controller: true,
        },
      ],
    },
    spec: {
      serviceAccountName: "payments",
      initContainers: [container("migrate")],
      containers: [container("app"), container("proxy")],
      volumes: [
        {
          name: "kube-api-access",
          projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }] },
        },
      ],
    },
  };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function peakRssFromProc(): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const { ca, serving } = await loopbackCertificates();
const registry = new Registry();
// The pod's identity among 100 of its namespace: the reference check indexes them all.
const identities: NamedMachineIdentity[] = Array.from({ length: 100 }, (_, i) => ({
  metadata: { name: i === 0 ? "payments-api" : `service-${i}` },
  spec: { serviceAccounts: [i === 0 ? "payments" : `service-${i}`] },
  status: { conditions: [{ type: "Ready", status: "True" }] },
}));
const server = await startWebhookServer({
  trustDomain: "cluster.local",
  lookupIdentity: (namespace, name) =>
    namespace === "shop" ? identities.find((i) => i.metadata?.name === name) : undefined,
  listIdentities: (namespace) => (namespace === "shop" ? identities : []),
  identitiesSynced: () => true,
  logger: pino({ level: "warn" }),
  registry,
  port: 0,
  host: "127.0.0.1",
  servingCertificate: serving,
});

const serverLoop = monitorEventLoopDelay({ resolution: 1 });
serverLoop.enable();
const rssBeforeLoad = process.memoryUsage.rss();
let sampledPeakRss = rssBeforeLoad;
const sampler = setInterval(() => {
  sampledPeakRss = Math.max(sampledPeakRss, process.memoryUsage.rss());
}, 100);

const body = JSON.stringify({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    operation: "CREATE",
    namespace: "shop",
    userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller" },
    object: path === MUTATE_PODS_PATH ? deploymentPod() : injectedPod(),
  },
});

/** The pod as the mutating webhook left it, which is what the validating one is sent. */
function injectedPod(): unknown {
  const pod = deploymentPod() as PodLike;
  const decision = decidePodAdmission({ operation: "CREATE", namespace: "shop", pod }, identities[0], {
    trustDomain: "cluster.local",
  });
  if (!decision.allowed) throw new Error(`the bench pod was denied: ${decision.message}`);
  return applyJsonPatch(pod, decision.patch);
}

const generator = fork(new URL("./generator.ts", import.meta.url), [], { execPath: process.execPath });
const task: GeneratorTask = {
  port: server.port,
  path,
  caPem: ca.certPem,
  body,
  rate,
  warmupSeconds,
  durationSeconds,
};
const result = await new Promise<GeneratorResult>((resolve, reject) => {
  generator.once("message", (m) => resolve(m as GeneratorResult));
  generator.once("error", reject);
  generator.once("exit", (code) => code !== 0 && reject(new Error(`generator exited with ${code}`)));
  generator.send(task);
});
clearInterval(sampler);
serverLoop.disable();
await server.close();

const sorted = Float64Array.from(result.latenciesMs).sort();
const ms = (v: number) => `${v.toFixed(2)} ms`;
const mib = (v: number | undefined) => (v === undefined ? "n/a" : `${(v / 1024 / 1024).toFixed(1)} MiB`);
const handling = (await registry.getSingleMetric("signet_admission_duration_seconds")?.get())?.values ?? [];
const handlingSum =
  handling.find((v) => (v as { metricName?: string }).metricName?.endsWith("_sum"))?.value ?? 0;
const handlingCount =
  handling.find((v) => (v as { metricName?: string }).metricName?.endsWith("_count"))?.value ?? 0;
// Every answer is counted by outcome: a denied review is HTTP 200 too, so it is counted here.
const answers = Object.fromEntries(
  ((await registry.getSingleMetric("signet_admission_requests_total")?.get())?.values ?? []).map((v) => [
    String(v.labels.result),
    v.value,
  ]),
);
function summary(values: Float64Array) {
  return {
    p50: ms(percentile(values, 50)),
    p90: ms(percentile(values, 90)),
    p99: ms(percentile(values, 99)),
    max: ms(values[values.length - 1] ?? Number.NaN),
  };
}
const report = {
  machine: {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    node: process.version,
    loadAverage1m: Number(loadavg()[0]?.toFixed(2)),
  },
  load: { path, rate, durationSeconds, warmupSeconds, bodyBytes: Buffer.byteLength(body) },
  requests: { measured: sorted.length, errors: result.errors, non200: result.non200, answers },
  achievedRate: Math.round((sorted.length + rate * warmupSeconds) / result.elapsedSeconds),
  latency: summary(sorted),
  /** Without the generator's own lateness in sending (its timers fire on whole milliseconds). */
  latencyFromSend: summary(Float64Array.from(result.fromSendMs).sort()),
  /** Inside the server, from the request's arrival to the written response. */
  serverMeanHandling: ms((handlingSum / Math.max(1, handlingCount)) * 1000),
  /** Stalls of each event loop, to tell a slow server from a starved generator. */
  eventLoopDelay: {
    server: { p99: ms(serverLoop.percentile(99) / 1e6), max: ms(serverLoop.max / 1e6) },
    generator: result.eventLoopDelay,
  },
  serverRss: {
    beforeLoad: mib(rssBeforeLoad),
    sampledPeak: mib(sampledPeakRss),
    vmHWM: mib(peakRssFromProc()),
  },
};
console.log(JSON.stringify(report, null, 2));
