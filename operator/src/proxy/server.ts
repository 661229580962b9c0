import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import {
  type AccessScheduleObjectInput,
  AuthorizationReason,
  httpDecision,
  type IdentityRef,
} from "../policy/http.ts";
import type { AccessPolicyInput } from "../policy/networkpolicies.ts";
import { spiffeIdOf } from "../proof/format.ts";
import { channelBindingOf, createVerifier, normaliseHtu, PROOF_HEADER, ProofReason } from "../proof/index.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import type { AuditLine, AuditSink } from "./audit.ts";
import { identityOfSpiffeId, trustDomainOf } from "./caller.ts";
import { CALLER_HEADER, endToEndHeaders, parseUpstream } from "./forward.ts";
import { IdentityError, type IdentityFiles, type ServingIdentity, watchIdentity } from "./identity.ts";
import { ProxyMetrics } from "./metrics.ts";
import { ProxyReason } from "./reasons.ts";

export { ProxyReason };

export interface ProxyOptions extends IdentityFiles {
  listenPort: number;
  /** Default all interfaces: the proxy is what callers reach. */
  listenHost?: string;
  /** http://127.0.0.1:<port>: the workload, on the pod's loopback. */
  upstream: string;
  /** The AccessPolicies of the proxy's namespace, read at every request (an informer's cache). */
  policies: () => readonly AccessPolicyInput[];
  /** The AccessSchedules they may name; without them a scheduled policy is inactive. */
  schedules?: () => readonly AccessScheduleObjectInput[];
  /** ms since the epoch; the clock of proofs, schedules and audit lines. Default Date.now. */
  now?: () => number;
  metrics?: ProxyMetrics;
  audit?: AuditSink;
  log?: Logger;
  skewSeconds?: number;
  maxEntries?: number;
  /** How often the identity files are checked for a change. Default 1 s. */
  reloadIntervalMs?: number;
}

export interface RunningProxy {
  port: number;
  /** The proxy's SPIFFE ID: the audience of the proofs it accepts. */
  spiffeId: string;
  metrics: ProxyMetrics;
  /** The serial of the certificate it currently presents. */
  serial(): string;
  stop(): Promise<void>;
}

/** The status code a refused proof gets: 503 when the cache is full (retry later), else 401. */
export function proofRefusalStatus(reason: ProofReason): number {
  return reason === ProofReason.ReplayCacheFull ? 503 : 401;
}

const MAX_AUDIT_PATH = 2_048;

function bearerTokenOf(authorization: string | undefined): string | undefined {
  const match = /^Bearer ([!-~]+)$/i.exec(authorization ?? "");
  return match?.[1];
}

function sendRefusal(
  res: ServerResponse,
  status: number,
  reason: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  const body = JSON.stringify({ reason, message });
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...extra,
  });
  res.end(body);
}

