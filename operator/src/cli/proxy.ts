import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { AccessPolicySchema } from "../api/access-policy.ts";
import { AccessScheduleSchema } from "../api/access-schedule.ts";
import { fieldPathOf, formatProblems } from "../api/fields.ts";
import { statusCodeOf } from "../kube/errors.ts";
import type { AccessScheduleObjectInput } from "../policy/http.ts";
import type { AccessPolicyInput } from "../policy/networkpolicies.ts";
import {
  identityOfSpiffeId,
  loadIdentity,
  ProxyMetrics,
  parseUpstream,
  startMetricsServer,
  startProxy,
  stdoutAudit,
  trustDomainOf,
} from "../proxy/index.ts";
import { createLogger } from "../telemetry/logger.ts";

export const PROXY_USAGE = `usage: signet proxy --listen PORT --upstream http://127.0.0.1:PORT [flags]

A verifying reverse proxy in front of a workload, as a sidecar in its pod: mutual TLS 1.3 with the
pod's SVID, a Signet proof on every request, the AccessPolicies of the pod's namespace, and then
the request on loopback with X-Signet-Caller. Audit lines on stdout, logs on stderr.

flags:
      --listen PORT          the port callers reach (TLS)
      --upstream URL         the workload: http://127.0.0.1:<port>
      --identity-dir DIR     tls.crt, tls.key and ca.crt (default /var/run/secrets/signet.dev/identity)
      --metrics-port PORT    /metrics in the Prometheus format (default 9090; 0 picks a free port)
      --policies-file FILE   AccessPolicies (and AccessSchedules) from a YAML file instead of the API
      --log-level LEVEL      debug, info (default), warn or error
`;

export class ProxyUsageError extends Error {
  override name = "ProxyUsageError";
}

const DEFAULT_IDENTITY_DIR = "/var/run/secrets/signet.dev/identity";

function portOf(flag: string, value: string | undefined, allowZero = false): number {
  const port = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || port > 65535 || (port === 0 && !allowZero)) {
    throw new ProxyUsageError(
      `--${flag} must be a port number between ${allowZero ? 0 : 1} and 65535, got ${JSON.stringify(value ?? "")}`,
    );
  }
  return port;
}

interface PolicySources {
  policies: () => readonly AccessPolicyInput[];
  schedules: () => readonly AccessScheduleObjectInput[];
  stop: () => void;
}

/** The AccessPolicies and AccessSchedules of a YAML file, checked against the same schemas as the API. */
export async function policiesFromFile(path: string, namespace: string): Promise<PolicySources> {
  const { parseAllDocuments } = await import("yaml");
  const policies: AccessPolicyInput[] = [];
  const schedules: AccessScheduleObjectInput[] = [];
  const documents = parseAllDocuments(readFileSync(path, "utf8"));
  for (const [index, document] of (Array.isArray(documents) ? documents : [documents]).entries()) {
    const object = document.toJS() as { kind?: string; items?: unknown[] } | null;
    if (object === null) continue;
    const items = object.kind?.endsWith("List") ? (object.items ?? []) : [object];
    for (const item of items as { kind?: string; metadata?: { namespace?: string } }[]) {
      const schema =
        item.kind === "AccessPolicy"
          ? AccessPolicySchema
          : item.kind === "AccessSchedule"
            ? AccessScheduleSchema
            : undefined;
      if (schema === undefined) {
        throw new ProxyUsageError(
          `${path}, document ${index + 1}: kind ${JSON.stringify(item.kind)}; only AccessPolicy and AccessSchedule belong here`,
        );
      }
      const parsed = schema.safeParse(item);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((issue) => ({
          field: fieldPathOf(issue.path),
          message: issue.message,
        }));
        throw new ProxyUsageError(`${path}, document ${index + 1}: ${formatProblems(problems)}`);
      }
      const value = parsed.data as { metadata: { name: string; namespace?: string } };
      const metadata = { name: value.metadata.name, namespace: value.metadata.namespace ?? namespace };
      if (item.kind === "AccessPolicy") policies.push({ ...(parsed.data as AccessPolicyInput), metadata });
      else schedules.push({ ...(parsed.data as AccessScheduleObjectInput), metadata });
    }
  }
  return { policies: () => policies, schedules: () => schedules, stop: () => {} };
}

/**
 * What the proxy logs when the API server refuses it a list or watch of `plural`: it does not serve
 * until both lists succeed, and the fix (a Role) is the namespace admin's. Undefined for any other
 * failure, which the informer retries quietly.
 */
export function listRefusal(plural: string, namespace: string, err: unknown): string | undefined {
  const code = statusCodeOf(err);
  if (code !== 401 && code !== 403) return undefined;
  return (
    `the API server refused this pod's ServiceAccount the list of ${plural}.signet.dev in namespace ` +
    `"${namespace}" (HTTP ${code}), so signet proxy does not serve: grant the ServiceAccount a Role with ` +
    `list and watch on accesspolicies and accessschedules of API group signet.dev in "${namespace}" ` +
    "(docs/proofs.md, section 16, RBAC), or run the proxy with --policies-file"
  );
}

