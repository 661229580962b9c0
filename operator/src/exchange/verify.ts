import {
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from "jose";
import type { ExchangeRule, TrustedIssuer } from "../api/index.ts";
import { audienceAccepted, describeMismatch, selectRule, shorten } from "./claims.ts";
import type { IssuerKeys } from "./issuer-keys.ts";
import { type ExchangeError, ExchangeReason, exchangeError } from "./request.ts";

/**
 * The signature algorithms a subject token may use: asymmetric ones only. "none" proves nothing,
 * and an HMAC (HS256...) would need a secret shared with the issuer, which a public JWKS never
 * holds; listing them here would let whoever knows a public key forge tokens.
 */
export const ALLOWED_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** How far the issuer's clock may be from Signet's, for exp, nbf and iat. */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** A subject token that verified against a TrustedIssuer and matched one of its rules. */
export interface VerifiedToken {
  ok: true;
  trustedIssuer: TrustedIssuer;
  claims: JWTPayload;
  ruleIndex: number;
  rule: ExchangeRule;
}

/** A refused subject token, with what the audit line may say of it. */
export interface TokenRefusal extends ExchangeError {
  /** The token's iss, as it claims (unverified unless `verified`). */
  issuer?: string | undefined;
  sub?: string | undefined;
  trustedIssuer?: string | undefined;
  /** Whether the signature verified (so that issuer and sub are the issuer's word). */
  verified: boolean;
}

const grant = (reason: string, description: string) => exchangeError("invalid_grant", reason, description);

/** A refusal for what jose found wrong in a token it checked against `where`'s keys. */
export function refusalOfVerifyError(err: unknown, where: string): ExchangeError {
  if (err instanceof errors.JWTExpired) {
    return grant(
      ExchangeReason.TokenExpired,
      `the subject_token expired (exp ${String(err.payload.exp)}, ${expiry(err.payload.exp)}); get a fresh token from ${where}'s issuer`,
    );
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf")
      return grant(
        ExchangeReason.TokenNotYetValid,
        "the subject_token is not valid yet (its nbf is in the future)",
      );
    if (err.reason === "missing")
      return grant(
        ExchangeReason.InvalidClaims,
        `the subject_token has no ${err.claim} claim, which is required`,
      );
    return grant(
      ExchangeReason.InvalidClaims,
      `the subject_token's ${err.claim} claim is invalid: ${err.message}`,
    );
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return grant(
      ExchangeReason.InvalidSignature,
      `the subject_token's signature does not verify with ${where}'s keys: it was not signed by that issuer`,
    );
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return grant(
      ExchangeReason.InvalidSignature,
      `no key of ${where} matches the subject_token's kid and alg: it was not signed by that issuer's current keys`,
    );
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return grant(
      ExchangeReason.UnsupportedAlgorithm,
      `the subject_token's algorithm is not accepted: ${err.message}`,
    );
  }
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) {
    return grant(ExchangeReason.MalformedToken, `the subject_token is malformed: ${err.message}`);
  }
  if (err instanceof errors.JWKSInvalid || err instanceof errors.JWKInvalid) {
    return exchangeError(
      "server_error",
      ExchangeReason.IssuerMisconfigured,
      `${where}: a key of its JWKS is unusable (${err.message})`,
    );
  }
  throw err;
}

function expiry(exp: unknown): string {
  return typeof exp === "number" ? `at ${new Date(exp * 1000).toISOString()}` : "at an unknown time";
}

/** Verifies `token` with `getKey`; tries each key when several match a token without a kid. */
async function verifyWith(token: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions) {
  try {
    return await jwtVerify(token, getKey, options);
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    let last: unknown = err;
    for await (const key of err) {
      try {
        return await jwtVerify(token, key, options);
      } catch (inner) {
        last = inner;
      }
    }
    throw last instanceof errors.JWKSMultipleMatchingKeys
      ? new errors.JWSSignatureVerificationFailed()
      : last;
  }
}

/** Checks of the times jose leaves to the caller: iat, when present, is a time not in the future. */
export function issuedAtRefusal(claims: JWTPayload, nowSeconds: number): ExchangeError | undefined {
  if (claims.iat === undefined) return undefined;
  if (typeof claims.iat !== "number" || !Number.isFinite(claims.iat))
    return grant(ExchangeReason.InvalidClaims, "the subject_token's iat claim is not a number");
  if (claims.iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) {
    return grant(
      ExchangeReason.TokenNotYetValid,
      `the subject_token was issued in the future (iat ${new Date(claims.iat * 1000).toISOString()})`,
    );
  }
  return undefined;
}

/** How far a refusal got: of several TrustedIssuers of one iss, the one that got furthest answers. */
const STAGES: Record<string, number> = {
  [ExchangeReason.IssuerMisconfigured]: 0,
  [ExchangeReason.IssuerUnavailable]: 0,
  [ExchangeReason.InvalidSignature]: 1,
  [ExchangeReason.UnsupportedAlgorithm]: 1,
  [ExchangeReason.MalformedToken]: 1,
  [ExchangeReason.TokenExpired]: 2,
  [ExchangeReason.TokenNotYetValid]: 2,
  [ExchangeReason.InvalidClaims]: 2,
  [ExchangeReason.WrongAudience]: 3,
  [ExchangeReason.NoMatchingRule]: 4,
};

