import type * as k8s from "@kubernetes/client-node";
import type { MachineIdentity } from "../../api/index.ts";
import { JwtKeyStore } from "../../controllers/jwtkeys/store.ts";
import { issuanceRefusal } from "../../controllers/machineidentity/issuable.ts";
import { decodeSecretData } from "../../controllers/shared/secret-data.ts";
import {
  CLIENT_CA_DATA_KEY,
  type IssueAnswer,
  type IssueRequest,
  startJwtServer,
} from "../../jwt/endpoint.ts";
import { SigningKeyLoader } from "../../jwt/key-loader.ts";
import { jwksOf } from "../../jwt/keys.ts";
import { JwtRefusalReason, mintJwtSvid } from "../../jwt/mint.ts";
import { signingKeyAt } from "../../jwt/rotation.ts";
import { keyOf } from "../../kube/informer.ts";
import { type ReconcileResult, runWorkers, WorkQueue } from "../../kube/queue.ts";
import type { Runnable } from "../runnables.ts";
import type { OperatorContext } from "./context.ts";

/** The schedule of the JWT signing keys, from the operator's flags. */
function scheduleOf(ctx: OperatorContext) {
  return { rotationPeriodMs: ctx.config.jwtKeyRotationMs, publishAheadMs: ctx.config.jwtPublishAheadMs };
}

/**
 * Leader-elected: keeps the JWT-SVID signing keys in their Secret along the rotation plan, looking
 * again when the plan says it changes (at least hourly, at most every second); a failed pass is
 * retried with the queue's backoff.
 */
export function jwtKeysUnit(ctx: OperatorContext): Runnable {
  const { config, log, now } = ctx;
  return {
    name: "jwt-keys",
    leaderElected: true,
    async start(signal) {
      const store = new JwtKeyStore({
        kube: ctx.kube,
        namespace: config.namespace,
        secretName: config.jwtSigningSecretName,
        schedule: scheduleOf(ctx),
        log: log.child({ component: "jwt-keys" }),
        now,
        ownerReferences: await ctx.owners(signal),
      });
      const queue = new WorkQueue({ name: "jwt-keys", metrics: ctx.metrics, baseDelayMs: 1_000 });
      const pass = async (): Promise<ReconcileResult> => {
        const plan = await store.reconcile();
        const due = plan.nextCheck?.getTime() ?? Number.POSITIVE_INFINITY;
        return { requeueAfterMs: Math.min(Math.max(1_000, due - now().getTime()), 3_600_000) };
      };
      const workers = runWorkers({
        queue,
        concurrency: 1,
        reconcile: pass,
        onError: (_key, err) =>
          signal.aborted || log.error({ err: (err as Error).message }, "JWT signing key reconcile failed"),
      });
      queue.add("jwt-keys");
      return async () => {
        queue.shutDown();
        await workers;
      };
    },
  };
}

/**
 * The identity a verified caller's SPIFFE ID belongs to: of those that claim it, the one the
 * issuance rules let hold it, else the first (whose refusal then answers).
 */
function holderOf(ctx: OperatorContext, spiffeId: string): MachineIdentity | undefined {
  const claimants = ctx.claimIndex.bySpiffeId(spiffeId).sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
  const rules = { ...ctx.claimRules, claimants: ctx.claimIndex };
  return claimants.find((mi) => issuanceRefusal(mi, rules) === undefined) ?? claimants[0];
}

/**
 * Always on, on every replica that serves endpoints: the JWT-SVID endpoint, with OIDC discovery and
 * the JWKS. It follows two Secrets the leader keeps, each watched by name: the signing keys (to sign
 * and to publish) and its serving certificate with the workload trust bundle (to verify callers).
 * It writes nothing.
 */
export function jwtEndpointUnit(ctx: OperatorContext, onPort: (port: number) => void): Runnable {
  const { config, caches, metrics, now } = ctx;
  const log = ctx.log.child({ component: "jwt" });
  return {
    name: "jwt-endpoint",
    leaderElected: false,
    async start() {
      const loader = new SigningKeyLoader(`Secret ${config.namespace}/${config.jwtSigningSecretName}`, log);
      const issue = async (request: IssueRequest): Promise<IssueAnswer> => {
        if (
          !caches.identities.hasSynced() ||
          !caches.issuancePolicies.hasSynced() ||
          !caches.namespaces.hasSynced()
        ) {
          return {
            refused: true,
            reason: JwtRefusalReason.NotReady,
            message: "Signet's caches are not synced yet; retry in a few seconds",
          };
        }
        const identity = holderOf(ctx, request.spiffeId);
        if (!identity) {
          return {
            refused: true,
            reason: JwtRefusalReason.NoIdentity,
            message: `no MachineIdentity holds ${request.spiffeId}: a JWT-SVID is issued only for an identity Signet manages`,
          };
        }
        const at = now();
        const ref = identity.spec.scheduleRef;
        const minted = await mintJwtSvid(
          {
            identity,
            schedule: ref ? caches.schedules.get(identity.metadata.namespace ?? "", ref.name) : undefined,
            claimRefusal: issuanceRefusal(identity, { ...ctx.claimRules, claimants: ctx.claimIndex }),
            audiences: request.audiences,
            ttlMs: request.ttlMs,
            trustDomain: config.trustDomain,
            issuer: config.jwtIssuer,
            now: at,
          },
          signingKeyAt(loader.keys(), at),
        );
        if (minted.refused) return minted;
        return {
          refused: false,
          token: minted.token,
          expiresAt: minted.expiresAt,
          identity: `${identity.metadata.namespace}/${identity.metadata.name}`,
          kid: minted.kid,
        };
      };
      const server = await startJwtServer({
        issuer: config.jwtIssuer,
        trustDomain: config.trustDomain,
        issue,
        jwks: () => jwksOf(loader.keys()),
        onOutcome: (outcome) => {
          if (outcome.issued) metrics.jwtSvidsIssued.inc({ namespace: outcome.identity.split("/")[0] ?? "" });
          else metrics.jwtSvidsRefused.inc({ reason: outcome.reason });
        },
        cacheMaxAgeSeconds: Math.min(300, config.jwtPublishAheadMs / 3_000),
        logger: log,
        port: config.jwtPort,
        host: config.jwtHost,
      });
      onPort(server.port);

      const loadKeys = (secret: k8s.V1Secret | undefined) => {
        void loader.load(secret);
      };
      const loadTls = (secret: k8s.V1Secret) => {
        const data = decodeSecretData(secret.data);
        try {
          server.setTls(data["tls.crt"] ?? "", data["tls.key"] ?? "", data[CLIENT_CA_DATA_KEY] ?? "");
        } catch (err) {
          log.warn({ err: (err as Error).message }, "JWT endpoint certificate rejected");
        }
      };
      const offs = [
        caches.jwtSigningSecret.on("add", loadKeys),
        caches.jwtSigningSecret.on("update", loadKeys),
        caches.jwtSigningSecret.on("delete", () => loadKeys(undefined)),
        caches.jwtTlsSecret.on("add", loadTls),
        caches.jwtTlsSecret.on("update", loadTls),
      ];
      for (const s of caches.jwtTlsSecret.list()) loadTls(s);
      await loader.load(caches.jwtSigningSecret.list()[0]);
      return async () => {
        for (const off of offs) off();
        await server.close();
      };
    },
  };
}
