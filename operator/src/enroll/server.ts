import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { type ClientCertServer, sendJson, startClientCertServer } from "../net/https-server.ts";
import { HttpError, type PeerSvid, peerSvid, readJson } from "../net/requests.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Refusal } from "./decide.ts";

export const SERVER_CA_PATH = "/v1/server-ca";
export const ENROLL_PATH = "/v1/enroll";
export const RENEW_PATH = "/v1/renew";
export const TOKEN_EXCHANGE_PATH = "/v1/token";
const MAX_BODY_BYTES = 32 * 1024;
const CSR_FIELD = z.string().min(1).max(16_384);

export const EnrollRequestSchema = z.strictObject({
  token: z.string().min(1).max(512),
  identity: z
    .string()
    .min(3)
    .max(320)
    .regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/),
  csr: CSR_FIELD,
});

export const RenewRequestSchema = z.strictObject({ csr: CSR_FIELD });

/** What a machine receives on enrollment or renewal. */
export interface Issued {
  ok: true;
  /** The leaf and its intermediates, PEM. */
  certificate: string;
  /** The workload trust bundle: the roots in-cluster peers chain to. */
  bundle: string;
  /** Signet's serving trust bundle, so the machine keeps trusting the endpoint across rotations. */
  serverCA: string;
  spiffeId: string;
  identity: string;
  enrollment: string;
  notAfter: Date;
  /** When the machine should renew: two thirds through the certificate's life, jittered. */
  renewAfter: Date;
}

export type Answer = Issued | Refusal;

export interface EnrollServerOptions {
  trustDomain: string;
  enroll: (request: z.output<typeof EnrollRequestSchema> & { address: string }) => Promise<Answer>;
  renew: (request: { peer: PeerSvid; csr: string; address: string }) => Promise<Answer>;
  /** POST /v1/token (RFC 8693 token exchange), when configured. */
  exchange?: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  /** Signet's serving trust bundle, at the moment of the request. */
  serverCa: () => string;
  logger: Logger;
  port: number;
  host?: string | undefined;
}

export type EnrollServer = ClientCertServer;

/**
 * The enrollment endpoint, for machines outside the cluster: POST /v1/enroll with a single-use
 * token and a CSR (no client certificate), POST /v1/renew with the current X.509-SVID as client
 * certificate and a CSR for a fresh key, POST /v1/token for a pipeline's OIDC token, and GET
 * /v1/server-ca, the serving bundle a machine checks against the pin it was given.
 */
export async function startEnrollServer(options: EnrollServerOptions): Promise<EnrollServer> {
  const log = options.logger;
  const answer = (res: ServerResponse, result: Answer): void => {
    res.setHeader("cache-control", "no-store");
    if (!result.ok) {
      sendJson(res, result.status, { error: result.message, reason: result.reason });
      return;
    }
    sendJson(res, 200, {
      certificate: result.certificate,
      bundle: result.bundle,
      serverCA: result.serverCA,
      spiffeId: result.spiffeId,
      identity: result.identity,
      enrollment: result.enrollment,
      notAfter: result.notAfter.toISOString(),
      renewAfter: result.renewAfter.toISOString(),
    });
  };

  const parse = async <T extends z.ZodType>(req: IncomingMessage, schema: T): Promise<z.output<T>> => {
    const parsed = schema.safeParse(await readJson(req, MAX_BODY_BYTES));
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "body";
    const message =
      issue?.code === "unrecognized_keys"
        ? `unknown field ${issue.keys.join(", ")}`
        : `${field}: ${issue?.message ?? "invalid"}`;
    throw new HttpError(400, "InvalidRequest", message);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    req.on("error", () => {});
    const path = (req.url ?? "").split("?")[0] ?? "";
    const address = req.socket.remoteAddress ?? "";
    const post = () => {
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        throw new HttpError(405, "MethodNotAllowed", "use POST");
      }
    };
    try {
      switch (path) {
        case SERVER_CA_PATH: {
          if (req.method !== "GET" && req.method !== "HEAD") {
            res.setHeader("allow", "GET, HEAD");
            throw new HttpError(405, "MethodNotAllowed", "use GET");
          }
          const pem = options.serverCa();
          res.writeHead(200, {
            "content-type": "application/x-pem-file",
            "content-length": Buffer.byteLength(pem),
          });
          res.end(pem);
          return;
        }
        case ENROLL_PATH: {
          post();
          const body = await parse(req, EnrollRequestSchema);
          answer(res, await options.enroll({ ...body, address }));
          return;
        }
        case RENEW_PATH: {
          post();
          const peer = peerSvid(req, options.trustDomain);
          const body = await parse(req, RenewRequestSchema);
          answer(res, await options.renew({ peer, csr: body.csr, address }));
          return;
        }
        case TOKEN_EXCHANGE_PATH:
          if (options.exchange) {
            post();
            await options.exchange(req, res);
            return;
          }
          throw new HttpError(404, "NotFound", "token exchange is not served here");
        default:
          throw new HttpError(404, "NotFound", "not found");
      }
    } catch (err) {
      const known = err instanceof HttpError;
      const status = known ? err.status : 500;
      if (status === 500) log.error({ err: (err as Error).message, path }, "enrollment request failed");
      else
        log.info({ status, reason: (err as HttpError).reason, path, address }, "enrollment request refused");
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, status, {
          error: status === 500 ? "internal error" : (err as Error).message,
          ...(known ? { reason: err.reason } : {}),
        });
      }
    }
  };
  const server = await startClientCertServer({
    name: "enrollment endpoint",
    port: options.port,
    host: options.host,
    logger: log,
    handle,
  });
  log.info({ port: server.port, host: options.host ?? "*" }, "enrollment endpoint listening");
  return server;
}
