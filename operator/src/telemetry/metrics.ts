import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { type AdmissionMetrics, admissionMetrics } from "../../../webhooks/src/metrics.ts";
import type { WorkInProgress, WorkQueueMetrics, WorkQueueMetricsProvider } from "../kube/queue.ts";
import { type ReadinessLike, readinessCounts } from "./readiness.ts";

/** Waits and reconciles in a controller's queue: from a millisecond to minutes when it is backed up. */
const QUEUE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Every metric Signet exports, on one registry per process (tests make their own). It is the
 * metrics provider of the work queues: `new WorkQueue({ name: "machineidentity", metrics })`.
 */
export class SignetMetrics implements WorkQueueMetricsProvider {
  readonly registry: Registry;
  readonly svidsIssued: Counter<"namespace">;
  readonly svidsRotated: Counter<"namespace">;
  readonly svidsRevoked: Counter<"namespace" | "reason">;
  readonly svidsFailed: Counter<"namespace" | "reason">;
  readonly podCertificates: Counter<"namespace" | "outcome" | "reason">;
  readonly jwtSvidsIssued: Counter<"namespace">;
  readonly jwtSvidsRefused: Counter<"reason">;
  readonly enrollments: Counter<"operation" | "outcome" | "reason" | "namespace">;
  readonly enrollmentAlarms: Counter<"namespace" | "reason">;
  readonly soonestExpirySeconds: Gauge;
  readonly leader: Gauge;
  readonly identities: Gauge<"namespace" | "ready" | "reason">;
  /** The webhooks' request, denial and latency metrics (webhooks/src/metrics.ts), on this registry. */
  readonly admission: AdmissionMetrics;
  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcileDuration: Histogram<"controller">;
  readonly activeWorkers: Gauge<"controller">;
  readonly tamperDetected: Counter<"kind">;
  readonly workqueueDepth: Gauge<"name">;
  readonly workqueueAdds: Counter<"name">;
  readonly workqueueQueueDuration: Histogram<"name">;
  readonly workqueueWorkDuration: Histogram<"name">;
  readonly workqueueRetries: Counter<"name">;
  readonly workqueueLongestRunning: Gauge<"name">;
  readonly workqueueUnfinishedWork: Gauge<"name">;
  readonly #queues = new Map<string, WorkQueueMetrics>();
  /** How to read each queue's work in progress, at scrape time; the latest queue of a name wins. */
  readonly #inProgress = new Map<string, () => WorkInProgress>();
  #soonestExpiry: (() => number | undefined) | undefined;
  #leading: () => boolean = () => false;
  #identities: () => Iterable<ReadinessLike> = () => [];

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: "signet_process_" });
    this.podCertificates = new Counter({
      name: "signet_pod_certificate_requests_total",
      help: "PodCertificateRequests answered by Signet's signer (signet.dev/svid), by outcome (Issued, Denied, Failed) and reason.",
      labelNames: ["namespace", "outcome", "reason"],
      registers,
    });
    this.enrollments = new Counter({
      name: "signet_enrollment_requests_total",
      help: "Requests of outside machines to the enrollment endpoint, by operation (enroll, renew, exchange), outcome (issued, refused) and reason.",
      labelNames: ["operation", "outcome", "reason", "namespace"],
      registers,
    });
    this.enrollmentAlarms = new Counter({
      name: "signet_enrollment_alarms_total",
      help: "Possible thefts: a used enrollment token presented again (TokenReplayed), or a renewed certificate renewing again (SupersededCertificate).",
      labelNames: ["namespace", "reason"],
      registers,
    });
    this.jwtSvidsIssued = new Counter({
      name: "signet_jwt_svids_issued_total",
      help: "JWT-SVIDs issued by the JWT endpoint, by the identity's namespace.",
      labelNames: ["namespace"],
      registers,
    });
    this.jwtSvidsRefused = new Counter({
      name: "signet_jwt_svids_refused_total",
      help: "JWT-SVID requests refused (no or untrusted client certificate, no identity, an audience not allowed, ...), by reason.",
      labelNames: ["reason"],
      registers,
    });
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
    const self = this;
    this.soonestExpirySeconds = new Gauge({
      name: "signet_svid_soonest_expiry_seconds",
      help: "Seconds until the soonest-expiring X.509-SVID managed by this operator expires; +Inf on a replica that does not lead, or when no identity holds one.",
      registers,
      collect() {
        this.set(self.#soonestExpiry?.() ?? Number.POSITIVE_INFINITY);
      },
    });
    this.leader = new Gauge({
      name: "signet_leader",
      help: "1 on the replica that holds the controllers' Lease and runs the leader-elected units, 0 on the others.",
      registers,
      collect() {
        this.set(self.#leading() ? 1 : 0);
      },
    });
    this.identities = new Gauge({
      name: "signet_machineidentities",
      help: "MachineIdentities in this replica's cache, by namespace and by the status (True, False, Unknown) and reason of their Ready condition.",
      labelNames: ["namespace", "ready", "reason"],
      registers,
      collect() {
        this.reset();
        for (const { namespace, ready, reason, count } of readinessCounts(self.#identities())) {
          this.set({ namespace, ready, reason }, count);
        }
      },
    });
    this.admission = admissionMetrics(this.registry);
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
    // At zero from the start, so that increase() and rate() see the first detection.
    this.tamperDetected.inc({ kind: "Secret" }, 0);
    this.workqueueDepth = new Gauge({
      name: "signet_workqueue_depth",
      help: "Keys waiting in a work queue, counting keys added again while being processed.",
      labelNames: ["name"],
      registers,
    });
    this.workqueueAdds = new Counter({
      name: "signet_workqueue_adds_total",
      help: "Keys added to a work queue that were not already waiting.",
      labelNames: ["name"],
      registers,
    });
    this.workqueueQueueDuration = new Histogram({
      name: "signet_workqueue_queue_duration_seconds",
      help: "Time a key waits in a work queue, from its add to the start of its processing.",
      labelNames: ["name"],
      buckets: QUEUE_BUCKETS,
      registers,
    });
    this.workqueueWorkDuration = new Histogram({
      name: "signet_workqueue_work_duration_seconds",
      help: "Time from handing a key out of a work queue to its being marked done.",
      labelNames: ["name"],
      buckets: QUEUE_BUCKETS,
      registers,
    });
    this.workqueueRetries = new Counter({
      name: "signet_workqueue_retries_total",
      help: "Keys added again to a work queue with backoff after a failure.",
      labelNames: ["name"],
      registers,
    });
    const inProgress = this.#inProgress;
    this.workqueueLongestRunning = new Gauge({
      name: "signet_workqueue_longest_running_processor_seconds",
      help: "How long the key processed longest so far in a work queue has been processed.",
      labelNames: ["name"],
      registers,
      collect() {
        for (const [name, read] of inProgress) this.set({ name }, read().longestMs / 1000);
      },
    });
    this.workqueueUnfinishedWork = new Gauge({
      name: "signet_workqueue_unfinished_work_seconds",
      help: "Processing time of the keys of a work queue not yet done; a stuck worker makes it grow.",
      labelNames: ["name"],
      registers,
      collect() {
        for (const [name, read] of inProgress) this.set({ name }, read().unfinishedMs / 1000);
      },
    });
  }

  /**
   * Where signet_svid_soonest_expiry_seconds is read at each scrape: the seconds until the soonest
   * SVID expires, or undefined when no identity holds one. The leader's MachineIdentity controller
   * sets it while it runs and clears it (undefined) when it stops; unset, the gauge is +Inf, so that
   * the minimum over all replicas is the leader's and an alert on a low value never fires elsewhere.
   */
  soonestExpiryFrom(read: (() => number | undefined) | undefined): void {
    this.#soonestExpiry = read;
  }

  /** Where signet_leader is read at each scrape: whether this replica leads now. */
  leadershipFrom(read: () => boolean): void {
    this.#leading = read;
  }

  /** Where signet_machineidentities is read at each scrape: the identities of the informer cache. */
  identitiesFrom(read: () => Iterable<ReadinessLike>): void {
    this.#identities = read;
  }

  /** The metrics sink of the work queue `name` (the same one for every call with that name). */
  workQueue(name: string): WorkQueueMetrics {
    const known = this.#queues.get(name);
    if (known !== undefined) return known;
    const labels = { name };
    const depth = this.workqueueDepth.labels(labels);
    const adds = this.workqueueAdds.labels(labels);
    const queueDuration = this.workqueueQueueDuration.labels(labels);
    const workDuration = this.workqueueWorkDuration.labels(labels);
    const retries = this.workqueueRetries.labels(labels);
    const sink: WorkQueueMetrics = {
      depth: (keys) => depth.set(keys),
      added: () => adds.inc(),
      started: (waitedMs) => queueDuration.observe(waitedMs / 1000),
      finished: (workedMs) => workDuration.observe(workedMs / 1000),
      retried: () => retries.inc(),
      inProgress: (read) => {
        this.#inProgress.set(name, read);
      },
    };
    // Every series of the queue exists from the start, at zero, so that rate() sees the first add.
    adds.inc(0);
    retries.inc(0);
    this.workqueueQueueDuration.zero(labels);
    this.workqueueWorkDuration.zero(labels);
    this.#queues.set(name, sink);
    return sink;
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
