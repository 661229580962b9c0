import type { IncomingMessage, ServerResponse } from "node:http";
import { issuanceRefusal } from "../../controllers/machineidentity/issuable.ts";
import { externalIssuance } from "../../enroll/decide.ts";
import { exchangeHandler } from "../../exchange/handler.ts";
import { IssuerKeys } from "../../exchange/issuer-keys.ts";
import { SigningKeyLoader } from "../../jwt/key-loader.ts";
import { JwtRefusalReason, mintJwtSvid } from "../../jwt/mint.ts";
import { signingKeyAt } from "../../jwt/rotation.ts";
import type { OperatorContext } from "./context.ts";
import type { ExternalIssuer } from "./enrollment.ts";

/**
 * The token exchange of the enrollment endpoint (POST /v1/token), given the endpoint's X.509
 * issuer: TrustedIssuers, identities and schedules from the caches, JWT-SVIDs signed with the
 * signing keys the JWT endpoint publishes (so that Signet's JWKS verifies them), read from their
 * Secret as it changes.
 */
export function tokenExchange(
  ctx: OperatorContext,
): (issuer: ExternalIssuer) => (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { config, caches, metrics, now } = ctx;
  const log = ctx.log.child({ component: "token-exchange" });
  const signingKeys = new SigningKeyLoader(`Secret ${config.namespace}/${config.jwtSigningSecretName}`, log);
  const rules = () => ({ ...ctx.claimRules, claimants: ctx.claimIndex });
  return (issuer) =>
    exchangeHandler({
      ready: () =>
        caches.trustedIssuers.hasSynced() &&
        caches.identities.hasSynced() &&
        caches.schedules.hasSynced() &&
        caches.issuancePolicies.hasSynced() &&
        caches.namespaces.hasSynced(),
      trustedIssuers: () => caches.trustedIssuers.list(),
      identity: (namespace, name) => caches.identities.get(namespace, name),
      keys: new IssuerKeys({ now: () => now().getTime() }),
      x509For: (identity, ref, csr) => issuer.x509For(identity, ref, csr),
      async jwtFor(identity, ref, audiences) {
        const at = now();
        const schedule = identity?.spec.scheduleRef
          ? caches.schedules.get(identity.metadata.namespace ?? "", identity.spec.scheduleRef.name)
          : undefined;
        const claimRefusal = identity ? issuanceRefusal(identity, rules()) : undefined;
        const issuable = externalIssuance({ ref, identity, schedule, claimRefusal, now: at });
        if (!issuable.ok) return issuable;
        if (!identity) return { ok: false, status: 403, reason: "IdentityNotFound", message: ref };
        const keys = await signingKeys.load(caches.jwtSigningSecret.list()[0]);
        const minted = await mintJwtSvid(
          {
            identity,
            schedule,
            claimRefusal,
            audiences,
            ttlMs: undefined,
            trustDomain: config.trustDomain,
            issuer: config.jwtIssuer,
            now: at,
          },
          signingKeyAt(keys, at),
        );
        if (minted.refused) {
          const status = minted.reason === JwtRefusalReason.NoSigningKey ? 503 : 403;
          return { ok: false, status, reason: minted.reason, message: minted.message };
        }
        return {
          ok: true,
          token: minted.token,
          expiresAt: minted.expiresAt,
          spiffeId: minted.sub,
          kid: minted.kid,
        };
      },
      count: (labels) => metrics.enrollments.inc({ operation: "exchange", ...labels }),
      log,
      now,
    });
}
