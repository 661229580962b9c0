import { shorten } from "./claims.ts";

/**
 * The token exchange request (RFC 8693 section 2.1) as Signet takes it, and its errors in the
 * shape of RFC 6749 section 5.2. Pure: parsing a form body needs nothing but the text.
 */

export const GRANT_TYPE_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt";
export const TOKEN_TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token";
/** Signet's own token type URI for an X.509-SVID (the leaf and its chain, PEM). */
export const TOKEN_TYPE_X509_SVID = "urn:signet:params:oauth:token-type:x509-svid";

const SUBJECT_TOKEN_TYPES = [TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN];
const REQUESTED_TOKEN_TYPES = [TOKEN_TYPE_X509_SVID, TOKEN_TYPE_JWT];

/** A compact JWS of a CI system or a cloud is a few kilobytes; this bounds what is ever decoded. */
export const MAX_SUBJECT_TOKEN_CHARS = 16_384;
export const MAX_CSR_CHARS = 16_384;
const MAX_AUDIENCE_CHARS = 256;
const MAX_AUDIENCES = 8;

/** The OAuth error codes Signet answers with (RFC 6749 section 5.2, RFC 8693 section 2.2.2). */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_grant"
  | "invalid_target"
  | "unsupported_grant_type"
  | "unsupported_token_type"
  | "temporarily_unavailable"
  | "server_error";

/** Machine-readable reasons of the token exchange's refusals, also the metric's label values. */
export const ExchangeReason = {
  InvalidRequest: "InvalidRequest",
  UnsupportedGrantType: "UnsupportedGrantType",
  UnsupportedTokenType: "UnsupportedTokenType",
  MalformedToken: "MalformedToken",
  /** alg "none", an HMAC, or anything else not on the list of asymmetric algorithms. */
  UnsupportedAlgorithm: "UnsupportedAlgorithm",
  UnknownIssuer: "UnknownIssuer",
  /** The issuer's keys could not be read (discovery or JWKS failed): retry. */
  IssuerUnavailable: "IssuerUnavailable",
  /** The TrustedIssuer itself is unusable (jwks that does not parse). */
  IssuerMisconfigured: "IssuerMisconfigured",
  InvalidSignature: "InvalidSignature",
  TokenExpired: "TokenExpired",
  TokenNotYetValid: "TokenNotYetValid",
  /** A required or registered claim is missing or has the wrong type (exp, iat, nbf, aud). */
  InvalidClaims: "InvalidClaims",
  WrongAudience: "WrongAudience",
  NoMatchingRule: "NoMatchingRule",
  /** This replica's caches have not synced yet: retry. */
  NotReady: "NotReady",
} as const;

export interface ExchangeError {
  ok: false;
  /** The HTTP status: 400 for every OAuth error of the client (RFC 6749 section 5.2), 503 or 500 else. */
  status: number;
  error: OAuthErrorCode;
  reason: string;
  /** For people: names what was wrong and, where it helps, what to do. */
  description: string;
}

export function exchangeError(
  error: OAuthErrorCode,
  reason: string,
  description: string,
  status = error === "temporarily_unavailable" ? 503 : error === "server_error" ? 500 : 400,
): ExchangeError {
  return { ok: false, status, error, reason, description };
}

export type ExchangeRequest =
  | {
      ok: true;
      subjectToken: string;
      subjectTokenType: string;
      requested: "x509-svid";
      /** PEM PKCS#10 for the key the machine generated itself. */
      csr: string;
    }
  | {
      ok: true;
      subjectToken: string;
      subjectTokenType: string;
      requested: "jwt-svid";
      audiences: string[];
    };

const invalid = (description: string) =>
  exchangeError("invalid_request", ExchangeReason.InvalidRequest, description);

/**
 * The parameters of an application/x-www-form-urlencoded token exchange request, or the error that
 * names the first parameter that is wrong. As RFC 6749 section 3.2 says, unknown parameters are
 * ignored, an empty one counts as absent and none may be repeated (audience may: RFC 8693 lets a
 * client ask for several). What Signet does not do (delegation with actor_token, resource
 * indicators) is refused rather than ignored, so that a client never receives less than it asked for.
 */
