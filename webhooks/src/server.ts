import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { closeServer, sendJson, servingContext } from "../../operator/src/net/https-server.ts";
import type { PodCertificateSupport } from "./decide.ts";
import { type AdmissionHandler, mutatePods, validatePods, validateWorkloads } from "./handlers.ts";
import type { IdentityList, IdentityLookup } from "./identity.ts";
import { admissionMetrics } from "./metrics.ts";
import {
  type AdmissionAnswer,
  type AdmissionRequest,
  admissionReviewSchema,
  describeInvalidReview,
  reviewResponse,
} from "./review.ts";

export const MUTATE_PODS_PATH = "/mutate-pods";
export const VALIDATE_PODS_PATH = "/validate-pods";
export const VALIDATE_WORKLOADS_PATH = "/validate-workloads";

/**
 * The largest request body accepted, 3 MiB. etcd stores at most ~1.5 MiB per object, and a CREATE
 * review carries the object once (an UPDATE twice, plus framing), so a legitimate review fits with
 * room; anything larger is refused with 413 before it is buffered.
 */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface WebhookServerOptions {
  /** Trust domain of default SPIFFE IDs. */
  trustDomain: string;
  /** Reads a MachineIdentity from the informer cache. */
  lookupIdentity: IdentityLookup;
  /**
   * Lists a namespace's MachineIdentities from the informer cache. Given, the server also serves
   * VALIDATE_PODS_PATH and VALIDATE_WORKLOADS_PATH, which need to know every identity Secret name.
   */
  listIdentities?: IdentityList;
  /**
   * True once the identity cache has synced; until then, pods that need an identity decision are
   * refused (503) and /readyz fails.
   */
  identitiesSynced: () => boolean;
  /**
   * Whether the cluster serves pod certificates (the kubelet's podCertificate volume), asked at each
   * decision. Absent, pods of identities with delivery PodCertificate are refused.
   */
  podCertificates?: () => PodCertificateSupport;
  /** The image of the signet-proxy sidecar pods ask for with signet.dev/proxy; absent, they are denied. */
  proxyImage?: string;
  /**
   * More admission paths served by the same server, e.g. { "/validate-machineidentities": handler };
   * a path already served (the built-in ones included) is an error at start.
   */
  handlers?: Record<string, AdmissionHandler>;
  logger: Logger;
  /** Registers the admission metrics here when given. */
  registry?: Registry;
  /** Listening port; 0 picks a free one (see WebhookServer.port). */
  port: number;
  /** Listening address; by default every interface. */
  host?: string;
  /** Served from the start when given; otherwise TLS handshakes fail until setServingCertificate. */
  servingCertificate?: { certPem: string; keyPem: string };
  maxBodyBytes?: number;
  /** A client must send its headers within this time (default 10 s) ... */
  headersTimeoutMs?: number;
  /** ... and its whole request within this time (default 15 s); the API server waits at most 30 s. */
  requestTimeoutMs?: number;
}

export interface WebhookServer {
  readonly port: number;
  /**
   * Serves this certificate chain and key from the next handshake on; connections already open keep
   * theirs. Throws, leaving the previous certificate in place, when the pair is unusable.
   */
  setServingCertificate(certPem: string, keyPem: string): void;
  /** Stops accepting connections and resolves once open ones are closed. */
  close(): Promise<void>;
}

