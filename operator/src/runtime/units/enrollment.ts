import { X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type * as k8s from "@kubernetes/client-node";
import type { Enrollment, EnrollmentStatus, MachineIdentity } from "../../api/index.ts";
import { desiredIdentity } from "../../controllers/machineidentity/desired.ts";
import { issuanceRefusal } from "../../controllers/machineidentity/issuable.ts";
import { isApiStatus } from "../../controllers/shared/cache.ts";
import { decodeSecretData } from "../../controllers/shared/secret-data.ts";
import { csrKey } from "../../enroll/csr.ts";
import {
  decideEnrollment,
  decideRenewal,
  EnrollReason,
  externalIssuance,
  externalValidity,
  type Refusal,
  refuse,
  tokenExpiry,
} from "../../enroll/decide.ts";
import { type Answer, type Issued, startEnrollServer } from "../../enroll/server.ts";
import { parseToken, tokenMatches } from "../../enroll/token.ts";
import { CLIENT_CA_DATA_KEY } from "../../jwt/endpoint.ts";
import { type ReconcileResult, runWorkers, WorkQueue } from "../../kube/queue.ts";
import { ENROLLMENTS, resourceClient } from "../../kube/resources.ts";
import type { PeerSvid } from "../../net/requests.ts";
import { isIssuedBy, spkiPin, splitPemCertificates } from "../../pki/certificate.ts";
import { type CertificateAuthority, loadCa } from "../../pki/index.ts";
import { EventRecorder } from "../../telemetry/events.ts";
import type { Runnable } from "../runnables.ts";
import type { OperatorContext } from "./context.ts";

/** The certificate of a PEM bundle that issued `leafPem`, if the bundle holds it. */
function issuerIn(bundlePem: string, leafPem: string): string | undefined {
  const leaf = new X509Certificate(leafPem);
  return splitPemCertificates(bundlePem).find((pem) => isIssuedBy(leaf, new X509Certificate(pem)));
}

/** What the enrollment endpoint and the token exchange mint an outside machine's SVID with. */
export interface ExternalIssuer {
  /**
   * An X.509-SVID of `identity` for the key of `csrPem`, if the identity may be issued to an outside
   * machine now. `presentedSpki` is the key of the certificate renewed, which the new one must not reuse.
   */
  x509For(
    identity: MachineIdentity | undefined,
    ref: string,
    csrPem: string,
    presentedSpki?: Buffer,
  ): Promise<
    | {
        ok: true;
        certificate: string;
        bundle: string;
        notAfter: Date;
        renewAfter: Date;
        spiffeId: string;
        serialNumber: string;
      }
    | Refusal
  >;
}

/**
 * Always on, on every replica that runs the controllers (it mints, so it reads the workload CA's
 * Secret): the enrollment endpoint. A token is consumed by a resourceVersion-guarded status write,
 * so that of all replicas exactly one use succeeds; a renewal likewise moves the Enrollment's
 * record to the new certificate. Everything else it reads from the caches.
 */
export function enrollmentEndpointUnit(
  ctx: OperatorContext,
  onPort: (port: number) => void,
  /** The token exchange (POST /v1/token), given what it mints X.509-SVIDs with; absent, it is not served. */
  exchange?: (issuer: ExternalIssuer) => (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Runnable {
  const { config, caches, metrics, now } = ctx;
  const log = ctx.log.child({ component: "enrollment" });
  return {
    name: "enrollment-endpoint",
    leaderElected: false,
    async start() {
      const enrollments = resourceClient(ctx.endpointKube, ENROLLMENTS);
      const events = new EventRecorder(ctx.endpointKube, log, { component: "enrollment" });
      let ca: { issuer: CertificateAuthority; bundlePem: string } | undefined;
      let serverCa = "";
      const rules = () => ({ ...ctx.claimRules, claimants: ctx.claimIndex });
      const policy = {
        trustDomain: config.trustDomain,
        minTtlMs: config.minTtlMs,
        maxTtlMs: config.maxTtlMs,
      };
      const synced = () =>
        caches.identities.hasSynced() &&
        caches.enrollments.hasSynced() &&
        caches.issuancePolicies.hasSynced() &&
        caches.namespaces.hasSynced();
      const notReady = (): Refusal | undefined =>
        !synced() || !ca || !serverCa
          ? refuse(
              503,
              EnrollReason.NotReady,
              "Signet's caches or CA are not loaded yet; retry in a few seconds",
            )
          : undefined;
      const scheduleOf = (mi: MachineIdentity | undefined) =>
        mi?.spec.scheduleRef
          ? caches.schedules.get(mi.metadata.namespace ?? "", mi.spec.scheduleRef.name)
          : undefined;

      const issuer: ExternalIssuer = {
        async x509For(identity, ref, csrPem, presentedSpki) {
          const unready = notReady();
          if (unready || !ca) return unready ?? refuse(503, EnrollReason.NotReady, "no CA");
          const at = now();
          const issuable = externalIssuance({
            ref,
            identity,
            schedule: scheduleOf(identity),
            claimRefusal: identity ? issuanceRefusal(identity, rules()) : undefined,
            now: at,
          });
          if (!issuable.ok || !identity)
            return issuable.ok ? refuse(403, EnrollReason.IdentityNotFound, ref) : issuable;
          const desired = desiredIdentity(identity, policy);
          if (!desired.ok) return refuse(403, desired.reason, desired.message);
          const key = await csrKey(csrPem);
          if (!key.ok) return refuse(400, key.reason, key.message);
          if (presentedSpki?.equals(key.spki)) {
            return refuse(
              400,
              EnrollReason.InvalidCSR,
              "the csr is for the key of the certificate being renewed; every renewal needs a fresh key",
            );
          }
          const validity = externalValidity({
            now: at,
            ttl: identity.spec.ttl,
            windowEnd: issuable.windowEnd,
            caNotBefore: ca.issuer.notBefore,
            caNotAfter: ca.issuer.notAfter,
          });
          if (!validity) {
            return refuse(
              503,
              EnrollReason.NotReady,
              "the issuing CA or the access window ends now; retry shortly",
            );
          }
          const { mintSvidForKey } = await import("../../pki/mint.ts");
          const minted = mintSvidForKey({
            ca: ca.issuer,
            spiffeId: desired.svid.spiffeId,
            dnsNames: desired.svid.dnsNames,
            keyAlgorithm: key.algorithm,
            publicKeySpki: key.spki,
            ...validity,
          });
          const life = validity.notAfter.getTime() - at.getTime();
          const renewBefore = Math.min(desired.svid.renewBeforeMs, Math.floor(life / 2));
          const jitter = Math.floor(Math.random() * renewBefore * 0.1);
          return {
            ok: true,
            certificate: minted.chainPem,
            bundle: ca.bundlePem,
            notAfter: validity.notAfter,
            renewAfter: new Date(validity.notAfter.getTime() - renewBefore + jitter),
            spiffeId: desired.svid.spiffeId,
            serialNumber: new X509Certificate(minted.certPem).serialNumber.toLowerCase(),
          };
        },
      };

      /** Counts and reports a used token presented again, or a superseded certificate: a possible theft. */
      const alarm = async (enrollment: Enrollment, reason: string, message: string, address: string) => {
        metrics.enrollmentAlarms.inc({ namespace: enrollment.metadata.namespace ?? "", reason });
        events.record(
          { apiVersion: enrollment.apiVersion, kind: enrollment.kind, metadata: enrollment.metadata },
          "Warning",
          reason,
          `${message} (from ${address})`,
        );
        log.warn(
          { audit: "enrollment", enrollment: keyOfEnrollment(enrollment), reason, address },
          "possible theft of an enrollment credential",
        );
        if (reason !== EnrollReason.TokenReplayed) return;
        for (let attempt = 0; attempt < 3; attempt++) {
          const fresh = await enrollments.find(enrollment.metadata.namespace ?? "", enrollment.metadata.name);
          if (!fresh) return;
          const status: EnrollmentStatus = {
            ...fresh.status,
            replays: (fresh.status?.replays ?? 0) + 1,
            lastReplay: { time: now().toISOString(), address },
          };
          try {
            await enrollments.replaceStatus({ ...fresh, status });
            return;
          } catch (err) {
            if (!isApiStatus(err, 409)) throw err;
          }
        }
      };

      const outcome = (answer: Answer, kind: "enroll" | "renew", namespace: string): Answer => {
        if (answer.ok) metrics.enrollments.inc({ operation: kind, outcome: "issued", reason: "", namespace });
        else
          metrics.enrollments.inc({ operation: kind, outcome: "refused", reason: answer.reason, namespace });
        return answer;
      };

      // One use of a token at a time in this replica, so that concurrent uses wait for the first
      // rather than all minting; across replicas the resourceVersion guard decides.
      const locks = new Map<string, Promise<unknown>>();
      const serially = <T>(key: string, work: () => Promise<T>): Promise<T> => {
        const previous = locks.get(key) ?? Promise.resolve();
        const run = previous.then(work, work);
        const tail = run.catch(() => undefined);
        locks.set(key, tail);
        void tail.then(() => locks.get(key) === tail && locks.delete(key));
        return run;
      };

      const enroll = async (request: {
        token: string;
        identity: string;
        csr: string;
        address: string;
      }): Promise<Answer> => {
        const parsed = parseToken(request.token);
        if (!parsed.ok) return outcome(refuse(401, EnrollReason.UnknownToken, parsed.message), "enroll", "");
        const { namespace, name } = parsed.ref;
        return outcome(
          await serially(`${namespace}/${name}`, async () => {
            const unready = notReady();
            if (unready) return unready;
            const found = await enrollments.find(namespace, name);
            const enrollment = found && tokenMatches(request.token, found.spec.tokenHash) ? found : undefined;
            const identity = enrollment
              ? caches.identities.get(namespace, enrollment.spec.identity)
              : undefined;
            const at = now();
            const decision = decideEnrollment({
              enrollment,
              requested: request.identity,
              identity,
              schedule: scheduleOf(identity),
              claimRefusal: identity ? issuanceRefusal(identity, rules()) : undefined,
              now: at,
            });
            if (!decision.ok) {
              if (decision.alarm && enrollment)
                await alarm(enrollment, decision.reason, decision.message, request.address);
              return decision;
            }
            if (!enrollment) return refuse(401, EnrollReason.UnknownToken, "unknown token");
            const ref = `${namespace}/${enrollment.spec.identity}`;
            const minted = await issuer.x509For(identity, ref, request.csr);
            if (!minted.ok) return minted;
            const status: EnrollmentStatus = {
              ...enrollment.status,
              phase: "Enrolled",
              expiresAt: decision.expiresAt.toISOString(),
              enrolledAt: at.toISOString(),
              address: request.address,
              certificate: { serialNumber: minted.serialNumber, notAfter: minted.notAfter.toISOString() },
              renewals: 0,
            };
            try {
              // The consumption: guarded by the resourceVersion read above, so that exactly one
              // use of the token, on any replica, is written.
              await enrollments.replaceStatus({ ...enrollment, status });
            } catch (err) {
              if (!isApiStatus(err, 409)) throw err;
              const fresh = await enrollments.find(namespace, name);
              if (fresh?.status?.enrolledAt) {
                const message = `the token of Enrollment ${namespace}/${name} was already used at ${fresh.status.enrolledAt}; a token enrolls once, so this use is reported as a possible theft`;
                await alarm(fresh, EnrollReason.TokenReplayed, message, request.address);
                return refuse(401, EnrollReason.TokenReplayed, message);
              }
              return refuse(
                409,
                EnrollReason.Conflict,
                `Enrollment ${namespace}/${name} changed meanwhile; retry`,
              );
            }
            const message = `a machine at ${request.address} enrolled as ${ref} (${minted.spiffeId}), certificate ${minted.serialNumber} valid until ${minted.notAfter.toISOString()}`;
            events.record(
              { apiVersion: enrollment.apiVersion, kind: enrollment.kind, metadata: enrollment.metadata },
              "Normal",
              "Enrolled",
              message,
            );
            if (identity)
              events.record(
                { apiVersion: identity.apiVersion, kind: identity.kind, metadata: identity.metadata },
                "Normal",
                "Enrolled",
                `${message}, with the token of Enrollment ${name}`,
              );
            log.info(
              {
                audit: "enrollment",
                enrollment: `${namespace}/${name}`,
                tokenHash: enrollment.spec.tokenHash.slice(0, 19),
                identity: ref,
                spiffeId: minted.spiffeId,
                address: request.address,
                serial: minted.serialNumber,
                notAfter: minted.notAfter.toISOString(),
              },
              "machine enrolled",
            );
            return issued(minted, ref, `${namespace}/${name}`);
          }),
          "enroll",
          namespace,
        );
      };

      const issued = (
        minted: { certificate: string; bundle: string; notAfter: Date; renewAfter: Date; spiffeId: string },
        identity: string,
        enrollment: string,
      ): Issued => ({ ok: true, ...minted, serverCA: serverCa, identity, enrollment });

      const renew = async (request: { peer: PeerSvid; csr: string; address: string }): Promise<Answer> => {
        const unready = notReady();
        if (unready) return outcome(unready, "renew", "");
        const cached = bySerial(request.peer.serialNumber);
        if (!cached) {
          return outcome(
            refuse(
              403,
              EnrollReason.UnknownCertificate,
              "no Enrollment records this certificate (it was deleted, or the certificate was never enrolled); enroll again with a new token",
            ),
            "renew",
            "",
          );
        }
        const namespace = cached.metadata.namespace ?? "";
        const name = cached.metadata.name;
        return outcome(
          await serially(`${namespace}/${name}`, async () => {
            const enrollment = await enrollments.find(namespace, name);
            const identity = enrollment
              ? caches.identities.get(namespace, enrollment.spec.identity)
              : undefined;
            const desired = identity ? desiredIdentity(identity, policy) : undefined;
            const at = now();
            const decision = decideRenewal({
              enrollment,
              serialNumber: request.peer.serialNumber,
              spiffeId: request.peer.spiffeId,
              identitySpiffeId: desired?.ok ? desired.svid.spiffeId : undefined,
              identity,
              schedule: scheduleOf(identity),
              claimRefusal: identity ? issuanceRefusal(identity, rules()) : undefined,
              now: at,
            });
            if (!decision.ok || !enrollment) {
              if (!decision.ok && decision.alarm && enrollment)
                await alarm(enrollment, decision.reason, decision.message, request.address);
              return decision.ok ? refuse(403, EnrollReason.UnknownCertificate, "no Enrollment") : decision;
            }
            const ref = `${namespace}/${enrollment.spec.identity}`;
            const presented = new X509Certificate(request.peer.pem).publicKey.export({
              format: "der",
              type: "spki",
            });
            const minted = await issuer.x509For(identity, ref, request.csr, presented);
            if (!minted.ok) return minted;
            const current = enrollment.status?.certificate;
            const status: EnrollmentStatus = {
              ...enrollment.status,
              certificate: { serialNumber: minted.serialNumber, notAfter: minted.notAfter.toISOString() },
              // A retry with the certificate renewed last keeps that one as the previous.
              ...(current && current.serialNumber === request.peer.serialNumber
                ? { previous: { serialNumber: current.serialNumber, supersededAt: at.toISOString() } }
                : {}),
              renewals: (enrollment.status?.renewals ?? 0) + 1,
              lastRenewalTime: at.toISOString(),
            };
            try {
              await enrollments.replaceStatus({ ...enrollment, status });
            } catch (err) {
              if (!isApiStatus(err, 409)) throw err;
              return refuse(
                409,
                EnrollReason.Conflict,
                `Enrollment ${namespace}/${name} changed meanwhile; retry`,
              );
            }
            log.info(
              {
                audit: "renewal",
                enrollment: `${namespace}/${name}`,
                identity: ref,
                spiffeId: minted.spiffeId,
                address: request.address,
                previousSerial: request.peer.serialNumber,
                serial: minted.serialNumber,
                notAfter: minted.notAfter.toISOString(),
              },
              "machine renewed",
            );
            return issued(minted, ref, `${namespace}/${name}`);
          }),
          "renew",
          namespace,
        );
      };

      // The Enrollment that records a certificate, current or renewed last. A scan of the cache:
      // renewals are rare, and no index has to follow every renewal.
      const bySerial = (serial: string) =>
        caches.enrollments
          .list()
          .find(
            (e) =>
              e.status?.certificate?.serialNumber === serial || e.status?.previous?.serialNumber === serial,
          );

      const server = await startEnrollServer({
        trustDomain: config.trustDomain,
        enroll,
        renew,
        serverCa: () => serverCa,
        exchange: exchange?.(issuer),
        logger: log,
        port: config.enrollmentPort,
        host: config.enrollmentHost,
      });
      onPort(server.port);

      const loadCaSecret = (secret: k8s.V1Secret) => {
        const data = decodeSecretData(secret.data);
        try {
          const loaded = loadCa(data["tls.crt"] ?? "", data["tls.key"] ?? "", { now: now() });
          ca = { issuer: loaded, bundlePem: data["ca.crt"] || loaded.rootPem };
        } catch (err) {
          log.warn(
            { err: (err as Error).message },
            "workload CA rejected; the enrollment endpoint keeps the previous one",
          );
        }
      };
      const loadTls = (secret: k8s.V1Secret) => {
        const data = decodeSecretData(secret.data);
        try {
          server.setTls(data["tls.crt"] ?? "", data["tls.key"] ?? "", data[CLIENT_CA_DATA_KEY] ?? "");
          serverCa = data["ca.crt"] ?? "";
        } catch (err) {
          log.warn({ err: (err as Error).message }, "enrollment endpoint certificate rejected");
        }
      };
      // The alarm series of a namespace exist at zero once it has an Enrollment, so that
      // increase() sees the first possible theft.
      const zeroAlarms = (e: Enrollment) => {
        for (const reason of [EnrollReason.TokenReplayed, EnrollReason.SupersededCertificate])
          metrics.enrollmentAlarms.inc({ namespace: e.metadata.namespace ?? "", reason }, 0);
      };
      for (const e of caches.enrollments.list()) zeroAlarms(e);
      const offs = [
        caches.enrollments.on("add", zeroAlarms),
        caches.enrollmentTlsSecret.on("add", loadTls),
        caches.enrollmentTlsSecret.on("update", loadTls),
        ...(caches.caSecret
          ? [caches.caSecret.on("add", loadCaSecret), caches.caSecret.on("update", loadCaSecret)]
          : []),
      ];
      for (const s of caches.enrollmentTlsSecret.list()) loadTls(s);
      for (const s of caches.caSecret?.list() ?? []) loadCaSecret(s);
      return async () => {
        for (const off of offs) off();
        await server.close();
      };
    },
  };
}

function keyOfEnrollment(e: Enrollment): string {
  return `${e.metadata.namespace ?? ""}/${e.metadata.name}`;
}

/**
 * Leader-elected: gives every new Enrollment its phase Pending, the token's expiry and the pin of
 * the serving CA the machine checks the endpoint with, and marks an unused token Expired when its
 * time is up. The endpoints write the rest (Enrolled, renewals, replays).
 */
export function enrollmentsUnit(ctx: OperatorContext): Runnable {
  const { caches, now, log } = ctx;
  return {
    name: "enrollments",
    leaderElected: true,
    async start() {
      const client = resourceClient(ctx.kube, ENROLLMENTS);
      const queue = new WorkQueue({ name: "enrollments", metrics: ctx.metrics, baseDelayMs: 1_000 });
      const pinOf = (): string | undefined => {
        for (const secret of caches.enrollmentTlsSecret.list()) {
          const data = decodeSecretData(secret.data);
          const issuerPem =
            data["tls.crt"] && data["ca.crt"] ? issuerIn(data["ca.crt"], data["tls.crt"]) : undefined;
          if (issuerPem) return spkiPin(issuerPem);
        }
        return undefined;
      };
      const reconcile = async (key: string): Promise<ReconcileResult> => {
        const [namespace = "", name = ""] = key.split("/");
        const enrollment = caches.enrollments.get(namespace, name);
        if (!enrollment || enrollment.status?.phase === "Enrolled" || enrollment.status?.phase === "Expired")
          return {};
        const identity = caches.identities.get(namespace, enrollment.spec.identity);
        const expiresAt = tokenExpiry({
          createdAt: new Date(String(enrollment.metadata.creationTimestamp ?? now().toISOString())),
          ttl: enrollment.spec.ttl,
          identityTtl: identity?.spec.ttl,
        });
        const pin = pinOf();
        const expired = now() >= expiresAt;
        const status: EnrollmentStatus = {
          ...enrollment.status,
          phase: expired ? "Expired" : "Pending",
          expiresAt: expiresAt.toISOString(),
          ...(pin ? { server: { caSHA256: pin } } : {}),
        };
        if (JSON.stringify(status) !== JSON.stringify(enrollment.status ?? {})) {
          try {
            await client.replaceStatus({ ...enrollment, status });
          } catch (err) {
            // An endpoint consumed it meanwhile, or it was deleted: the next event decides again.
            if (isApiStatus(err, 409) || isApiStatus(err, 404)) return {};
            throw err;
          }
        }
        if (!pin) return { requeueAfterMs: 1_000 };
        return expired ? {} : { requeueAfterMs: Math.max(1, expiresAt.getTime() - now().getTime()) };
      };
      const workers = runWorkers({
        queue,
        concurrency: 2,
        reconcile,
        onError: (key, err) =>
          log.error({ enrollment: key, err: (err as Error).message }, "enrollment reconcile failed"),
      });
      const enqueue = (e: Enrollment) => queue.add(keyOfEnrollment(e));
      const offs = [caches.enrollments.on("add", enqueue), caches.enrollments.on("update", enqueue)];
      for (const e of caches.enrollments.list()) enqueue(e);
      return async () => {
        for (const off of offs) off();
        queue.shutDown();
        await workers;
      };
    },
  };
}
