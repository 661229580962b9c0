import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Every metric Signet exports, on one registry per process (tests make their own). */
export class SignetMetrics {
  readonly registry: Registry;
  readonly svidsIssued: Counter<"namespace">;
  readonly svidsRotated: Counter<"namespace">;
  readonly svidsRevoked: Counter<"namespace" | "reason">;
  readonly svidsFailed: Counter<"namespace" | "reason">;
  readonly soonestExpirySeconds: Gauge;
  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcileDuration: Histogram<"controller">;
  readonly activeWorkers: Gauge<"controller">;
  readonly tamperDetected: Counter<"kind">;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: "signet_process_" });
    this.svidsIssued = new Counter({
      name: "signet_svids_issued_total",
      help: "X.509-SVIDs issued for an identity that had none.",
      labelNames: ["namespace"],
      registers,
    });
    this.svidsRotated = new Counter({
      name: "signet_svids_rotated_total",
      help: "X.509-SVIDs replaced by a new one with a new key.",
      labelNames: ["namespace"],
      registers,
    });
    this.svidsRevoked = new Counter({
      name: "signet_svids_revoked_total",
      help: "Credentials removed because an identity was suspended or left its access window.",
      labelNames: ["namespace", "reason"],
      registers,
    });
    this.svidsFailed = new Counter({
      name: "signet_svids_failed_total",
      help: "Issuances that failed.",
      labelNames: ["namespace", "reason"],
      registers,
    });
    this.soonestExpirySeconds = new Gauge({
      name: "signet_svid_soonest_expiry_seconds",
      help: "Seconds until the soonest-expiring X.509-SVID managed by this operator expires.",
      registers,
    });
    this.reconcileTotal = new Counter({
      name: "signet_reconcile_total",
      help: "Reconciles by controller and result (success, error, requeue).",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "signet_reconcile_errors_total",
      help: "Reconciles that returned an error.",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "signet_reconcile_duration_seconds",
      help: "Time spent in one reconcile.",
      labelNames: ["controller"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.activeWorkers = new Gauge({
      name: "signet_reconcile_active_workers",
      help: "Reconciles in progress.",
      labelNames: ["controller"],
      registers,
    });
    this.tamperDetected = new Counter({
      name: "signet_tamper_detected_total",
      help: "Managed objects found changed or deleted by someone else and repaired.",
      labelNames: ["kind"],
      registers,
    });
  }

  /** Wraps a reconcile function so that signet_reconcile_active_workers counts the calls in flight. */
  tracked<K, R>(controller: string, reconcile: (key: K) => Promise<R>): (key: K) => Promise<R> {
    return async (key) => {
      this.activeWorkers.inc({ controller });
      try {
        return await reconcile(key);
      } finally {
        this.activeWorkers.dec({ controller });
      }
    };
  }

  /** Record one reconcile outcome (matches the work queue's onResult hook). */
  observeReconcile(controller: string, outcome: "success" | "error" | "requeue", durationMs: number): void {
    this.reconcileTotal.inc({ controller, result: outcome });
    if (outcome === "error") this.reconcileErrors.inc({ controller });
    this.reconcileDuration.observe({ controller }, durationMs / 1000);
  }
}
