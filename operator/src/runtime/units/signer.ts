import type { KubeClient } from "../../kube/client.ts";
import { keyOf, type Unsubscribe } from "../../kube/informer.ts";
import { runWorkers, WorkQueue } from "../../kube/queue.ts";
import { PODS, resourceClient } from "../../kube/resources.ts";
import { PodCertificateSigner } from "../../signer/controller.ts";
import {
  CLUSTER_TRUST_BUNDLES,
  type ClusterTrustBundle,
  POD_CERTIFICATE_REQUESTS,
  type PodCertificateRequest,
  SIGNER_FIELD_SELECTOR,
} from "../../signer/request.ts";
import type { PodCertificateTally } from "../../signer/tally.ts";
import { trustBundleObject } from "../../signer/trust-bundle.ts";
import { EventRecorder } from "../../telemetry/events.ts";
import { logRetry } from "../../telemetry/logger.ts";
import { informerFor, logWatchErrors } from "../informers.ts";
import type { Runnable } from "../runnables.ts";
import type { OperatorContext } from "./context.ts";
import type { CaHolder } from "./pki.ts";

/**
 * Leader-elected: Signet's signer for the kubelet's podCertificate volumes (signet.dev/svid), and
 * the ClusterTrustBundle that publishes its roots. On a cluster that serves no
 * PodCertificateRequests it waits for API discovery to show them, and signs nothing.
 */
export function signerUnit(ctx: OperatorContext, ca: CaHolder, tally: PodCertificateTally): Runnable {
  const { config, log, metrics, now, caches } = ctx;
  return {
    name: "pod-certificate-signer",
    leaderElected: true,
    async start(signal) {
      const stopped = new AbortController();
      const done = run(stopped.signal).catch((err: unknown) => {
        if (!stopped.signal.aborted)
          log.error({ err: (err as Error).message }, "pod certificate signer stopped");
      });
      return async () => {
        stopped.abort();
        await done;
      };

      async function run(stop: AbortSignal): Promise<void> {
        // The discovery unit (always on, started first) says whether PodCertificateRequests are served.
        if (!ctx.podCertificates.current().supported) {
          log.info(
            "the API server serves no certificates.k8s.io PodCertificateRequests; the pod certificate signer waits for them",
          );
          await new Promise<void>((resolve) => {
            const off = ctx.podCertificates.onChange(() => {
              if (!ctx.podCertificates.current().supported) return;
              off();
              resolve();
            });
            stop.addEventListener(
              "abort",
              () => {
                off();
                resolve();
              },
              { once: true },
            );
          });
          if (stop.aborted || signal.aborted) return;
        }
        const requests = informerFor<PodCertificateRequest>(
          ctx.kube,
          POD_CERTIFICATE_REQUESTS,
          config.watchNamespaces,
          {
            fieldSelector: SIGNER_FIELD_SELECTOR,
          },
        );
        const offs: Unsubscribe[] = [logWatchErrors(log, "podcertificaterequests", requests)];
        const queue = new WorkQueue({ name: "podcertificaterequest", metrics });
        const signer = new PodCertificateSigner({
          requests,
          api: resourceClient(ctx.kube, POD_CERTIFICATE_REQUESTS),
          pods: resourceClient(ctx.kube, PODS),
          identities: caches.identities,
          schedules: caches.schedules,
          issuance: { ...ctx.claimRules, claimants: ctx.claimIndex },
          policy: { trustDomain: config.trustDomain, minTtlMs: config.minTtlMs, maxTtlMs: config.maxTtlMs },
          ca: () => ca.current(),
          tally,
          events: new EventRecorder(ctx.kube, log, { component: "signet-signer" }),
          metrics,
          log: log.child({ controller: "podcertificaterequest" }),
          now,
        });
        const enqueue = (r: PodCertificateRequest) => queue.add(keyOf(r));
        offs.push(requests.on("add", enqueue), requests.on("update", enqueue));
        const workers = runWorkers({
          queue,
          concurrency: config.workers,
          reconcile: metrics.tracked("podcertificaterequest", (key: string) => signer.reconcile(key)),
          onResult: (_key, outcome, ms) => metrics.observeReconcile("podcertificaterequest", outcome, ms),
          onError: (key, err) => logRetry(log, { request: key }, "pod certificate request failed", err),
        });
        // Where ClusterTrustBundles are not served, ca.crt comes from a ConfigMap the MachineIdentity
        // controller keeps instead.
        const publish = async () => {
          const support = ctx.podCertificates.current();
          if (!support.supported || support.trustBundle !== "ClusterTrustBundle") return;
          await publishTrustBundle(ctx.kube, ca, ctx).catch((err: unknown) =>
            log.warn(
              { err: (err as Error).message },
              "ClusterTrustBundle not written; retried at the next trust change or restart",
            ),
          );
        };
        offs.push(
          ca.onTrustChanged(() => void publish()),
          ctx.podCertificates.onChange(() => void publish()),
        );
        await publish();
        await requests.start();
        log.info({ selector: SIGNER_FIELD_SELECTOR }, "pod certificate signer started");
        await new Promise<void>((resolve) => stop.addEventListener("abort", () => resolve(), { once: true }));
        for (const off of offs) off();
        requests.stop();
        queue.shutDown();
        await workers;
      }
    },
  };
}

/**
 * Applies Signet's ClusterTrustBundle: every root the workload bundle trusts (both during a CA
 * rotation). It is owned by Signet's MutatingWebhookConfiguration, a cluster-scoped object of the
 * release, so that uninstalling Signet garbage-collects it.
 */
async function publishTrustBundle(kube: KubeClient, ca: CaHolder, ctx: OperatorContext): Promise<void> {
  const owner = ctx.config.webhookConfigurationName;
  const ownerUid = owner
    ? (
        await kube.request<{ metadata?: { uid?: string } }>(
          "GET",
          `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(owner)}`,
        )
      ).metadata?.uid
    : undefined;
  const bundle: ClusterTrustBundle = trustBundleObject(
    ca.current().bundlePem,
    owner && ownerUid ? { name: owner, uid: ownerUid } : undefined,
  );
  await resourceClient(kube, CLUSTER_TRUST_BUNDLES).apply(bundle);
}
