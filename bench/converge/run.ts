import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { startControlPlane } from "../../e2e/harness/controlplane.ts";
import { identity, MI } from "../../e2e/identity/support.ts";
import { reuseConnections } from "../../e2e/support/connections.ts";
import { installCrds } from "../../e2e/support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../../e2e/support/operator.ts";
import type { MachineIdentity } from "../../operator/src/api/index.ts";
import { KubeClient } from "../../operator/src/kube/client.ts";
import { createInformer } from "../../operator/src/kube/informer.ts";
import { loadConnection } from "../../operator/src/kube/kubeconfig.ts";
import { build } from "../../scripts/build.ts";
import {
  apiserverMetrics,
  childRunning,
  cpuModel,
  cpuSeconds,
  difference,
  load,
  operatorMetrics,
  procStatusKb,
  retryThrottled,
  settle,
  sleep,
  writeCounts,
} from "../measure.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Convergence of many MachineIdentities on a real control plane: the operator runs as its own
 * process (controller subcommand, no leader election) while this process creates N identities as
 * fast as the API server takes them and watches until every one is Ready with its Secret present.
 * API writes are counted by the kube-apiserver itself (apiserver_request_total), so nothing the
 * operator writes can escape the count.
 *
 *   npm run bench:converge -- --count 1000
 */

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "32" },
    /** Passed to the operator as --workers; its own default when absent. */
    workers: { type: "string" },
    /** Seconds to wait for convergence before reporting what was reached. */
    timeout: { type: "string", default: "900" },
    /** Directory for a V8 CPU profile of the operator (node --cpu-prof). */
    "cpu-prof": { type: "string" },
    /** Directory for a V8 heap snapshot of the operator, taken after the run settled and RSS was read. */
    "heap-snapshot": { type: "string" },
    /**
     * After the run, stop the operator and start a new one on the identities now present: its peak
     * RSS while it lists them and finds nothing to write.
     */
    restart: { type: "boolean", default: false },
    /**
     * Pods created before the operator starts, each labelled with one of the identities (round
     * robin): a cluster where identities are in use, whose pods the operator caches and counts.
     */
    pods: { type: "string", default: "0" },
    /**
     * Run the operator from its TypeScript sources instead of the JavaScript the image ships
     * (scripts/build.ts into dist/): Node's type stripping then adds about 27 MB.
     */
    "from-source": { type: "boolean", default: false },
    /**
     * Run the operator in a memory cgroup with this limit in MiB, as a pod with a memory limit runs
     * (Node sizes its heap from the limit it finds). cgroup v1 or v2, as root.
     */
    "memory-limit": { type: "string" },
    /** NODE_OPTIONS for the operator process, e.g. "--max-semi-space-size=2". */
    "node-options": { type: "string", default: "" },
  },
});
const count = Number(values.count);
const podCount = Number(values.pods);
if (!Number.isInteger(podCount) || podCount < 0)
  throw new Error(`--pods must be a whole number, got ${values.pods}`);
const concurrency = Number(values.concurrency);
const timeoutMs = Number(values.timeout) * 1000;
if (!Number.isInteger(count) || count < 1)
  throw new Error(`--count must be a positive integer, got ${values.count}`);
if (!Number.isInteger(concurrency) || concurrency < 1)
  throw new Error(`--concurrency must be a positive integer, got ${values.concurrency}`);

const NAMESPACE = "signet-bench";
const TARGET_SECONDS_PER_1000 = 10;
const TARGET_WRITES = 3;
/** Peak RSS targets: 150 MB up to 1,000 identities, 400 MB at 10,000 (both with 5,000 pods present). */
const TARGET_RSS_MB = count <= 1000 ? 150 : 400;
const SECRET_SELECTOR = "app.kubernetes.io/managed-by=signet";

/** Sum of a counter family in Prometheus text, by the value of one label. */
function counterByLabel(metricsText: string, name: string, label: string, filter = ""): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith(`${name}{`) || !line.includes(filter)) continue;
    const value = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? "";
    out.set(value, (out.get(value) ?? 0) + Number(line.slice(line.lastIndexOf("}") + 1).trim()));
  }
  return out;
}

/** The value of an unlabelled gauge in Prometheus text. */
function gauge(metricsText: string, name: string): number {
  const line = metricsText.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : Number.NaN;
}