export function parseExchangeRequest(
  contentType: string | undefined,
  body: string,
): ExchangeRequest | ExchangeError {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    return invalid(
      `the request must be an HTML form (content-type application/x-www-form-urlencoded, RFC 6749 section 4.1.3), not ${type ? JSON.stringify(type) : "without a content type"}`,
    );
  }
  const form = new URLSearchParams(body);
  const values = new Map<string, string[]>();
  for (const [name, value] of form) {
    if (value === "") continue;
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  for (const [name, list] of values) {
    if (list.length > 1 && name !== "audience")
      return invalid(`the parameter ${name} is given ${list.length} times; give it once`);
  }
  const one = (name: string) => values.get(name)?.[0];

  const grantType = one("grant_type");
  if (!grantType) return invalid(`grant_type is required: ${GRANT_TYPE_TOKEN_EXCHANGE}`);
  if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) {
    return exchangeError(
      "unsupported_grant_type",
      ExchangeReason.UnsupportedGrantType,
      `grant_type ${JSON.stringify(shorten(grantType))} is not supported: use ${GRANT_TYPE_TOKEN_EXCHANGE}`,
    );
  }
  if (one("actor_token") || one("actor_token_type"))
    return invalid(
      "actor_token is not supported: Signet exchanges a subject_token for itself, not on behalf of an actor",
    );
  if (one("resource"))
    return invalid("resource is not supported: name what the JWT-SVID is for with audience");

  const subjectToken = one("subject_token");
  if (!subjectToken) return invalid("subject_token is required: the OIDC token of the pipeline or machine");
  if (subjectToken.length > MAX_SUBJECT_TOKEN_CHARS)
    return invalid(`subject_token is longer than ${MAX_SUBJECT_TOKEN_CHARS} characters`);
  const subjectTokenType = one("subject_token_type");
  if (!subjectTokenType) {
    return invalid(`subject_token_type is required: ${SUBJECT_TOKEN_TYPES.join(" or ")}`);
  }
  if (!SUBJECT_TOKEN_TYPES.includes(subjectTokenType)) {
    return exchangeError(
      "unsupported_token_type",
      ExchangeReason.UnsupportedTokenType,
      `subject_token_type ${JSON.stringify(shorten(subjectTokenType))} is not supported: Signet exchanges a signed JWT (${SUBJECT_TOKEN_TYPES.join(" or ")})`,
    );
  }

  const requested = one("requested_token_type");
  if (!requested) {
    return invalid(
      `requested_token_type is required: ${TOKEN_TYPE_X509_SVID} for an X.509-SVID (with csr) or ${TOKEN_TYPE_JWT} for a JWT-SVID (with audience)`,
    );
  }
  if (!REQUESTED_TOKEN_TYPES.includes(requested)) {
    return exchangeError(
      "unsupported_token_type",
      ExchangeReason.UnsupportedTokenType,
      `requested_token_type ${JSON.stringify(shorten(requested))} is not supported: Signet issues ${TOKEN_TYPE_X509_SVID} (an X.509-SVID) or ${TOKEN_TYPE_JWT} (a JWT-SVID)`,
    );
  }
  const audiences = values.get("audience") ?? [];
  const csr = one("csr");

  if (requested === TOKEN_TYPE_X509_SVID) {
    if (audiences.length > 0)
      return invalid("audience has no meaning for an X.509-SVID: leave it out, or ask for a JWT-SVID");
    if (!csr) {
      return invalid(
        "csr is required for an X.509-SVID: a PEM PKCS#10 request signed with the key the machine generated (openssl req -new)",
      );
    }
    if (csr.length > MAX_CSR_CHARS) return invalid(`csr is longer than ${MAX_CSR_CHARS} characters`);
    return { ok: true, subjectToken, subjectTokenType, requested: "x509-svid", csr };
  }
  if (csr) return invalid("csr has no meaning for a JWT-SVID: leave it out, or ask for an X.509-SVID");
  if (audiences.length === 0) {
    return invalid(
      "audience is required for a JWT-SVID: name the verifier it is for, one the identity's spec.jwtSVID.audiences lists",
    );
  }
  if (audiences.length > MAX_AUDIENCES) return invalid(`at most ${MAX_AUDIENCES} audiences may be asked for`);
  const bad = audiences.find((a) => a.length > MAX_AUDIENCE_CHARS || /\s/.test(a));
  if (bad !== undefined) {
    return invalid(
      `audience ${JSON.stringify(shorten(bad))} must be at most ${MAX_AUDIENCE_CHARS} characters without whitespace`,
    );
  }
  return {
    ok: true,
    subjectToken,
    subjectTokenType,
    requested: "jwt-svid",
    audiences: [...new Set(audiences)],
  };
}
