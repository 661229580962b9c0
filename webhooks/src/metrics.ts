import { Counter, Histogram, type Registry } from "prom-client";

/** Admission metrics, registered on the registry the process exposes. */
export interface AdmissionMetrics {
  /** result: allowed | denied (a decision) | refused (not decidable: not synced, bad object) | invalid (4xx). */
  requests: Counter<"webhook" | "operation" | "result">;
  denials: Counter<"webhook" | "reason">;
  duration: Histogram<"webhook" | "operation">;
}

const byRegistry = new WeakMap<Registry, AdmissionMetrics>();

/**
 * The admission metrics of `registry`, registered there on the first call and the same ones on
 * every later call: the operator's registry holds them from its start (so that they are exported,
 * at zero, before the first review), and the webhook server it starts counts on them.
 */
export function admissionMetrics(registry: Registry): AdmissionMetrics {
  const known = byRegistry.get(registry);
  if (known !== undefined) return known;
  const metrics: AdmissionMetrics = {
    requests: new Counter({
      name: "signet_admission_requests_total",
      help: "Admission requests answered by Signet's webhooks, by webhook path, operation and result.",
      labelNames: ["webhook", "operation", "result"],
      registers: [registry],
    }),
    denials: new Counter({
      name: "signet_admission_denials_total",
      help: "Admission requests denied by a rule, by webhook path and reason.",
      labelNames: ["webhook", "reason"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "signet_admission_duration_seconds",
      help: "Time from the arrival of an admission request to its written response, by webhook path and operation.",
      labelNames: ["webhook", "operation"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
