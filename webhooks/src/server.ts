import { createPrivateKey, X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { decidePodAdmission, optsIn, requestedIdentityName } from "./decide.ts";
import { IDENTITY_ANNOTATION, type IdentityLookup, type MachineIdentityLike } from "./identity.ts";
import { admissionMetrics } from "./metrics.ts";
import { podSchema } from "./pod.ts";
import {
  type AdmissionRequest,
  type AdmissionReviewResponse,
  admissionReviewSchema,
  describeInvalidReview,
  reviewResponse,
} from "./review.ts";

export const MUTATE_PODS_PATH = "/mutate-pods";

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
  /** True once the identity cache has synced; until then, opted-in pods are refused and /readyz fails. */
  identitiesSynced: () => boolean;
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
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(certPem);
    } catch {
      throw new Error("serving certificate is not a PEM X.509 certificate");
    }
    let matches = false;
    try {
      matches = leaf.checkPrivateKey(createPrivateKey(keyPem));
    } catch {
      throw new Error("serving key is not a PEM private key");
    }
    if (!matches) throw new Error(`serving key does not belong to certificate ${leaf.subject}`);
    const context = { ...TLS_OPTIONS, cert: certPem, key: keyPem };
    createSecureContext(context);
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

  const admit = (review: AdmissionRequest): ReturnType<typeof reviewResponse> & { outcome: string } => {
    const uid = review.uid;
    const refuse = (code: 400 | 500 | 503, message: string) =>
      Object.assign(reviewResponse(uid, { code, message }), { outcome: "refused" });
    if (review.kind.group !== "" || review.kind.version !== "v1" || review.kind.kind !== "Pod") {
      const k = review.kind;
      return refuse(
        400,
        `this webhook admits core/v1 Pods only, not ${k.group || "core"}/${k.version} ${k.kind}; check its rules`,
      );
    }
    // Only CREATE is decided; see decidePodAdmission. Other operations may carry no object at all.
    if (review.operation !== "CREATE") {
      return Object.assign(reviewResponse(uid, { allowed: true, patch: [], warnings: [] }), {
        outcome: "allowed",
      });
    }
    if (!review.namespace) return refuse(400, "the review names no namespace; a Pod is always namespaced");
    const parsed = podSchema.safeParse(review.object);
    if (!parsed.success)
      return refuse(400, describeInvalidReview(parsed.error, "Pod in request.object", "object"));
    const pod = parsed.data;
    const name = requestedIdentityName(pod);
    let identity: MachineIdentityLike | undefined;
    if (name !== undefined) {
      // Deny by default: while the cache is incomplete, "not found" could be wrong.
      if (!options.identitiesSynced()) {
        return refuse(503, "Signet has not finished reading MachineIdentities yet; retry in a few seconds");
      }
      identity = options.lookupIdentity(review.namespace, name);
    }
    const decision = decidePodAdmission(
      { operation: review.operation, namespace: review.namespace, pod },
      identity,
      { trustDomain: options.trustDomain },
    );
    const fields = {
      uid,
      namespace: review.namespace,
      pod: pod.metadata?.name || pod.metadata?.generateName || "",
      identity: pod.metadata?.annotations?.[IDENTITY_ANNOTATION],
      dryRun: review.dryRun === true,
    };
    if (decision.allowed) {
      if (optsIn(pod)) log.debug({ ...fields, patchOperations: decision.patch.length }, "identity injected");
      return Object.assign(reviewResponse(uid, decision), { outcome: "allowed" });
    }
    metrics?.denials.inc({ reason: decision.reason });
    log.info({ ...fields, reason: decision.reason, message: decision.message }, "pod denied an identity");
    return Object.assign(reviewResponse(uid, decision), { outcome: "denied" });
  };

  const handleMutate = async (req: IncomingMessage, res: ServerResponse, started: bigint): Promise<void> => {
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
    const operation = review.data.request.operation;
    let answer: AdmissionReviewResponse & { outcome: string };
    try {
      answer = admit(review.data.request);
    } catch (err) {
      log.error({ err, uid: review.data.request.uid }, "admission failed");
      answer = Object.assign(
        reviewResponse(review.data.request.uid, { code: 500, message: "internal error in Signet's webhook" }),
        { outcome: "refused" },
      );
    }
    const { outcome, ...reply } = answer;
    sendJson(res, 200, reply);
    metrics?.requests.inc({ operation, result: outcome });
    metrics?.duration.observe({ operation }, Number(process.hrtime.bigint() - started) / 1e9);
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
      if (path !== MUTATE_PODS_PATH) throw new HttpError(404, "not found");
      if (req.method !== "POST") throw new HttpError(405, "use POST");
      await handleMutate(req, res, started);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log.error({ err }, "webhook request failed");
      else
        log.warn(
          { status, reason: (err as Error).message, remote: req.socket.remoteAddress },
          "bad webhook request",
        );
      if (path === MUTATE_PODS_PATH) metrics?.requests.inc({ operation: "unknown", result: "invalid" });
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

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // A review in flight gets a moment to finish; a client that holds a connection open does not.
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  });
}
