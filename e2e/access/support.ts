import * as k8s from "@kubernetes/client-node";
import {
  ACCESS_POLICY_PLURAL,
  ACCESS_SCHEDULE_PLURAL,
  type AccessPolicy,
  type AccessPolicySpec,
  type AccessSchedule,
  type AccessScheduleSpec,
  API_VERSION,
  GROUP,
  VERSION,
} from "../../operator/src/api/index.ts";
import { kubeconfigPath } from "../support/cluster.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { sleep } from "../support/wait.ts";

export const SCHEDULES = { group: GROUP, version: VERSION, plural: ACCESS_SCHEDULE_PLURAL } as const;
export const POLICIES = { group: GROUP, version: VERSION, plural: ACCESS_POLICY_PLURAL } as const;
/** NetworkPolicies read as the server's plain JSON (`from`, not client-node's `_from`). */
export const NETWORK_POLICIES = {
  group: "networking.k8s.io",
  version: "v1",
  plural: "networkpolicies",
} as const;

/**
 * The operator as its own process (`signet controller`), as a Deployment runs it, watching just
 * `namespaces` so that it never touches what other test files' operators manage. A separate
 * process also keeps its API traffic and timers apart from the test's own client.
 */
export async function startTestOperator(
  kc: k8s.KubeConfig,
  operatorNamespace: string,
  namespaces: string[],
): Promise<OperatorProcess> {
  try {
    await kc.makeApiClient(k8s.CoreV1Api).createNamespace({
      body: { metadata: { name: operatorNamespace, labels: { "signet.dev/e2e": "true" } } },
    });
  } catch (err) {
    // A restarted operator finds its namespace, and the CA in it, from the first start.
    if ((err as { code?: number }).code !== 409) throw err;
  }
  return startOperatorProcess(
    kubeconfigPath(),
    [
      "--leader-elect=false",
      `--namespace=${operatorNamespace}`,
      "--min-ttl=10s",
      `--watch-namespaces=${namespaces.join(",")}`,
      `--log-level=${process.env.SIGNET_E2E_LOG_LEVEL ?? "warn"}`,
    ],
    "controller",
  );
}

export function schedule(namespace: string, name: string, spec: Partial<AccessScheduleSpec>) {
  return { apiVersion: API_VERSION, kind: "AccessSchedule", metadata: { name, namespace }, spec };
}

export function policy(namespace: string, name: string, spec: Partial<AccessPolicySpec>) {
  return { apiVersion: API_VERSION, kind: "AccessPolicy", metadata: { name, namespace }, spec };
}

export class Access {
  readonly objects: k8s.CustomObjectsApi;
  readonly networking: k8s.NetworkingV1Api;
  readonly core: k8s.CoreV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.objects = kc.makeApiClient(k8s.CustomObjectsApi);
    this.networking = kc.makeApiClient(k8s.NetworkingV1Api);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async createSchedule(namespace: string, name: string, spec: Partial<AccessScheduleSpec>): Promise<void> {
    await this.objects.createNamespacedCustomObject({
      ...SCHEDULES,
      namespace,
      body: schedule(namespace, name, spec),
    });
  }

  async createPolicy(namespace: string, name: string, spec: Partial<AccessPolicySpec>): Promise<void> {
    await this.objects.createNamespacedCustomObject({
      ...POLICIES,
      namespace,
      body: policy(namespace, name, spec),
    });
  }

  /** Sets spec.suspend with a JSON patch, the way `kubectl patch --type=json` would. */
  async setSuspend(kind: "schedule" | "policy", namespace: string, name: string, suspend: boolean) {
    await this.objects.patchNamespacedCustomObject({
      ...(kind === "schedule" ? SCHEDULES : POLICIES),
      namespace,
      name,
      body: [{ op: "replace", path: "/spec/suspend", value: suspend }],
    });
  }

  readSchedule(namespace: string, name: string): Promise<AccessSchedule> {
    return this.objects.getNamespacedCustomObject({
      ...SCHEDULES,
      namespace,
      name,
    }) as Promise<AccessSchedule>;
  }

  readPolicy(namespace: string, name: string): Promise<AccessPolicy> {
    return this.objects.getNamespacedCustomObject({ ...POLICIES, namespace, name }) as Promise<AccessPolicy>;
  }

  /** The NetworkPolicy as the server stores it, or undefined when there is none. */
  async networkPolicy(namespace: string, name: string): Promise<RawNetworkPolicy | undefined> {
    try {
      return (await this.objects.getNamespacedCustomObject({
        ...NETWORK_POLICIES,
        namespace,
        name,
      })) as RawNetworkPolicy;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  async networkPolicyNames(namespace: string): Promise<string[]> {
    const list = await this.networking.listNamespacedNetworkPolicy({ namespace });
    return list.items.map((np) => np.metadata?.name ?? "").sort();
  }

  async events(namespace: string, name: string): Promise<k8s.CoreV1Event[]> {
    const list = await this.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items;
  }
}

export interface RawNetworkPolicy {
  metadata: k8s.V1ObjectMeta;
  spec: Record<string, unknown>;
}

/**
 * Polls the API server every `intervalMs` until `present()` says `want`, and returns when that was
 * first seen. Polling adds at most one interval plus one request to a measured delay.
 */
export async function observe(
  probe: () => Promise<boolean>,
  want: boolean,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<number> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if ((await probe()) === want) return Date.now();
    if (Date.now() > deadline) throw new Error(`still ${!want} after ${options.timeoutMs ?? 30_000} ms`);
    await sleep(options.intervalMs ?? 50);
  }
}

/** An RFC 3339 instant on a whole second, `ms` from now rounded up. */
export function secondsFromNow(ms: number): Date {
  return new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
}
