import type * as k8s from "@kubernetes/client-node";
import type { AccessPolicy, AccessSchedule, IssuancePolicy, MachineIdentity } from "../../api/index.ts";
import type { ClaimIndex } from "../../issuance/claim-index.ts";
import type { KubeClient } from "../../kube/client.ts";
import { clampedTimeout, systemClock, type TimerSource } from "../../kube/clock.ts";
import type { PartialObjectMetadata } from "../../kube/resources.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { SignetMetrics } from "../../telemetry/metrics.ts";
import type { OperatorConfig } from "../config.ts";
import type { MultiInformer } from "../informers.ts";

/** The operator's caches: started once per process, shared by every unit, never stopped by one. */
export interface Caches {
  identities: MultiInformer<MachineIdentity>;
  schedules: MultiInformer<AccessSchedule>;
  policies: MultiInformer<AccessPolicy>;
  issuancePolicies: MultiInformer<IssuancePolicy>;
  namespaces: MultiInformer<k8s.V1Namespace>;
  /**
   * Only Secrets labelled app.kubernetes.io/managed-by=signet; metadata only (no data) on a replica
   * that runs no controllers.
   */
  secrets: MultiInformer<k8s.V1Secret>;
  /** Only Pods carrying the identity label, as metadata (PartialObjectMetadata). */
  pods: MultiInformer<PartialObjectMetadata>;
  /** The webhook's serving Secret, in the operator's namespace. */
  webhookSecret: MultiInformer<k8s.V1Secret>;
  /** Only NetworkPolicies labelled app.kubernetes.io/managed-by=signet. */
  networkPolicies: MultiInformer<k8s.V1NetworkPolicy>;
}

/** What every unit is built from. */
export interface OperatorContext {
  /**
   * For leader-elected units: fenced, so that no write leaves this replica unless it holds a fresh
   * Lease (KubeClient.fenced). Always-on units write nothing.
   */
  kube: KubeClient;
  config: OperatorConfig;
  log: Logger;
  metrics: SignetMetrics;
  now: () => Date;
  caches: Caches;
  claimIndex: ClaimIndex;
  /** What each namespace may claim, read from the caches at the moment of each decision. */
  claimRules: {
    trustDomain: string;
    clusterDomain: string;
    policies: () => readonly IssuancePolicy[];
    namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  };
  /** Names of Signet's own Secrets in its namespace, which no MachineIdentity may use. */
  reservedSecrets: { namespace: string; names: string[] };
  /** ownerReferences of what the operator creates in its namespace (its Deployment), if any. */
  owners(signal: AbortSignal): Promise<k8s.V1OwnerReference[] | undefined>;
}

/** Waits `ms` on `timers` (the clock seam), or less if `signal` aborts; then rejects with the abort reason. */
export function pause(ms: number, signal: AbortSignal, timers: TimerSource = systemClock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = clampedTimeout(
      timers,
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      ms,
    );
    const onAbort = () => {
      timer.cancel();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Calls `fn` until it succeeds, backing off from 0.5 s to 30 s with jitter; gives up when `signal` aborts. */
export async function retryUntil<T>(
  fn: () => Promise<T>,
  signal: AbortSignal,
  log: Logger,
  what: string,
  options: { timers?: TimerSource; random?: () => number } = {},
): Promise<T> {
  const random = options.random ?? Math.random;
  for (let delay = 500; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted) throw err;
      log.error({ err: (err as Error).message }, `${what} not ready; retrying`);
      await pause(delay / 2 + random() * (delay / 2), signal, options.timers);
    }
  }
}
