import type { IncomingMessage, ServerResponse } from "node:http";
import type { MachineIdentity, TrustedIssuer } from "../api/index.ts";
import { sendJson } from "../net/https-server.ts";
import { HttpError, readBody } from "../net/requests.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { IssuerKeys } from "./issuer-keys.ts";
import {
  type ExchangeError,
  ExchangeReason,
  exchangeError,
  MAX_CSR_CHARS,
  MAX_SUBJECT_TOKEN_CHARS,
  type OAuthErrorCode,
  parseExchangeRequest,
  TOKEN_TYPE_JWT,
  TOKEN_TYPE_X509_SVID,
} from "./request.ts";
import { verifySubjectToken } from "./verify.ts";

/** The form, with its token and CSR at their longest and room for the rest. */
const MAX_BODY_BYTES = 3 * (MAX_SUBJECT_TOKEN_CHARS + MAX_CSR_CHARS) + 4096;

/** Why an identity was not issued, as the minting side says it. */
export interface IssueRefusal {
  ok: false;
  status: number;
  reason: string;
  message: string;
}

export interface ExchangeDeps {
  /** Whether the caches this decides from have synced. */
  ready(): boolean;
  trustedIssuers(): readonly TrustedIssuer[];
  identity(namespace: string, name: string): MachineIdentity | undefined;
  keys: IssuerKeys;
  /** An X.509-SVID of the identity for the CSR's key, if it may be issued to an outside machine now. */
  x509For(
    identity: MachineIdentity | undefined,
    ref: string,
    csrPem: string,
  ): Promise<
    | {
        ok: true;
        certificate: string;
        bundle: string;
        notAfter: Date;
        spiffeId: string;
        serialNumber: string;
      }
    | IssueRefusal
  >;
  /** A JWT-SVID of the identity for `audiences`, if it may be issued to an outside machine now. */
  jwtFor(
    identity: MachineIdentity | undefined,
    ref: string,
    audiences: readonly string[],
  ): Promise<{ ok: true; token: string; expiresAt: Date; spiffeId: string; kid: string } | IssueRefusal>;
  /** Counts one exchange (signet_enrollment_requests_total{operation="exchange"}). */
  count(labels: { outcome: "issued" | "refused"; reason: string; namespace: string }): void;
  log: Logger;
  now: () => Date;
}

/** The OAuth error a refusal of the minting side is, for the client. */
function fromIssueRefusal(refusal: IssueRefusal): ExchangeError {
  let code: OAuthErrorCode = "invalid_grant";
  if (refusal.status === 503) code = "temporarily_unavailable";
  else if (refusal.status === 400) code = "invalid_request";
  else if (refusal.reason === "AudienceNotAllowed" || refusal.reason === "JwtSvidNotEnabled")
    code = "invalid_target";
  else if (refusal.reason === "NoSigningKey") code = "temporarily_unavailable";
  return exchangeError(code, refusal.reason, refusal.message);
}

/**
 * POST /v1/token: RFC 8693 token exchange of a trusted issuer's JWT (a CI pipeline's OIDC token,
 * another cluster's service account token) for an X.509-SVID of the key the caller generated, or a
 * JWT-SVID, of the MachineIdentity the first matching rule of its TrustedIssuer names. The
 * identity must be one for outside machines (delivery External), not suspended, inside its access
 * window. Every exchange, issued or refused, is one audit log line and one count; the token never
 * appears in either.
 */