/**
 * Verifies a subject token against the TrustedIssuers whose spec.issuer is its iss (in name order):
 * an asymmetric signature by the issuer's keys, exp present and not past, nbf and iat not in the
 * future (each within CLOCK_TOLERANCE_SECONDS), aud holding one of spec.audiences, then the first
 * rule whose claims all match. Nothing of the token is trusted before its signature verified,
 * except its iss and kid, which only say where to look.
 */
export async function verifySubjectToken(
  token: string,
  input: { issuers: readonly TrustedIssuer[]; keys: IssuerKeys; now: Date },
): Promise<VerifiedToken | TokenRefusal> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token);
  } catch {
    return {
      ...grant(
        ExchangeReason.MalformedToken,
        "the subject_token is not a JWT: it must be a signed JWT in compact form (header.payload.signature)",
      ),
      verified: false,
    };
  }
  const iss = typeof unverified.iss === "string" ? unverified.iss : undefined;
  const sub = typeof unverified.sub === "string" ? shorten(unverified.sub, 256) : undefined;
  const about = { issuer: iss === undefined ? undefined : shorten(iss, 256), sub, verified: false };
  const alg = typeof header.alg === "string" ? header.alg : "";
  if (!(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    return {
      ...grant(
        ExchangeReason.UnsupportedAlgorithm,
        `the subject_token's alg ${JSON.stringify(shorten(alg, 32))} is not accepted: only asymmetric signatures (${ALLOWED_ALGORITHMS.join(", ")}) are, never "none" or an HMAC such as HS256`,
      ),
      ...about,
    };
  }
  if (iss === undefined) {
    return {
      ...grant(
        ExchangeReason.UnknownIssuer,
        "the subject_token has no iss claim: no TrustedIssuer can vouch for it",
      ),
      ...about,
    };
  }
  const candidates = input.issuers
    .filter((ti) => ti.spec.issuer === iss)
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  if (candidates.length === 0) {
    return {
      ...grant(
        ExchangeReason.UnknownIssuer,
        `no TrustedIssuer has spec.issuer ${JSON.stringify(shorten(iss))}, the subject_token's iss; the cluster admin trusts an issuer by creating one`,
      ),
      ...about,
    };
  }
  const nowSeconds = Math.floor(input.now.getTime() / 1000);
  const options: JWTVerifyOptions = {
    algorithms: [...ALLOWED_ALGORITHMS],
    requiredClaims: ["exp"],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    currentDate: input.now,
  };
  let best: TokenRefusal | undefined;
  const consider = (refusal: TokenRefusal) => {
    if (!best || (STAGES[refusal.reason] ?? 0) > (STAGES[best.reason] ?? 0)) best = refusal;
  };
  for (const ti of candidates) {
    const where = `TrustedIssuer ${ti.metadata.name}`;
    const here = { ...about, trustedIssuer: ti.metadata.name };
    let keys = await input.keys.keysFor(ti);
    if (keys.ok && keys.remote && typeof header.kid === "string" && !keys.kids.includes(header.kid))
      keys = await input.keys.keysFor(ti, { unknownKid: true });
    if (!keys.ok) {
      const code = keys.reason === "IssuerUnavailable" ? "temporarily_unavailable" : "server_error";
      consider({ ...exchangeError(code, keys.reason, keys.message), ...here });
      continue;
    }
    let claims: JWTPayload;
    try {
      claims = (await verifyWith(token, keys.getKey, options)).payload;
    } catch (err) {
      consider({ ...refusalOfVerifyError(err, where), ...here });
      continue;
    }
    const verified = { ...here, verified: true };
    const early = issuedAtRefusal(claims, nowSeconds);
    if (early) {
      consider({ ...early, ...verified });
      continue;
    }
    if (!audienceAccepted(claims.aud, ti.spec.audiences)) {
      consider({
        ...grant(
          ExchangeReason.WrongAudience,
          `the subject_token's aud ${JSON.stringify(claims.aud ?? null)} holds none of ${where}'s spec.audiences (${ti.spec.audiences.map((a) => JSON.stringify(a)).join(", ")}); ask the issuer for a token with one of them`,
        ),
        ...verified,
      });
      continue;
    }
    const selection = selectRule(ti.spec.rules, claims);
    if (!selection.matched) {
      const why = selection.mismatches
        .map(
          (m) =>
            `rule ${m.index} (${m.rule.identity.namespace}/${m.rule.identity.name}): ${describeMismatch(m.mismatch)}`,
        )
        .join("; ");
      consider({
        ...grant(ExchangeReason.NoMatchingRule, `no rule of ${where} matches the subject_token: ${why}`),
        ...verified,
      });
      continue;
    }
    return { ok: true, trustedIssuer: ti, claims, ruleIndex: selection.index, rule: selection.rule };
  }
  return best as TokenRefusal;
}
