import { isDeepStrictEqual } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { VALIDATE_MACHINE_IDENTITIES_PATH } from "../../../../webhooks/src/configuration.ts";
import type { PodCertificateSupport } from "../../../../webhooks/src/decide.ts";
import { startWebhookServer } from "../../../../webhooks/src/server.ts";
import { decodeSecretData } from "../../controllers/shared/secret-data.ts";
import { validateMachineIdentities } from "../../issuance/admission.ts";
import { systemClock, type TimerSource } from "../../kube/clock.ts";
import { isNotFound } from "../../kube/errors.ts";
import { listsResource } from "../../signer/trust-bundle.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { Runnable } from "../runnables.ts";
import { type OperatorContext, pause } from "./context.ts";

/**
 * The discovery documents that say whether the API server serves pod certificates: each resource is
 * looked for in either version (beta now, GA later).
 */
export const CERTIFICATES_DISCOVERY_PATHS = [
  "/apis/certificates.k8s.io/v1beta1",
  "/apis/certificates.k8s.io/v1",
] as const;

/** How often discovery is read again: a feature gate changes only with an API server restart. */
export const POD_CERTIFICATE_CHECK_INTERVAL_MS = 60_000;

/**
 * Whether the API server serves pod certificates, from its discovery of certificates.k8s.io: one
 * APIResourceList per CERTIFICATES_DISCOVERY_PATHS entry, undefined where the version is not served
 * (404). Anything that is not a list of resources counts as serving nothing. PodCertificateRequests,
 * which the kubelet sends Signet's signer, are required; ClusterTrustBundles only choose where ca.crt
 * comes from (a cluster may serve the requests, GA in 1.37, while the bundles stay beta and off).
 */
export function podCertificateSupportOf(lists: readonly unknown[]): PodCertificateSupport {
  const serves = (resource: string) => lists.some((list) => listsResource(list, resource));
  if (!serves("podcertificaterequests")) {
    return {
      supported: false,
      missing:
        "the API server serves no certificates.k8s.io PodCertificateRequests: enable the PodCertificateRequest " +
        "feature gate and the certificates.k8s.io/v1beta1 API",
    };
  }
  return { supported: true, trustBundle: serves("clustertrustbundles") ? "ClusterTrustBundle" : "ConfigMap" };
}

export interface PodCertificateDiscoveryOptions {
  /** GETs a discovery path; rejects with the HTTP status in `code` (404: the version is not served). */
  get: (path: string, signal: AbortSignal) => Promise<unknown>;
  log: Logger;
  /** Told every answer, as it is taken (the operator's shared PodCertificateCapability). */
  onAnswer?: (support: PodCertificateSupport) => void;
  intervalMs?: number;
  timers?: TimerSource;
}

export interface PodCertificateDiscovery {
  /** The last answer; unsupported until discovery has said otherwise. */
  current(): PodCertificateSupport;
  /** Resolves once the first reading has an answer or has failed. */
  readonly first: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Reads discovery at once and then every interval. A reading that fails keeps the answer before it
 * (a gate does not change without an API server restart, and the validating webhook still refuses a
 * pod whose certificate source the API server dropped); before any answer, pod certificates are
 * unsupported, so that a PodCertificate identity is refused rather than guessed at.
 */
export function discoverPodCertificateSupport(
  options: PodCertificateDiscoveryOptions,
): PodCertificateDiscovery {
  const { get, log, onAnswer } = options;
  const abort = new AbortController();
  let support: PodCertificateSupport = {
    supported: false,
    missing:
      "Signet has not yet read the API server's discovery of certificates.k8s.io; retry in a few seconds",
  };
  let answered = false;
  let firstDone: () => void = () => {};
  const first = new Promise<void>((resolve) => {
    firstDone = resolve;
  });
  const read = async (): Promise<PodCertificateSupport> => {
    const lists = await Promise.all(
      CERTIFICATES_DISCOVERY_PATHS.map((path) =>
        get(path, abort.signal).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        }),
      ),
    );
    return podCertificateSupportOf(lists);
  };
  const running = (async () => {
    while (!abort.signal.aborted) {
      try {
        const next = await read();
        if (!answered || !isDeepStrictEqual(next, support)) log.info(next, "pod certificate support");
        support = next;
        answered = true;
        onAnswer?.(support);
      } catch (err) {
        if (abort.signal.aborted) break;
        const message = (err as Error).message;
        log.warn({ err: message, answered }, "API discovery of certificates.k8s.io failed");
        if (!answered) {
          support = {
            supported: false,
            missing: `Signet could not read the API server's discovery of certificates.k8s.io (${message}); retry in a minute`,
          };
          onAnswer?.(support);
        }
      }
      firstDone();
      await pause(
        options.intervalMs ?? POD_CERTIFICATE_CHECK_INTERVAL_MS,
        abort.signal,
        options.timers ?? systemClock,
      ).catch(() => {});
    }
    firstDone();
  })();
  return {
    current: () => support,
    first,
    stop: async () => {
      abort.abort(new Error("stopped"));
      await running;
    },
  };
}