/** The AccessPolicies and AccessSchedules of `namespace`, followed by watches (list/watch RBAC there). */
async function policiesFromApi(
  namespace: string,
  log: ReturnType<typeof createLogger>,
): Promise<PolicySources> {
  const [
    { KubeClient },
    { loadConnection },
    { informerFor, logWatchErrors },
    { ACCESS_POLICIES, ACCESS_SCHEDULES },
  ] = await Promise.all([
    import("../kube/client.ts"),
    import("../kube/kubeconfig.ts"),
    import("../runtime/informers.ts"),
    import("../kube/resources.ts"),
  ]);
  const kube = new KubeClient(loadConnection());
  const ref = (rt: { group: string; version: string; plural: string }) => ({
    group: rt.group,
    version: rt.version,
    plural: rt.plural,
  });
  const policyInformer = informerFor<import("../api/access-policy.ts").AccessPolicy>(
    kube,
    ref(ACCESS_POLICIES),
    [namespace],
  );
  const scheduleInformer = informerFor<import("../api/access-schedule.ts").AccessSchedule>(
    kube,
    ref(ACCESS_SCHEDULES),
    [namespace],
  );
  for (const [plural, informer] of [
    ["accesspolicies", policyInformer],
    ["accessschedules", scheduleInformer],
  ] as const) {
    logWatchErrors(log, plural, informer);
    informer.onError((err) => {
      const refusal = listRefusal(plural, namespace, err);
      if (refusal !== undefined) log.error({ resource: plural, namespace }, refusal);
    });
  }
  // Serving before the first list would refuse every caller: wait for both caches.
  await Promise.all([policyInformer.start(), scheduleInformer.start()]);
  const named = <T extends { metadata?: { name?: string; namespace?: string } }>(o: T) =>
    ({
      ...o,
      metadata: { name: o.metadata?.name ?? "", namespace: o.metadata?.namespace ?? namespace },
    }) as T & {
      metadata: { name: string; namespace: string };
    };
  return {
    policies: () => policyInformer.list(namespace).map(named) as unknown as AccessPolicyInput[],
    schedules: () => scheduleInformer.list(namespace).map(named) as unknown as AccessScheduleObjectInput[],
    stop: () => {
      policyInformer.stop();
      scheduleInformer.stop();
    },
  };
}

/** `signet proxy`: runs until SIGTERM or SIGINT. */
export async function runProxy(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: "string" },
      upstream: { type: "string" },
      "identity-dir": { type: "string", default: DEFAULT_IDENTITY_DIR },
      "metrics-port": { type: "string", default: "9090" },
      "policies-file": { type: "string" },
      "log-level": { type: "string", default: "info" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(PROXY_USAGE);
    return;
  }
  const listenPort = portOf("listen", values.listen);
  const metricsPort = portOf("metrics-port", values["metrics-port"], true);
  if (values.upstream === undefined)
    throw new ProxyUsageError("--upstream is required, e.g. http://127.0.0.1:8080");
  try {
    parseUpstream(values.upstream);
  } catch (err) {
    throw new ProxyUsageError(`--upstream: ${(err as Error).message}`);
  }
  const dir = values["identity-dir"];
  const files = {
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
    caFile: join(dir, "ca.crt"),
  };
  const log = createLogger({
    level: values["log-level"],
    component: "signet-proxy",
    destination: pino.destination(2),
  });

  // The policies that matter are those of the proxy's own identity, in its namespace.
  const own = loadIdentity(files).spiffeId;
  const target = identityOfSpiffeId(own, trustDomainOf(own) ?? "");
  if (target === undefined) {
    throw new ProxyUsageError(
      `${files.certFile} names ${own}, not spiffe://<trust domain>/ns/<namespace>/id/<name>: no AccessPolicy can name it`,
    );
  }
  const sources = values["policies-file"]
    ? await policiesFromFile(values["policies-file"], target.namespace)
    : await policiesFromApi(target.namespace, log);
  const metrics = new ProxyMetrics({ defaultMetrics: true });
  const proxy = await startProxy({
    ...files,
    listenPort,
    upstream: values.upstream,
    policies: sources.policies,
    schedules: sources.schedules,
    metrics,
    audit: stdoutAudit,
    log,
  });
  const endpoint = await startMetricsServer(metrics.registry, metricsPort);
  log.info(
    {
      port: proxy.port,
      metricsPort: endpoint.port,
      spiffeId: proxy.spiffeId,
      upstream: values.upstream,
      policies: values["policies-file"] ?? `API, namespace ${target.namespace}`,
    },
    "signet proxy started",
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    sources.stop();
    Promise.all([proxy.stop(), endpoint.stop()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}