/**
 * A launcher that moves itself into a new memory cgroup with `mib` as its limit, then execs the
 * command: the operator then sees the limit at startup, as in a pod. Removed at exit.
 */
function memoryCgroup(mib: number): string[] {
  if (!Number.isInteger(mib) || mib < 64)
    throw new Error(`--memory-limit must be a whole number of MiB >= 64, got ${mib}`);
  const v1 = "/sys/fs/cgroup/memory";
  const dir = existsSync(`${v1}/memory.limit_in_bytes`)
    ? `${v1}/signet-bench-${process.pid}`
    : `/sys/fs/cgroup/signet-bench-${process.pid}`;
  mkdirSync(dir);
  writeFileSync(
    join(dir, dir.startsWith(v1) ? "memory.limit_in_bytes" : "memory.max"),
    String(mib * 1024 * 1024),
  );
  process.on("exit", () => {
    try {
      rmdirSync(dir);
    } catch {
      // Still in use if the operator outlived the benchmark; the supervisor kills it next.
    }
  });
  return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir];
}

interface Progress {
  ready: Set<string>;
  secrets: Set<string>;
  done: Set<string>;
  lastDoneAt: number;
}

/**
 * Follows identities and their Secrets through the operator's own informer (it resumes after watch
 * timeouts and relists on 410); an identity is done when Ready=True with its Secret present.
 */
async function watchConvergence(
  kc: k8s.KubeConfig,
  kubeconfigPath: string,
  progress: Progress,
): Promise<() => void> {
  const check = (name: string) => {
    if (progress.ready.has(name) && progress.secrets.has(`${name}-identity`) && !progress.done.has(name)) {
      progress.done.add(name);
      progress.lastDoneAt = performance.now();
    }
  };
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const kube = new KubeClient(loadConnection({ env: { KUBECONFIG: kubeconfigPath } }));
  const identities = createInformer<MachineIdentity>(kube, {
    path: `/apis/${MI.group}/${MI.version}/namespaces/${NAMESPACE}/${MI.plural}`,
    list: () =>
      objects.listNamespacedCustomObject({ ...MI, namespace: NAMESPACE }) as Promise<
        k8s.KubernetesListObject<MachineIdentity>
      >,
  });
  const secrets = createInformer<k8s.V1Secret>(kube, {
    path: `/api/v1/namespaces/${NAMESPACE}/secrets`,
    labelSelector: SECRET_SELECTOR,
    list: () =>
      core.listNamespacedSecret({ namespace: NAMESPACE, labelSelector: SECRET_SELECTOR }) as Promise<
        k8s.KubernetesListObject<k8s.V1Secret>
      >,
  });
  const onIdentity = (mi: MachineIdentity) => {
    const name = mi.metadata?.name ?? "";
    if (
      mi.status?.serialNumber &&
      mi.status.conditions?.some((c) => c.type === "Ready" && c.status === "True")
    ) {
      progress.ready.add(name);
      check(name);
    }
  };
  const onSecret = (secret: k8s.V1Secret) => {
    const name = secret.metadata?.name ?? "";
    if (!secret.data?.["tls.crt"]) return;
    progress.secrets.add(name);
    check(name.replace(/-identity$/, ""));
  };
  identities.on("add", onIdentity);
  identities.on("update", onIdentity);
  secrets.on("add", onSecret);
  secrets.on("update", onSecret);
  secrets.on("delete", (secret) => progress.secrets.delete(secret.metadata?.name ?? ""));
  await Promise.all([identities.start(), secrets.start()]);
  return () => {
    identities.stop();
    secrets.stop();
  };
}