/**
 * A verifying reverse proxy in front of one workload (docs/proofs.md, "Verifying proxy"): mutual TLS
 * 1.3 with the pod's SVID, a Signet proof per request, the AccessPolicies of the pod's namespace,
 * and only then the request, on loopback, with the caller's SPIFFE ID in X-Signet-Caller.
 */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const now = options.now ?? Date.now;
  const metrics = options.metrics ?? new ProxyMetrics();
  const audit = options.audit ?? (() => {});
  const log = options.log ?? createLogger({ level: "silent" });
  const schedules = options.schedules ?? (() => []);
  const upstream = parseUpstream(options.upstream);

  let server: Server | undefined;
  const watch = watchIdentity(
    options,
    (next: ServingIdentity) => {
      server?.setSecureContext(next.tls);
      log.info({ serial: next.serial, notAfter: next.notAfter }, "reloaded the identity");
    },
    (message) => log.warn(message),
    options.reloadIntervalMs,
  );
  const identity = watch.current();
  const spiffeId = identity.spiffeId;
  const trustDomain = trustDomainOf(spiffeId) as string;
  const target = identityOfSpiffeId(spiffeId, trustDomain);
  if (target === undefined) {
    watch.stop();
    throw new IdentityError(
      `${options.certFile} names ${spiffeId}, not spiffe://<trust domain>/ns/<namespace>/id/<name>: no AccessPolicy can name it as a target`,
    );
  }
  const verifier = createVerifier({
    audience: spiffeId,
    now,
    ...(options.skewSeconds !== undefined ? { skewSeconds: options.skewSeconds } : {}),
    ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? "").toUpperCase();
    const rawPath = req.url ?? "";
    const queryAt = rawPath.search(/[?#]/);
    const line: AuditLine = {
      time: "",
      caller: null,
      peer: null,
      target: spiffeId,
      method,
      path: (queryAt === -1 ? rawPath : rawPath.slice(0, queryAt)).slice(0, MAX_AUDIT_PATH),
      outcome: "refused",
      reason: "",
      policy: null,
      status: 0,
    };
    const finish = (status: number, reason: string, outcome: AuditLine["outcome"] = "refused") => {
      line.time = new Date(now()).toISOString();
      line.status = status;
      line.reason = reason;
      line.outcome = outcome;
      audit(line);
    };
    const refuse = (status: number, reason: string, message: string, extra?: Record<string, string>) => {
      metrics.proofs.inc({ outcome: "refused", reason });
      sendRefusal(res, status, reason, message, extra);
      finish(status, reason);
    };

    const socket = req.socket as TLSSocket;
    const peerCertificate = socket.getPeerX509Certificate();
    if (peerCertificate === undefined) {
      refuse(401, ProofReason.ProofBindingMismatch, "the connection presented no client certificate");
      return;
    }
    line.peer = spiffeIdOf(peerCertificate) ?? null;
    const url = `https://${req.headers.host ?? ""}${rawPath}`;
    const verdict = await verifier.verify({
      proof: req.headersDistinct[PROOF_HEADER.toLowerCase()],
      method,
      url,
      peerCertificate,
      channelBinding: channelBindingOf(socket),
      token: bearerTokenOf(req.headers.authorization),
    });
    if (!verdict.ok) {
      const status = proofRefusalStatus(verdict.reason);
      // RFC 9110 section 15.5.2: a 401 names the scheme that would do.
      const challenge = { "www-authenticate": `Signet-Proof error="${verdict.reason}"` };
      refuse(status, verdict.reason, verdict.message, status === 401 ? challenge : {});
      return;
    }
    line.caller = verdict.subject;
    const source: IdentityRef | undefined = identityOfSpiffeId(verdict.subject, trustDomain);
    if (source === undefined) {
      refuse(
        403,
        AuthorizationReason.CallerNotAnIdentity,
        `the caller ${verdict.subject} is not spiffe://${trustDomain}/ns/<namespace>/id/<name>: no AccessPolicy can name it`,
      );
      return;
    }
    // The proof was accepted for this URL, so it has a normal form.
    const htu = normaliseHtu(url) as { htu: string };
    const path = new URL(htu.htu).pathname;
    const decision = httpDecision(
      options.policies(),
      { source, target, method, path, now: new Date(now()) },
      schedules(),
    );
    if (decision.policy !== undefined) line.policy = decision.policy;
    if (!decision.allowed) {
      refuse(403, decision.reason, decision.message);
      return;
    }
    metrics.proofs.inc({ outcome: "accepted", reason: decision.reason });
    forward(req, res, verdict.subject, (status, reason) => finish(status, reason, "accepted"));
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    caller: string,
    done: (status: number, reason: string) => void,
  ) => {
    const headers = endToEndHeaders(req.headers, [PROOF_HEADER.toLowerCase(), CALLER_HEADER]);
    headers[CALLER_HEADER] = caller;
    const outgoing = httpRequest({
      host: upstream.host,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers,
    });
    outgoing.on("response", (incoming) => {
      const status = incoming.statusCode ?? 502;
      res.writeHead(status, endToEndHeaders(incoming.headers));
      incoming.pipe(res);
      incoming.on("error", () => res.destroy());
      done(status, AuthorizationReason.Allowed);
    });
    outgoing.on("error", (err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      metrics.upstreamErrors.inc();
      log.warn({ err: (err as NodeJS.ErrnoException).code ?? err.message }, "upstream unavailable");
      sendRefusal(res, 502, ProxyReason.UpstreamUnavailable, "the workload behind the proxy did not answer");
      done(502, ProxyReason.UpstreamUnavailable);
    });
    // A caller that goes away takes its upstream request with it.
    res.on("close", () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    req.on("error", () => outgoing.destroy());
    req.pipe(outgoing);
  };

  const https = createServer({ ...identity.tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, "request failed");
      if (!res.headersSent) {
        sendRefusal(
          res,
          500,
          ProxyReason.InternalError,
          "the proxy failed on this request; nothing was forwarded",
        );
      } else {
        res.destroy();
      }
    });
  });
  server = https;
  https.on("clientError", (_err, socket) => {
    if (socket.writable)
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  https.on("tlsClientError", (err) =>
    log.debug({ err: (err as NodeJS.ErrnoException).code ?? err.message }, "TLS handshake failed"),
  );
  await new Promise<void>((resolve, reject) => {
    https.once("error", reject);
    https.listen(options.listenPort, options.listenHost ?? "0.0.0.0", () => {
      https.off("error", reject);
      resolve();
    });
  });
  https.on("error", (err) => log.error({ err: err.message }, "proxy server error"));

  return {
    port: (https.address() as AddressInfo).port,
    spiffeId,
    metrics,
    serial: () => watch.current().serial,
    stop: () => {
      watch.stop();
      return new Promise((resolve) => {
        https.close(() => resolve());
        https.closeAllConnections();
      });
    },
  };
}
