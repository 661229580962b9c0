import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import type { AccessSchedule, MachineIdentity } from "../api/index.ts";
import { parseDuration, spiffeIDOf } from "../api/index.ts";
import { windowOf } from "../controllers/machineidentity/issuable.ts";
import { JWT_ALG, type SigningKey } from "./keys.ts";

/** Reasons a JWT-SVID is refused: the 403 body and signet_jwt_svids_refused_total{reason}. */
export const JwtRefusalReason = {
  NoIdentity: "NoIdentity",
  JwtSvidNotEnabled: "JwtSvidNotEnabled",
  AudienceNotAllowed: "AudienceNotAllowed",
  Suspended: "Suspended",
  OutsideWindow: "OutsideWindow",
  ScheduleNotFound: "ScheduleNotFound",
  /** The access window ends before a token could live a second. */
  WindowClosing: "WindowClosing",
  ClaimNotPermitted: "ClaimNotPermitted",
  SpiffeIDConflict: "SpiffeIDConflict",
  NoSigningKey: "NoSigningKey",
  /** This replica's caches have not synced yet. */
  NotReady: "NotReady",
} as const;
export type JwtRefusalReason = (typeof JwtRefusalReason)[keyof typeof JwtRefusalReason];

export interface JwtRefusal {
  refused: true;
  reason: string;
  message: string;
}

export interface JwtSvidRequest {
  identity: MachineIdentity;
  /** The AccessSchedule its scheduleRef names, when it exists. */
  schedule: AccessSchedule | undefined;
  /** Why its namespace may not claim what it names (issuable.ts issuanceRefusal), if it may not. */
  claimRefusal: { reason: string; message: string } | undefined;
  audiences: readonly string[];
  /** The lifetime asked for; the identity's spec.jwtSVID.ttl when absent or longer. */
  ttlMs: number | undefined;
  trustDomain: string;
  issuer: string;
  now: Date;
}

/** The claims of the JWT-SVID to sign for `request`, or why none may be. */
export function jwtSvidClaims(
  request: JwtSvidRequest,
): { refused: false; sub: string; aud: string[]; iat: number; exp: number } | JwtRefusal {
  const mi = request.identity;
  const where = `MachineIdentity ${mi.metadata.namespace ?? ""}/${mi.metadata.name}`;
  const refuse = (reason: string, message: string): JwtRefusal => ({ refused: true, reason, message });
  const jwt = mi.spec.jwtSVID;
  if (!jwt) {
    return refuse(
      JwtRefusalReason.JwtSvidNotEnabled,
      `${where} has no spec.jwtSVID: it may get no JWT-SVID; list the audiences in spec.jwtSVID.audiences`,
    );
  }
  if (mi.spec.suspend) {
    return refuse(
      JwtRefusalReason.Suspended,
      `${where} is suspended (spec.suspend: true): no JWT-SVID is issued until it is false`,
    );
  }
  if (request.claimRefusal) return refuse(request.claimRefusal.reason, request.claimRefusal.message);
  const window = windowOf(mi, request.schedule, request.now);
  if (!window.open) return refuse(window.reason, `${where}: ${window.message}`);
  const allowed = new Set(jwt.audiences);
  for (const audience of request.audiences) {
    if (!allowed.has(audience)) {
      return refuse(
        JwtRefusalReason.AudienceNotAllowed,
        `${where} may not get a JWT-SVID for audience ${JSON.stringify(audience)}: spec.jwtSVID.audiences allows ${jwt.audiences.map((a) => JSON.stringify(a)).join(", ")}`,
      );
    }
  }
  const iatMs = Math.floor(request.now.getTime() / 1000) * 1000;
  const ttl = Math.min(request.ttlMs ?? Number.POSITIVE_INFINITY, parseDuration(jwt.ttl));
  // Like an X.509-SVID, a token never outlives the access window it was issued in.
  const expMs = Math.min(iatMs + ttl, window.windowEnd?.getTime() ?? Number.POSITIVE_INFINITY);
  if (Math.floor(expMs / 1000) <= iatMs / 1000) {
    return refuse(
      JwtRefusalReason.WindowClosing,
      `${where}: its access window ends at ${window.windowEnd?.toISOString()}, too soon for a JWT-SVID; ask again in the next window`,
    );
  }
  return {
    refused: false,
    sub: spiffeIDOf(mi, request.trustDomain),
    aud: [...request.audiences],
    iat: iatMs / 1000,
    exp: Math.floor(expMs / 1000),
  };
}

/**
 * Mints a JWT-SVID (SPIFFE JWT-SVID): header {alg ES256, kid, typ JWT}, claims {iss, sub (the
 * SPIFFE ID), aud, iat, nbf = iat, exp, jti (128 random bits)}, or refuses with a reason.
 */
export async function mintJwtSvid(
  request: JwtSvidRequest,
  key: SigningKey | undefined,
  random: (bytes: number) => Buffer = randomBytes,
): Promise<{ refused: false; token: string; expiresAt: Date; sub: string; kid: string } | JwtRefusal> {
  const claims = jwtSvidClaims(request);
  if (claims.refused) return claims;
  if (!key) {
    return {
      refused: true,
      reason: JwtRefusalReason.NoSigningKey,
      message: "Signet has no JWT signing key yet; retry in a few seconds",
    };
  }
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: JWT_ALG, kid: key.kid, typ: "JWT" })
    .setIssuer(request.issuer)
    .setSubject(claims.sub)
    .setAudience(claims.aud.length === 1 ? (claims.aud[0] as string) : claims.aud)
    .setIssuedAt(claims.iat)
    .setNotBefore(claims.iat)
    .setExpirationTime(claims.exp)
    .setJti(random(16).toString("base64url"))
    .sign(key.privateKey);
  return { refused: false, token, expiresAt: new Date(claims.exp * 1000), sub: claims.sub, kid: key.kid };
}
