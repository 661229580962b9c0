import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { startControlPlane } from "../../e2e/harness/controlplane.ts";
import { reuseConnections } from "../../e2e/support/connections.ts";
import { installCrds } from "../../e2e/support/crds.ts";
import { type OperatorProcess, scrapeMetrics, startOperatorProcess } from "../../e2e/support/operator.ts";
import {
  ACCESS_POLICY_PLURAL,
  ACCESS_SCHEDULE_PLURAL,
  API_VERSION,
  GROUP,
  VERSION,
} from "../../operator/src/api/index.ts";
import { KubeClient } from "../../operator/src/kube/client.ts";
import { loadConnection } from "../../operator/src/kube/kubeconfig.ts";
import { informerFor } from "../../operator/src/runtime/informers.ts";

/**
 * Window boundaries at scale on a real control plane. N namespaces x M targets, one AccessPolicy
 * per target, each with its own AccessSchedule holding a one-off grant; every grant opens at the
 * same instant and closes at the same later instant. The operator runs as its own process
 * (`signet controller`, no leader election). This process watches the allow NetworkPolicies and
 * records when each one appears after the opening and disappears after the closing; between the
 * two, with nothing to do, the operator's CPU is read from its own /metrics (process.cpuUsage()).
 *
 *   npm run bench:schedule -- --namespaces 10 --targets 100
 */