/** Opted-in pods as a ReplicaSet would create them (the bare control plane schedules none). */
async function createPods(core: k8s.CoreV1Api): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < podCount; i = next++) {
      const identityName = `id-${String(i % count).padStart(5, "0")}`;
      const body: k8s.V1Pod = {
        metadata: {
          name: `pod-${String(i).padStart(5, "0")}`,
          labels: { "signet.dev/identity": identityName, app: "bench" },
          annotations: { "signet.dev/inject": "true" },
        },
        spec: {
          serviceAccountName: "bench",
          containers: [
            {
              name: "app",
              image: "registry.invalid/bench:1",
              env: [
                {
                  name: "SIGNET_SPIFFE_ID",
                  value: `spiffe://cluster.local/ns/${NAMESPACE}/id/${identityName}`,
                },
              ],
              volumeMounts: [
                { name: "signet-identity", mountPath: "/var/run/secrets/signet", readOnly: true },
              ],
            },
          ],
          volumes: [{ name: "signet-identity", secret: { secretName: `${identityName}-identity` } }],
        },
      };
      await retryThrottled(() => core.createNamespacedPod({ namespace: NAMESPACE, body }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function createAll(objects: k8s.CustomObjectsApi): Promise<number> {
  let next = 0;
  let retries = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const name = `id-${String(i).padStart(5, "0")}`;
      const body = identity(NAMESPACE, name, {
        serviceAccounts: ["bench"],
        ttl: "1h",
        privateKey: { algorithm: "ECDSA", size: 256 },
      });
      retries += await retryThrottled(() =>
        objects.createNamespacedCustomObject({ ...MI, namespace: NAMESPACE, body }),
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return retries;
}

/** Signals the operator to write a heap snapshot and waits until the file stops growing. */
async function heapSnapshot(pid: number, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const existing = new Set(readdirSync(dir));
  process.kill(pid, "SIGUSR2");
  const deadline = performance.now() + 120_000;
  let lastSize = -1;
  while (performance.now() < deadline) {
    await sleep(1_000);
    const file = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !existing.has(f));
    if (!file) continue;
    const size = statSync(join(dir, file)).size;
    if (size > 0 && size === lastSize) return join(dir, file);
    lastSize = size;
  }
  throw new Error(`no heap snapshot from pid ${pid} in ${dir}`);
}

/**
 * Stops the operator and starts another on the converged identities: its peak RSS from start until
 * its reconciles are still, the time that took, and the writes it made (none are due).
 */
async function measureRestart(
  operator: OperatorProcess,
  startOperator: () => Promise<OperatorProcess>,
  kc: k8s.KubeConfig,
): Promise<void> {
  await operator.process.stop(15_000);
  const before = writeCounts(await apiserverMetrics(kc));
  const t0 = performance.now();
  const restarted = await startOperator();
  const pid = childRunning(restarted.process.pid, "cli/main.");
  const startedSeconds = (performance.now() - t0) / 1000;
  await settle(restarted, 3, 30_000);
  const settledSeconds = (performance.now() - t0) / 1000;
  const writes = difference(writeCounts(await apiserverMetrics(kc)), before);
  const reconciles = [
    ...counterByLabel(await operatorMetrics(restarted), "signet_reconcile_total", "result").values(),
  ].reduce((a, b) => a + b, 0);
  const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
  console.log(`\nRestart on ${count} converged identities (load average ${load()}):`);
  console.log(
    table([
      ["caches synced, controllers started", `${startedSeconds.toFixed(2)} s`],
      ["reconciles still", `${settledSeconds.toFixed(2)} s`, `${reconciles} reconciles`],
      ["API writes", String([...writes.values()].reduce((a, b) => a + b, 0)), [...writes.keys()].join(", ")],
      [
        "operator peak RSS (VmHWM)",
        mb(procStatusKb(pid, "VmHWM")),
        `at end ${mb(procStatusKb(pid, "VmRSS"))}`,
      ],
    ]),
  );
}

function table(rows: [string, string, string?][]): string {
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}${c ? `  ${c}` : ""}`).join("\n");
}

const stops: (() => Promise<void> | void)[] = [];
const stopAll = async () => {
  for (const stop of stops.splice(0).reverse()) {
    try {
      await stop();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

try {
  const loadAtStart = load();
  console.error(`starting the control plane (load ${loadAtStart})`);
  const cp = await startControlPlane();
  stops.push(() => cp.stop());
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  // Like any real client (kubectl, a GitOps controller), the benchmark keeps its connections alive.
  reuseConnections(kc);
  await installCrds(kc);
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  if (podCount > 0) {
    const t = performance.now();
    await createPods(kc.makeApiClient(k8s.CoreV1Api));
    console.error(`created ${podCount} opted-in pods in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }

  const nodeOptions = [
    values["node-options"],
    values["cpu-prof"] ? `--cpu-prof --cpu-prof-dir=${values["cpu-prof"]}` : "",
    values["heap-snapshot"]
      ? `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${resolve(values["heap-snapshot"])}`
      : "",
  ].filter(Boolean);
  const launcher = values["memory-limit"] ? memoryCgroup(Number(values["memory-limit"])) : undefined;
  let entry: string | undefined;
  if (!values["from-source"]) {
    build(join(repoRoot, "dist"));
    entry = join(repoRoot, "dist/operator/src/cli/main.js");
  }
  const startOperator = async (): Promise<OperatorProcess> => {
    if (nodeOptions.length > 0) process.env.NODE_OPTIONS = nodeOptions.join(" ");
    const started = await startOperatorProcess(
      cp.kubeconfigPath,
      [
        "--leader-elect=false",
        `--namespace=${NAMESPACE}`,
        `--watch-namespaces=${NAMESPACE}`,
        "--min-ttl=10s",
        ...(values.workers ? [`--workers=${values.workers}`] : []),
      ],
      "controller",
      { entry, launcher },
    );
    delete process.env.NODE_OPTIONS;
    // SIGTERM first so that a requested CPU profile is written on the way out.
    stops.push(() => started.process.stop(15_000));
    const deadline = Date.now() + 120_000;
    while (!started.log().includes("controllers started")) {
      if (Date.now() > deadline) throw new Error(`the operator did not start:\n${started.log()}`);
      await sleep(200);
    }
    return started;
  };
  const operator = await startOperator();
  // The webhook certificate keeper and the CA store write once at start; let them finish first.
  await sleep(2_000);
  const nodePid = childRunning(operator.process.pid, "cli/main.");
  const [etcdGuard, apiserverGuard] = cp.pids;
  const measured = {
    operator: nodePid,
    "kube-apiserver": childRunning(apiserverGuard ?? 0, "kube-apiserver"),
    etcd: childRunning(etcdGuard ?? 0, "etcd"),
  };
  const cpuOf = (): Record<string, number> => ({
    ...Object.fromEntries(Object.entries(measured).map(([name, pid]) => [name, cpuSeconds(pid)])),
    "benchmark (creates, watches)": process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
  });
  const rssBaselineKb = procStatusKb(nodePid, "VmRSS");

  const progress: Progress = { ready: new Set(), secrets: new Set(), done: new Set(), lastDoneAt: 0 };
  const stopWatch = await watchConvergence(kc, cp.kubeconfigPath, progress);
  stops.push(stopWatch);
  const before = writeCounts(await apiserverMetrics(kc));
  const cpuBefore = cpuOf();

  console.error(`creating ${count} MachineIdentities with concurrency ${concurrency}`);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const t0 = performance.now();
  const throttled = await createAll(objects);
  const createdAt = performance.now();
  console.error(`  ${((createdAt - t0) / 1000).toFixed(1)} s: all ${count} created`);
  let lastReport = 0;
  while (progress.done.size < count && performance.now() - t0 < timeoutMs) {
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      console.error(
        `  ${((lastReport - t0) / 1000).toFixed(0)} s: ${progress.done.size}/${count} Ready (load ${load()})`,
      );
    }
    await sleep(50);
  }
  const converged = progress.done.size === count;
  const convergeSeconds = ((converged ? progress.lastDoneAt : performance.now()) - t0) / 1000;
  const loadAtEnd = load();
  const cpuAtConvergence = cpuOf();
  const settleSeconds = await settle(operator, 3, 30_000);
  const after = writeCounts(await apiserverMetrics(kc));
  const operatorText = await operatorMetrics(operator);
  const hwmKb = procStatusKb(nodePid, "VmHWM");
  const rssEndKb = procStatusKb(nodePid, "VmRSS");
  const snapshot = values["heap-snapshot"]
    ? await heapSnapshot(nodePid, resolve(values["heap-snapshot"]))
    : "";

  const delta = difference(after, before);
  const ownCreates = count + throttled;
  const ownKey = "machineidentities POST 201";
  delta.set(ownKey, (delta.get(ownKey) ?? 0) - count);
  const throttledKey = "machineidentities POST 429";
  delta.set(throttledKey, (delta.get(throttledKey) ?? 0) - throttled);
  const writes = [...delta.values()].reduce((a, b) => a + b, 0);
  const reconciles = counterByLabel(
    operatorText,
    "signet_reconcile_total",
    "result",
    'controller="machineidentity"',
  );
  const reconcileTotal = [...reconciles.values()].reduce((a, b) => a + b, 0);
  const issued = [...counterByLabel(operatorText, "signet_svids_issued_total", "namespace").values()].reduce(
    (a, b) => a + b,
    0,
  );

  const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
  const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
  const targetSeconds = (TARGET_SECONDS_PER_1000 * count) / 1000;
  const node = execFileSync(process.execPath, ["--version"], { encoding: "utf8" }).trim();
  console.log(
    `\nSignet convergence: ${count} MachineIdentities (ECDSA P-256, ttl 1h), one namespace, ${podCount} opted-in pods present`,
  );
  console.log(`machine: ${cpus().length} cores, ${cpuModel()}, Node ${node}`);
  console.log(
    `operator: controller, ${values["memory-limit"] ? `in a ${values["memory-limit"]} MiB memory cgroup, ` : ""}${values["from-source"] ? "from the TypeScript sources" : "built JavaScript (as the image runs it)"}, ${values.workers ?? "default"} workers, NODE_OPTIONS ${JSON.stringify(nodeOptions.join(" "))}`,
  );
  console.log(
    `date: ${new Date().toISOString()}; load average at start ${loadAtStart}, at convergence ${loadAtEnd}\n`,
  );
  console.log(
    table([
      [
        "creates accepted",
        `${((createdAt - t0) / 1000).toFixed(2)} s`,
        `${(count / ((createdAt - t0) / 1000)).toFixed(0)}/s, ${throttled} throttled (429) and retried`,
      ],
      [
        converged ? "all Ready with Secret" : "NOT converged",
        `${convergeSeconds.toFixed(2)} s`,
        `${progress.done.size}/${count} Ready; target ${targetSeconds} s: ${verdict(converged && convergeSeconds <= targetSeconds)}`,
      ],
      ["throughput", `${(progress.done.size / convergeSeconds).toFixed(0)}/s`, "identities Ready per second"],
      [
        "API writes per identity",
        (writes / count).toFixed(2),
        `${writes} writes; target <= ${TARGET_WRITES}: ${verdict(writes / count <= TARGET_WRITES)}`,
      ],
      [
        "reconciles per identity",
        (reconcileTotal / count).toFixed(2),
        [...reconciles].map(([r, n]) => `${r} ${n}`).join(", "),
      ],
      ["SVIDs issued", String(issued), ""],
      [
        "operator peak RSS (VmHWM)",
        mb(hwmKb),
        `target <= ${TARGET_RSS_MB} MB: ${verdict(hwmKb / 1024 <= TARGET_RSS_MB)}; idle before ${mb(rssBaselineKb)}, at end ${mb(rssEndKb)}`,
      ],
      [
        "operator V8 heap at end",
        mb(gauge(operatorText, "signet_process_nodejs_heap_size_used_bytes") / 1024),
        `used, of ${mb(gauge(operatorText, "signet_process_nodejs_heap_size_total_bytes") / 1024)} allocated; external ${mb(gauge(operatorText, "signet_process_nodejs_external_memory_bytes") / 1024)}`,
      ],
    ]),
  );
  console.log(
    `\nCPU seconds from the first create until all were Ready (${convergeSeconds.toFixed(1)} s of wall time on ${cpus().length} cores):`,
  );
  console.log(
    table(
      Object.entries(cpuAtConvergence).map(([name, seconds]) => {
        const used = seconds - (cpuBefore[name] ?? 0);
        return [name, `${used.toFixed(1)} s`, `${((100 * used) / convergeSeconds).toFixed(0)}% of one core`];
      }),
    ),
  );
  console.log(
    `\nAPI writes during convergence (apiserver_request_total, minus this run's ${ownCreates} creates; settled ${settleSeconds.toFixed(0)} s after):`,
  );
  console.log(
    table(
      [...delta]
        .filter(([, n]) => n > 0)
        .sort()
        .map(([key, n]) => [key, String(n), `${(n / count).toFixed(2)} per identity`]),
    ),
  );
  if (snapshot) console.log(`\nheap snapshot of the operator: ${snapshot}`);
  if (values.restart) await measureRestart(operator, startOperator, kc);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await stopAll();
}