/**
 * Always on, on every replica that runs the webhook or the controllers: reads API discovery for
 * whether pod certificates are served into ctx.podCertificates, which the webhook decides pods by and
 * the MachineIdentity controller keeps trust ConfigMaps by. Added before the webhook unit, whose
 * start it holds until the first answer, so that a pod created right after start is not refused for
 * want of one; a slow API server delays start by at most the request's timeout.
 */
export function podCertificateDiscoveryUnit(ctx: OperatorContext): Runnable {
  return {
    name: "pod-certificate-discovery",
    leaderElected: false,
    async start() {
      const discovery = discoverPodCertificateSupport({
        get: (path, signal) => ctx.kube.request("GET", path, { signal, timeoutMs: 10_000 }),
        log: ctx.log.child({ component: "discovery" }),
        onAnswer: (support) => ctx.podCertificates.set(support),
      });
      await discovery.first;
      return () => discovery.stop();
    },
  };
}

/**
 * Always on, on every replica: the admission webhooks, serving the certificate the leader keeps in
 * the webhook Secret (reloaded whenever that Secret changes). It reads the caches, and whether pod
 * certificates are served (podCertificateDiscoveryUnit), and writes nothing.
 */
export function webhookUnit(ctx: OperatorContext, onPort: (port: number) => void): Runnable {
  const { config, log, caches } = ctx;
  return {
    name: "webhook",
    leaderElected: false,
    async start() {
      const webhookLog = log.child({ component: "webhook" });
      const webhook = await startWebhookServer({
        trustDomain: config.trustDomain,
        podCertificates: () => ctx.podCertificates.current(),
        ...(config.proxyImage ? { proxyImage: config.proxyImage } : {}),
        lookupIdentity: (ns, name) => caches.identities.get(ns, name),
        listIdentities: (ns) => caches.identities.list(ns),
        identitiesSynced: () => caches.identities.hasSynced(),
        logger: webhookLog,
        registry: ctx.metrics.registry,
        port: config.webhookPort,
        ...(config.webhookHost ? { host: config.webhookHost } : {}),
        handlers: {
          [VALIDATE_MACHINE_IDENTITIES_PATH]: validateMachineIdentities({
            ...ctx.claimRules,
            claimants: ctx.claimIndex,
            secret: (namespace, name) => caches.secrets.get(namespace, name),
            reserved: ctx.reservedSecrets,
            synced: () =>
              caches.identities.hasSynced() &&
              caches.issuancePolicies.hasSynced() &&
              caches.namespaces.hasSynced(),
          }),
        },
      });
      onPort(webhook.port);
      const load = (secret: k8s.V1Secret) => {
        if (secret.metadata?.name !== config.webhookSecretName) return;
        const { "tls.crt": crt = "", "tls.key": key = "" } = decodeSecretData(secret.data);
        try {
          webhook.setServingCertificate(crt, key);
          log.info("webhook serving certificate loaded");
        } catch (err) {
          log.warn({ err: (err as Error).message }, "webhook serving certificate rejected");
        }
      };
      const offs = [caches.webhookSecret.on("add", load), caches.webhookSecret.on("update", load)];
      for (const s of caches.webhookSecret.list()) load(s);
      return async () => {
        for (const off of offs) off();
        await webhook.close();
      };
    },
  };
}
