import type { IncomingMessage, ServerResponse } from "node:http";
import type { JWK } from "jose";
import { z } from "zod";
import { isDuration, parseDuration } from "../api/duration.ts";
import { type ClientCertServer, sendJson, startClientCertServer } from "../net/https-server.ts";
import { HttpError, peerSvid, readJson } from "../net/requests.ts";
import type { Logger } from "../telemetry/logger.ts";

export const JWT_SVID_PATH = "/v1/jwt-svid";
export const DISCOVERY_PATH = "/.well-known/openid-configuration";
export const JWKS_PATH = "/keys";
/** The data key of the JWT endpoint's Secret holding the workload trust bundle callers are verified with. */
export const CLIENT_CA_DATA_KEY = "client-ca.crt";
const MAX_BODY_BYTES = 16 * 1024;
/** Refusals that are this replica's state, not the caller's: 503, retry. */
const UNAVAILABLE_REASONS = new Set(["NoSigningKey", "NotReady"]);

/** The body of POST /v1/jwt-svid. */
export const JwtSvidRequestSchema = z.strictObject({
  audience: z.union([
    z.string().min(1).max(256).regex(/^\S+$/),
    z.array(z.string().min(1).max(256).regex(/^\S+$/)).min(1).max(16),
  ]),
  ttl: z
    .string()
    .refine((t) => isDuration(t) && parseDuration(t) >= 1000, "a duration of at least 1s, e.g. 2m")
    .optional(),
});

/** What the endpoint asks the operator for a verified caller. */
export interface IssueRequest {
  spiffeId: string;
  audiences: string[];
  ttlMs: number | undefined;
}

export type IssueAnswer =
  | { refused: false; token: string; expiresAt: Date; identity: string; kid: string }
  | { refused: true; reason: string; message: string };

export interface JwtServerOptions {
  issuer: string;
  /** The caller's SVID must be of this trust domain. */
  trustDomain: string;
  issue: (request: IssueRequest) => Promise<IssueAnswer>;
  /** Every published key, at the moment of the request. */
  jwks: () => { keys: JWK[] };
  /** Called with the outcome of every POST, for metrics. */
  onOutcome?: (outcome: { issued: true; identity: string } | { issued: false; reason: string }) => void;
  /** Cache-Control max-age of the JWKS and discovery: well below the time a next key is published ahead. */
  cacheMaxAgeSeconds: number;
  logger: Logger;
  port: number;
  host?: string | undefined;
}

export type JwtServer = ClientCertServer;

/**
 * The JWT-SVID endpoint: POST /v1/jwt-svid for a caller that authenticates with its X.509-SVID
 * (mutual TLS, verified against the workload trust bundle), and, open to anyone, the OIDC discovery
 * document and the JWKS that a cloud IAM, Vault or any OIDC verifier reads. A client certificate is
 * asked for on every connection but required only where a token is issued, so that the discovery
 * paths work for a verifier that has none.
 */
export async function startJwtServer(options: JwtServerOptions): Promise<JwtServer> {
  const log = options.logger;
  const discovery = {
    issuer: options.issuer,
    jwks_uri: `${options.issuer}${JWKS_PATH}`,
    id_token_signing_alg_values_supported: ["ES256"],
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
  };
  const cacheControl = `public, max-age=${Math.max(0, Math.floor(options.cacheMaxAgeSeconds))}`;

  /** The SPIFFE ID of the verified client certificate, or an HttpError 401. */
  const callerOf = (req: IncomingMessage): string => peerSvid(req, options.trustDomain).spiffeId;

  const issue = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const spiffeId = callerOf(req);
    const json = await readJson(req, MAX_BODY_BYTES);
    const parsed = JwtSvidRequestSchema.safeParse(json);
    if (!parsed.success) throw new HttpError(400, "InvalidRequest", describeInvalid(parsed.error));
    const { audience, ttl } = parsed.data;
    const audiences = typeof audience === "string" ? [audience] : [...new Set(audience)];
    const answer = await options.issue({ spiffeId, audiences, ttlMs: ttl ? parseDuration(ttl) : undefined });
    if (answer.refused) {
      options.onOutcome?.({ issued: false, reason: answer.reason });
      log.info({ spiffeId, audiences, reason: answer.reason, message: answer.message }, "JWT-SVID refused");
      const status = UNAVAILABLE_REASONS.has(answer.reason) ? 503 : 403;
      sendJson(res, status, { error: answer.message, reason: answer.reason });
      return;
    }
    options.onOutcome?.({ issued: true, identity: answer.identity });
    log.info(
      {
        spiffeId,
        identity: answer.identity,
        audiences,
        kid: answer.kid,
        expiresAt: answer.expiresAt.toISOString(),
      },
      "JWT-SVID issued",
    );
    res.setHeader("cache-control", "no-store");
    sendJson(res, 200, { token: answer.token, expiresAt: answer.expiresAt.toISOString() });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    req.on("error", () => {});
    const path = (req.url ?? "").split("?")[0] ?? "";
    try {
      if (path === DISCOVERY_PATH || path === JWKS_PATH) {
        if (req.method !== "GET" && req.method !== "HEAD")
          throw new HttpError(405, "MethodNotAllowed", "use GET");
        res.setHeader("cache-control", cacheControl);
        sendJson(res, 200, path === DISCOVERY_PATH ? discovery : options.jwks());
        return;
      }
      if (path === JWT_SVID_PATH) {
        if (req.method !== "POST") throw new HttpError(405, "MethodNotAllowed", "use POST");
        await issue(req, res);
        return;
      }
      throw new HttpError(404, "NotFound", "not found");
    } catch (err) {
      const known = err instanceof HttpError;
      const status = known ? err.status : 500;
      if (status === 500) log.error({ err: (err as Error).message }, "JWT endpoint request failed");
      else if (path === JWT_SVID_PATH) {
        options.onOutcome?.({ issued: false, reason: (err as HttpError).reason });
        log.info(
          {
            status,
            reason: (err as HttpError).reason,
            message: (err as Error).message,
            remote: req.socket.remoteAddress,
          },
          "JWT-SVID request refused",
        );
      }
      if (status === 405) res.setHeader("allow", path === JWT_SVID_PATH ? "POST" : "GET, HEAD");
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, status, {
          error: status === 500 ? "internal error" : (err as Error).message,
          ...(known ? { reason: err.reason } : {}),
        });
      }
    }
  };
  const server = await startClientCertServer({
    name: "JWT endpoint",
    port: options.port,
    host: options.host,
    logger: log,
    handle,
  });
  log.info(
    { port: server.port, host: options.host ?? "*", issuer: options.issuer },
    "JWT endpoint listening",
  );
  return server;
}

/** The first problem of a request body, naming its field. */
function describeInvalid(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid request";
  if (issue.code === "unrecognized_keys")
    return `unknown field ${issue.keys.join(", ")}: send audience and ttl only`;
  const field = issue.path.length > 0 ? issue.path.join(".") : "body";
  const what: Record<string, string> = {
    audience:
      "audience must be a string or a list of 1 to 16 strings of 1 to 256 characters without whitespace",
    ttl: 'ttl must be a duration of at least 1s, e.g. "2m"',
  };
  const top = String(issue.path[0] ?? "");
  return `${field}: ${what[top] ?? "the body must be a JSON object with audience and optionally ttl"}`;
}
