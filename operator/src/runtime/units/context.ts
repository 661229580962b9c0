import { isDeepStrictEqual } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import type { PodCertificateSupport } from "../../../../webhooks/src/decide.ts";
import type {
  AccessPolicy,
  AccessSchedule,
  Enrollment,
  IssuancePolicy,
  MachineIdentity,
  TrustedIssuer,
} from "../../api/index.ts";
import type { ClaimIndex } from "../../issuance/claim-index.ts";
import type { KubeClient } from "../../kube/client.ts";
import { clampedTimeout, systemClock, type TimerSource } from "../../kube/clock.ts";
import type { PartialObjectMetadata } from "../../kube/resources.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { SignetMetrics } from "../../telemetry/metrics.ts";
import type { OperatorConfig, TrustBundleMode } from "../config.ts";
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
  /** The JWT-SVID signing keys' Secret, in the operator's namespace. */
  jwtSigningSecret: MultiInformer<k8s.V1Secret>;
  /** The JWT endpoint's serving certificate and client trust bundle, in the operator's namespace. */
  jwtTlsSecret: MultiInformer<k8s.V1Secret>;
  /** Only NetworkPolicies labelled app.kubernetes.io/managed-by=signet. */
  networkPolicies: MultiInformer<k8s.V1NetworkPolicy>;
  /** Enrollments: single-use tokens, and the certificates of the machines that used them. */
  enrollments: MultiInformer<Enrollment>;
  /** The cluster admin's trusted OIDC issuers, for token exchange. */
  trustedIssuers: MultiInformer<TrustedIssuer>;
  /** The enrollment endpoint's serving certificate and client trust bundle, in the operator's namespace. */
  enrollmentTlsSecret: MultiInformer<k8s.V1Secret>;
  /**
   * The workload CA's Secret (the generated one, or the user's), on a replica that runs the
   * controllers only: the enrollment endpoint mints with it on every such replica.
   */
  caSecret?: MultiInformer<k8s.V1Secret> | undefined;
}

/** What every unit is built from. */
export interface OperatorContext {
  /**
   * For leader-elected units: fenced, so that no write leaves this replica unless it holds a fresh
   * Lease (KubeClient.fenced). Always-on units write nothing.
   */
  kube: KubeClient;
  /**
   * Not fenced, for the always-on units whose writes are compare-and-swap at the API server (an
   * enrollment token's consumption, guarded by resourceVersion): whichever replica writes first
   * wins, every other one is refused with a conflict, so exactly one write lands.
   */
  endpointKube: KubeClient;
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
  /** Whether pod certificates are served, and where their ca.crt comes from. */
  podCertificates: PodCertificateCapability;
}

/**
 * What API discovery last said of pod certificates (podCertificateDiscoveryUnit sets it), with
 * --trust-bundle applied: "ConfigMap" delivers the roots by ConfigMap wherever pod certificates are
 * served, "ClusterTrustBundle" refuses them where the API server serves no ClusterTrustBundles.
 * Unsupported until discovery has answered, so that nothing is guessed at.
 */
export class PodCertificateCapability {
  readonly #mode: TrustBundleMode;
  #discovered: PodCertificateSupport = {
    supported: false,
    missing:
      "Signet has not yet read the API server's discovery of certificates.k8s.io; retry in a few seconds",
  };
  readonly #listeners = new Set<() => void>();

  constructor(mode: TrustBundleMode = "auto") {
    this.#mode = mode;
  }

  current(): PodCertificateSupport {
    const discovered = this.#discovered;
    if (!discovered.supported || this.#mode === "auto" || this.#mode === discovered.trustBundle)
      return discovered;
    if (this.#mode === "ConfigMap") return { supported: true, trustBundle: "ConfigMap" };
    return {
      supported: false,
      missing:
        "the API server serves no certificates.k8s.io ClusterTrustBundles, which --trust-bundle=ClusterTrustBundle " +
        "requires: enable the ClusterTrustBundle feature gate and the certificates.k8s.io/v1beta1 API, or let " +
        "Signet deliver ca.crt by ConfigMap (--trust-bundle=auto)",
    };
  }

  /** Takes discovery's answer; tells the listeners when what current() says changed. */
  set(discovered: PodCertificateSupport): void {
    const before = this.current();
    this.#discovered = discovered;
    if (isDeepStrictEqual(before, this.current())) return;
    for (const listener of this.#listeners) listener();
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
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
