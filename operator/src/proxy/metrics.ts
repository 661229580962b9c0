import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Registry } from "prom-client";
import { PROOF_REASONS } from "../proof/reasons.ts";

/** The proxy's metrics, on a registry of its own (tests make their own). */
export class ProxyMetrics {
  readonly registry: Registry;
  readonly proofs: Counter<"outcome" | "reason">;
  readonly upstreamErrors: Counter;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: "signet_process_" });
    this.proofs = new Counter({
      name: "signet_proofs_total",
      help: "Requests to signet proxy by outcome (accepted: forwarded upstream; refused) and reason (Allowed, a ProofReason or an AuthorizationReason).",
      labelNames: ["outcome", "reason"],
      registers,
    });
    // Every proof refusal at zero from the start, so that increase() and rate() see the first one
    // (an alert on a replayed proof would otherwise miss it).
    for (const reason of PROOF_REASONS) this.proofs.inc({ outcome: "refused", reason }, 0);
    this.upstreamErrors = new Counter({
      name: "signet_proxy_upstream_errors_total",
      help: "Accepted requests that the upstream did not answer (connection refused or reset).",
      registers,
    });
  }
}

/** GET /metrics in the Prometheus text format; everything else 404. */
export async function startMetricsServer(
  registry: Registry,
  port: number,
  host = "0.0.0.0",
): Promise<{ server: Server; port: number; stop: () => Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