export function exchangeHandler(
  deps: ExchangeDeps,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    if (res.headersSent || res.destroyed) return;
    // RFC 6749 section 5.1: credentials are never cached.
    res.setHeader("cache-control", "no-store");
    res.setHeader("pragma", "no-cache");
    sendJson(res, status, body);
  };

  return async (req, res) => {
    const address = req.socket.remoteAddress ?? "";
    const audit: Record<string, unknown> = { audit: "exchange", address };
    let namespace = "";
    const refuse = (e: ExchangeError) => {
      reply(res, e.status, { error: e.error, error_description: e.description, reason: e.reason });
      deps.count({ outcome: "refused", reason: e.reason, namespace });
      const line = { ...audit, outcome: "refused", reason: e.reason, message: e.description };
      if (e.status >= 500) deps.log.warn(line, "token exchange refused");
      else deps.log.info(line, "token exchange refused");
    };
    try {
      let body: string;
      try {
        body = await readBody(req, MAX_BODY_BYTES);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        refuse(exchangeError("invalid_request", ExchangeReason.InvalidRequest, err.message, err.status));
        return;
      }
      const request = parseExchangeRequest(req.headers["content-type"], body);
      if (!request.ok) {
        refuse(request);
        return;
      }
      audit.requested = request.requested;
      if (!deps.ready()) {
        refuse(
          exchangeError(
            "temporarily_unavailable",
            ExchangeReason.NotReady,
            "Signet's caches are not synced yet; retry in a few seconds",
          ),
        );
        return;
      }
      const issuers = deps.trustedIssuers();
      deps.keys.retain(new Set(issuers.map((ti) => ti.metadata.name)));
      const verified = await verifySubjectToken(request.subjectToken, {
        issuers,
        keys: deps.keys,
        now: deps.now(),
      });
      if (!verified.ok) {
        Object.assign(audit, {
          issuer: verified.issuer,
          trustedIssuer: verified.trustedIssuer,
          sub: verified.sub,
          verified: verified.verified,
        });
        refuse(verified);
        return;
      }
      const { claims, rule } = verified;
      const ref = `${rule.identity.namespace}/${rule.identity.name}`;
      namespace = rule.identity.namespace;
      Object.assign(audit, {
        issuer: claims.iss,
        trustedIssuer: verified.trustedIssuer.metadata.name,
        sub: claims.sub,
        jti: claims.jti,
        verified: true,
        rule: verified.ruleIndex,
        identity: ref,
      });
      const identity = deps.identity(rule.identity.namespace, rule.identity.name);
      const at = deps.now();
      if (request.requested === "x509-svid") {
        const minted = await deps.x509For(identity, ref, request.csr);
        if (!minted.ok) {
          refuse(fromIssueRefusal(minted));
          return;
        }
        Object.assign(audit, {
          spiffeId: minted.spiffeId,
          serial: minted.serialNumber,
          notAfter: minted.notAfter.toISOString(),
        });
        reply(res, 200, {
          access_token: minted.certificate,
          issued_token_type: TOKEN_TYPE_X509_SVID,
          token_type: "N_A",
          expires_in: secondsUntil(minted.notAfter, at),
          bundle: minted.bundle,
          spiffe_id: minted.spiffeId,
          identity: ref,
        });
      } else {
        const minted = await deps.jwtFor(identity, ref, request.audiences);
        if (!minted.ok) {
          refuse(fromIssueRefusal(minted));
          return;
        }
        Object.assign(audit, {
          spiffeId: minted.spiffeId,
          audiences: request.audiences,
          kid: minted.kid,
          notAfter: minted.expiresAt.toISOString(),
        });
        reply(res, 200, {
          access_token: minted.token,
          issued_token_type: TOKEN_TYPE_JWT,
          token_type: "N_A",
          expires_in: secondsUntil(minted.expiresAt, at),
          spiffe_id: minted.spiffeId,
          identity: ref,
        });
      }
      deps.count({ outcome: "issued", reason: "", namespace });
      deps.log.info({ ...audit, outcome: "issued", reason: "" }, "token exchanged");
    } catch (err) {
      deps.log.error({ ...audit, err: (err as Error).message }, "token exchange failed");
      refuse(exchangeError("server_error", "InternalError", "internal error"));
    }
  };
}

function secondsUntil(end: Date, now: Date): number {
  return Math.max(0, Math.floor((end.getTime() - now.getTime()) / 1000));
}