const TLS_OPTIONS: SecureContextOptions = { minVersion: "TLSv1.2" };

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Starts the HTTPS admission server and resolves once it listens. */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const log = options.logger;
  const metrics = options.registry ? admissionMetrics(options.registry) : undefined;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let certificateLoaded = false;

  const server = createServer({
    ...TLS_OPTIONS,
    headersTimeout: options.headersTimeoutMs ?? 10_000,
    requestTimeout: options.requestTimeoutMs ?? 15_000,
    // The API server keeps connections open between reviews (a handshake costs more than the
    // decision) and drops them after 90 s idle. Closing first would race with a review sent on the
    // closing connection, and a failed call is a refused pod under failurePolicy Fail.
    keepAliveTimeout: 120_000,
    connectionsCheckingInterval: Math.min(options.headersTimeoutMs ?? 10_000, 1_000),
  });

  const setServingCertificate = (certPem: string, keyPem: string): void => {
    const { context, leaf } = servingContext(certPem, keyPem, TLS_OPTIONS);
    server.setSecureContext(context);
    certificateLoaded = true;
    log.info(
      { subject: leaf.subject, serial: leaf.serialNumber, notAfter: leaf.validTo },
      "serving certificate loaded",
    );
  };
  if (options.servingCertificate) {
    setServingCertificate(options.servingCertificate.certPem, options.servingCertificate.keyPem);
  }

  const routes = new Map<string, AdmissionHandler>([
    [
      MUTATE_PODS_PATH,
      mutatePods({
        trustDomain: options.trustDomain,
        lookupIdentity: options.lookupIdentity,
        identitiesSynced: options.identitiesSynced,
        ...(options.podCertificates ? { podCertificates: options.podCertificates } : {}),
        ...(options.proxyImage ? { proxyImage: options.proxyImage } : {}),
        logger: log,
      }),
    ],
  ]);
  if (options.listIdentities) {
    const references = { listIdentities: options.listIdentities, identitiesSynced: options.identitiesSynced };
    routes.set(VALIDATE_PODS_PATH, validatePods(references));
    routes.set(VALIDATE_WORKLOADS_PATH, validateWorkloads(references));
  }
  for (const [path, handler] of Object.entries(options.handlers ?? {})) {
    if (!path.startsWith("/") || routes.has(path)) {
      throw new Error(`admission path ${path} is already served or does not start with "/"`);
    }
    routes.set(path, handler);
  }

  const answer = (path: string, handler: AdmissionHandler, request: AdmissionRequest): AdmissionAnswer => {
    try {
      return handler(request);
    } catch (err) {
      log.error({ err, webhook: path, uid: request.uid }, "admission failed");
      return { code: 500, message: "internal error in Signet's webhook" };
    }
  };

  const handleReview = async (
    path: string,
    handler: AdmissionHandler,
    req: IncomingMessage,
    res: ServerResponse,
    started: bigint,
  ): Promise<void> => {
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (contentType !== "application/json") throw new HttpError(415, "content type must be application/json");
    const declared = Number(req.headers["content-length"] ?? Number.NaN);
    if (declared > maxBodyBytes) throw new HttpError(413, `body exceeds ${maxBodyBytes} bytes`);
    const body = await readBody(req, maxBodyBytes);
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      throw new HttpError(400, "body is not valid JSON");
    }
    const review = admissionReviewSchema.safeParse(json);
    if (!review.success) throw new HttpError(400, describeInvalidReview(review.error));
    const request = review.data.request;
    const outcome = answer(path, handler, request);
    sendJson(res, 200, reviewResponse(request.uid, outcome));
    const result = "code" in outcome ? "refused" : outcome.allowed ? "allowed" : "denied";
    const webhook = path.slice(1);
    if (!("code" in outcome) && !outcome.allowed) {
      metrics?.denials.inc({ webhook, reason: outcome.reason });
      log.info(
        {
          webhook,
          uid: request.uid,
          kind: request.kind.kind,
          namespace: request.namespace,
          name: request.name || objectName(request.object),
          operation: request.operation,
          dryRun: request.dryRun === true,
          reason: outcome.reason,
          message: outcome.message,
        },
        "admission denied",
      );
    }
    metrics?.requests.inc({ webhook, operation: request.operation, result });
    metrics?.duration.observe(
      { webhook, operation: request.operation },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    // A client that goes away mid-body makes the request emit an error; the answer to it is simply
    // not sent, and it must not become an uncaught exception.
    req.on("error", () => {});
    const path = (req.url ?? "").split("?")[0];
    try {
      if (path === "/healthz" || path === "/readyz") {
        if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "use GET");
        const ready = path === "/healthz" || (certificateLoaded && options.identitiesSynced());
        res
          .writeHead(ready ? 200 : 503, { "content-type": "text/plain" })
          .end(ready ? "ok\n" : "not ready\n");
        return;
      }
      const handler = routes.get(path ?? "");
      if (!handler) throw new HttpError(404, "not found");
      if (req.method !== "POST") throw new HttpError(405, "use POST");
      await handleReview(path ?? "", handler, req, res, started);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log.error({ err }, "webhook request failed");
      else
        log.warn(
          { status, reason: (err as Error).message, remote: req.socket.remoteAddress },
          "bad webhook request",
        );
      if (path && routes.has(path)) {
        metrics?.requests.inc({ webhook: path.slice(1), operation: "unknown", result: "invalid" });
      }
      if (status === 413) discardRest(req, 2 * maxBodyBytes);
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, status, { error: status === 500 ? "internal error" : (err as Error).message });
      }
    }
  };

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res);
  });
  server.on("tlsClientError", (err: Error) => log.debug({ err: err.message }, "TLS handshake failed"));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log.error({ err }, "webhook server error"));
  const port = (server.address() as AddressInfo).port;
  log.info({ port, host: options.host ?? "*" }, "webhook server listening");

  return {
    port,
    setServingCertificate,
    close: () => closeServer(server),
  };
}

/** The name of the object under review for logs: a Pod being created often has only generateName. */
function objectName(object: unknown): string {
  const metadata = (object as { metadata?: { name?: unknown; generateName?: unknown } } | null)?.metadata;
  const name = metadata?.name || metadata?.generateName;
  return typeof name === "string" ? name : "";
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      req.off("data", onData).off("end", onEnd).off("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        stop();
        reject(new HttpError(413, `body exceeds ${limit} bytes`));
      } else chunks.push(chunk);
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onClose = (): void => {
      stop();
      reject(new HttpError(400, "body ended before it was complete"));
    };
    req.on("data", onData).on("end", onEnd).on("close", onClose);
  });
}

/**
 * Reads and drops the rest of an oversized body, so that the client, still writing, reads its 413
 * instead of a reset; a client that sends more than `budget` bytes in all is cut off.
 */
function discardRest(req: IncomingMessage, budget: number): void {
  let discarded = 0;
  req.on("data", (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > budget) req.socket.destroy();
  });
  req.resume();
}