const { values } = parseArgs({
  options: {
    namespaces: { type: "string", default: "10" },
    targets: { type: "string", default: "100" },
    /** Seconds from the end of setup (everything created and settled) to the opening boundary. */
    lead: { type: "string", default: "15" },
    /** Seconds of idle CPU measurement between the boundaries. */
    idle: { type: "string", default: "20" },
    concurrency: { type: "string", default: "32" },
  },
});
const namespaceCount = Number(values.namespaces);
const targetCount = Number(values.targets);
const leadMs = Number(values.lead) * 1000;
const idleMs = Number(values.idle) * 1000;
const concurrency = Number(values.concurrency);
const total = namespaceCount * targetCount;
for (const [flag, n] of Object.entries({ namespaces: namespaceCount, targets: targetCount, concurrency })) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer`);
}

const SCHEDULES = { group: GROUP, version: VERSION, plural: ACCESS_SCHEDULE_PLURAL } as const;
const POLICIES = { group: GROUP, version: VERSION, plural: ACCESS_POLICY_PLURAL } as const;
/** Far enough ahead that setup always finishes first; the real instants are set afterwards. */
const PLACEHOLDER = { start: "2099-01-01T00:00:00Z", end: "2099-01-01T01:00:00Z", reason: "bench" };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: limit }, lane));
}

async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 10) throw err;
      await sleep(100 * 2 ** Math.min(attempt, 5));
    }
  }
}

/** The sum of a metric's samples over all label sets in Prometheus text. */
function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const next = line[name.length];
    if (line.startsWith(name) && (next === " " || next === "{")) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

/** Waits until the operator's reconcile counter has not moved for `quietMs`. */
async function settle(op: OperatorProcess, quietMs: number, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const count = metric(await scrapeMetrics(op.metricsPort), "signet_reconcile_total");
    if (count !== last) {
      last = count;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    if (Date.now() > deadline) throw new Error("the operator did not settle");
    await sleep(200);
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function summary(what: string, delays: number[]): string {
  const sorted = [...delays].sort((a, b) => a - b);
  return `${what}: ${sorted.length}/${total} seen, p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms`;
}

function cpuModel(): string {
  const line = readFileSync("/proc/cpuinfo", "utf8")
    .split("\n")
    .find((l) => l.startsWith("model name"));
  return line?.split(":")[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
}

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length} cores, ${cpuModel()}, Node ${process.version}`);
  const cp = await startControlPlane();
  let op: OperatorProcess | undefined;
  let stopWatch: (() => void) | undefined;
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    reuseConnections(kc);
    await installCrds(kc);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const objects = kc.makeApiClient(k8s.CustomObjectsApi);
    const namespaces = Array.from({ length: namespaceCount }, (_, i) => `bench-access-${i}`);
    for (const name of [...namespaces, "signet-bench"])
      await core.createNamespace({ body: { metadata: { name } } });

    const operator = await startOperatorProcess(
      cp.kubeconfigPath,
      [
        "--leader-elect=false",
        "--namespace=signet-bench",
        `--watch-namespaces=${namespaces.join(",")}`,
        "--log-level=warn",
      ],
      "controller",
    );
    op = operator;
    await retrying(() => scrapeMetrics(operator.metricsPort));

    // Arrival times of allow NetworkPolicies (only allows carry signet.dev/policy) as this
    // process's watch sees them: the figures include the API server's watch fan-out. The informer
    // resumes its watch after the client's inactivity timeout, which a bare Watch would not.
    const added = new Map<string, number>();
    const deleted = new Map<string, number>();
    const allows = informerFor<k8s.V1NetworkPolicy>(
      new KubeClient(loadConnection({ env: { KUBECONFIG: cp.kubeconfigPath } })),
      { group: "networking.k8s.io", version: "v1", plural: "networkpolicies" },
      [],
      { labelSelector: "signet.dev/policy" },
    );
    const keyOf = (np: k8s.V1NetworkPolicy) => `${np.metadata?.namespace}/${np.metadata?.name}`;
    allows.on("add", (np) => {
      if (!added.has(keyOf(np))) added.set(keyOf(np), Date.now());
    });
    allows.on("delete", (np) => {
      if (!deleted.has(keyOf(np))) deleted.set(keyOf(np), Date.now());
    });
    await allows.start();
    stopWatch = () => allows.stop();

    const pairs = namespaces.flatMap((namespace) =>
      Array.from({ length: targetCount }, (_, i) => ({
        namespace,
        name: `svc-${String(i).padStart(3, "0")}`,
      })),
    );
    const setupStart = Date.now();
    await pool(pairs, concurrency, ({ namespace, name }) =>
      retrying(() =>
        objects.createNamespacedCustomObject({
          ...SCHEDULES,
          namespace,
          body: {
            apiVersion: API_VERSION,
            kind: "AccessSchedule",
            metadata: { name, namespace },
            spec: { grants: [PLACEHOLDER] },
          },
        }),
      ).then(() => undefined),
    );
    await pool(pairs, concurrency, ({ namespace, name }) =>
      retrying(() =>
        objects.createNamespacedCustomObject({
          ...POLICIES,
          namespace,
          body: {
            apiVersion: API_VERSION,
            kind: "AccessPolicy",
            metadata: { name, namespace },
            spec: {
              target: { identity: name, ports: [{ port: 8443, protocol: "TCP" }] },
              allowFrom: [{ identity: `${name}-client` }],
              scheduleRef: { name },
            },
          },
        }),
      ).then(() => undefined),
    );
    await settle(operator, 2_000);
    const created = Date.now() - setupStart;
    console.log(`created ${total} schedules and ${total} policies; operator settled after ${created} ms`);

    // Rewriting every grant to the same instants takes a while (each rewrite also rewrites two
    // statuses), so the opening is placed after an estimate of that time plus the lead, and the
    // margin actually left is printed.
    const patchStart = Date.now();
    const opening = new Date(Math.ceil((patchStart + created * 1.25 + leadMs) / 1000) * 1000);
    const closing = new Date(opening.getTime() + idleMs + 30_000);
    const grant = { start: opening.toISOString(), end: closing.toISOString(), reason: "bench" };
    await pool(pairs, concurrency, ({ namespace, name }) =>
      retrying(() =>
        objects.patchNamespacedCustomObject({
          ...SCHEDULES,
          namespace,
          name,
          body: [{ op: "replace", path: "/spec/grants", value: [grant] }],
        }),
      ).then(() => undefined),
    );
    await settle(operator, 2_000);
    const ready = Date.now();
    console.log(`grants set to ${grant.start} .. ${grant.end}; settled after ${ready - patchStart} ms`);
    console.log(`setup finished ${((opening.getTime() - ready) / 1000).toFixed(1)} s before the opening`);
    if (added.size > 0) throw new Error(`${added.size} allow NetworkPolicies existed before the opening`);
    if (ready >= opening.getTime()) throw new Error("setup overran the opening; raise --lead");

    await sleep(opening.getTime() - Date.now());
    const openDeadline = opening.getTime() + 60_000;
    while (added.size < total && Date.now() < openDeadline) await sleep(20);
    console.log(
      summary(
        "allow created after the opening",
        [...added.values()].map((t) => t - opening.getTime()),
      ),
    );

    await settle(operator, 2_000);
    const idleFrom = Date.now();
    const before = await scrapeMetrics(operator.metricsPort);
    const wall0 = performance.now();
    await sleep(Math.min(idleMs, closing.getTime() - Date.now() - 2_000));
    const after = await scrapeMetrics(operator.metricsPort);
    const seconds = (performance.now() - wall0) / 1000;
    const cpu = (text: string) => metric(text, "signet_process_process_cpu_seconds_total");
    const used = cpu(after) - cpu(before);
    const reconciles = metric(after, "signet_reconcile_total") - metric(before, "signet_reconcile_total");
    const rss = metric(after, "signet_process_process_resident_memory_bytes") / 2 ** 20;
    console.log(
      `idle from ${((idleFrom - opening.getTime()) / 1000).toFixed(1)} s after the opening for ${seconds.toFixed(1)} s: ` +
        `operator CPU ${((used / seconds) * 100).toFixed(2)} % of one core (${(used * 1000).toFixed(0)} ms), ` +
        `${reconciles} reconciles, RSS ${rss.toFixed(0)} MiB`,
    );

    await sleep(Math.max(0, closing.getTime() - Date.now()));
    const closeDeadline = closing.getTime() + 60_000;
    while (deleted.size < total && Date.now() < closeDeadline) await sleep(20);
    console.log(
      summary(
        "allow deleted after the closing",
        [...deleted.values()].map((t) => t - closing.getTime()),
      ),
    );
    console.log(
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );
  } finally {
    stopWatch?.();
    await op?.stop();
    await cp.stop();
  }
}

await main();
