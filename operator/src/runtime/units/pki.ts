import type * as k8s from "@kubernetes/client-node";
import { SERVING_CA_SECRET_NAME } from "../../api/names.ts";
import { type CaState, CaStore } from "../../controllers/ca/store.ts";
import { SERVING_TTL_MS, WebhookCertKeeper } from "../../controllers/webhookcert/keeper.ts";
import { CLIENT_CA_DATA_KEY } from "../../jwt/endpoint.ts";
import { systemClock } from "../../kube/clock.ts";
import { type ReconcileResult, runWorkers, untilIdle, WorkQueue } from "../../kube/queue.ts";
import { informerFor, logWatchErrors, type MultiInformer } from "../informers.ts";
import type { Runnable } from "../runnables.ts";
import { type OperatorContext, retryUntil } from "./context.ts";

/** The workload CA as the PKI unit last read it, and who wants to hear when its trust changes. */
export class CaHolder {
  #current: CaState | undefined;
  readonly #listeners = new Set<() => void>();

  /** The CA to mint with; only leader-elected units started after the PKI unit read it. */
  current(): CaState {
    if (!this.#current) throw new Error("the workload CA has not been read yet");
    return this.#current;
  }

  /** Called when the trust bundle or the issuing root changes; the returned function unsubscribes. */
  onTrustChanged(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(next: CaState | undefined): void {
    const previous = this.#current;
    this.#current = next;
    if (!previous || !next) return;
    if (
      next.bundlePem !== previous.bundlePem ||
      next.issuer.rootFingerprint !== previous.issuer.rootFingerprint
    ) {
      for (const listener of this.#listeners) listener();
    }
  }
}

/**
 * Leader-elected: the workload CA (read, or created once, and rotated), Signet's serving CA, the
 * webhook's serving certificate with the caBundle of the webhook configurations, and the JWT
 * endpoint's serving certificate with the workload trust bundle. Its start resolves once the
 * workload CA is known, so the units after it can mint.
 */
export function pkiUnit(ctx: OperatorContext, holder: CaHolder): Runnable {
  const { config, log, now } = ctx;
  return {
    name: "pki",
    leaderElected: true,
    async start(signal) {
      const owned = await ctx.owners(signal);
      const caStore = new CaStore({
        kube: ctx.kube,
        namespace: config.namespace,
        secretName: config.caSecretName,
        purpose: "workload",
        userSecretName: config.userCaSecretName,
        trustDomain: config.trustDomain,
        leafMaxTtlMs: config.maxTtlMs,
        now,
        ownerReferences: owned,
      });
      // Signet's own endpoints get a CA of their own: the webhook configurations trust only it, so
      // no workload SVID (whatever DNS names it claims) is ever accepted as Signet's webhook.
      const servingCaStore = new CaStore({
        kube: ctx.kube,
        namespace: config.namespace,
        secretName: SERVING_CA_SECRET_NAME,
        purpose: "serving",
        trustDomain: config.trustDomain,
        leafMaxTtlMs: SERVING_TTL_MS,
        now,
        ownerReferences: owned,
      });
      const keeper = new WebhookCertKeeper({
        kube: ctx.kube,
        namespace: config.namespace,
        secretName: config.webhookSecretName,
        dnsNames: config.webhookDnsNames,
        ipAddresses: config.webhookIpAddresses,
        mutatingWebhookConfigurationName: config.webhookConfigurationName,
        validatingWebhookConfigurationName: config.validatingWebhookConfigurationName,
        log,
        now,
        ownerReferences: owned,
      });
      // The JWT endpoint serves from the serving CA too; its Secret also carries the workload trust
      // bundle it verifies callers' X.509-SVIDs with, so that no replica needs the CA Secret.
      const jwtKeeper = new WebhookCertKeeper({
        kube: ctx.kube,
        namespace: config.namespace,
        secretName: config.jwtTlsSecretName,
        dnsNames: config.jwtDnsNames,
        ipAddresses: config.jwtIpAddresses,
        mutatingWebhookConfigurationName: undefined,
        validatingWebhookConfigurationName: undefined,
        log: log.child({ component: "jwt" }),
        now,
        ownerReferences: owned,
      });
      // The enrollment endpoint likewise: renewals are verified against the workload trust bundle.
      const enrollmentKeeper = new WebhookCertKeeper({
        kube: ctx.kube,
        namespace: config.namespace,
        secretName: config.enrollmentTlsSecretName,
        dnsNames: config.enrollmentDnsNames,
        ipAddresses: config.enrollmentIpAddresses,
        mutatingWebhookConfigurationName: undefined,
        validatingWebhookConfigurationName: undefined,
        log: log.child({ component: "enrollment" }),
        now,
        ownerReferences: owned,
      });
      holder.set(await retryUntil(() => caStore.reconcile(), signal, log, "CA"));

      // The workload CA, the serving CA and the webhook certificate are looked at again when the
      // soonest of them is due (at least every hour, at most every second), as one key of a work
      // queue: a wake-up while a pass runs gives one more pass after it, a failure is retried
      // with the queue's backoff, and stopping ends the timers with the queue.
      const queue = new WorkQueue({ name: "pki", metrics: ctx.metrics, baseDelayMs: 1_000 });
      const PASS = "pki";
      const pass = async (): Promise<ReconcileResult> => {
        holder.set(await caStore.reconcile());
        const serving = await servingCaStore.reconcile();
        const keeperNext = await keeper.reconcile(serving);
        const jwtNext = await jwtKeeper.reconcile(serving, {
          [CLIENT_CA_DATA_KEY]: holder.current().bundlePem,
        });
        const enrollmentNext = await enrollmentKeeper.reconcile(serving, {
          [CLIENT_CA_DATA_KEY]: holder.current().bundlePem,
        });
        const due = Math.min(
          keeperNext.getTime(),
          jwtNext.getTime(),
          enrollmentNext.getTime(),
          holder.current().nextCheck?.getTime() ?? Number.POSITIVE_INFINITY,
          serving.nextCheck?.getTime() ?? Number.POSITIVE_INFINITY,
        );
        return { requeueAfterMs: Math.min(Math.max(1_000, due - now().getTime()), 3_600_000) };
      };
      /** Looks again at once (or right after the pass in progress). */
      const wake = () => queue.add(PASS);
      const workers = runWorkers({
        queue,
        concurrency: 1,
        reconcile: pass,
        onError: (_key, err) =>
          signal.aborted ||
          log.error({ err: (err as Error).message }, "CA or serving certificate reconcile failed"),
      });
      // The first pass before the unit counts as started: the webhook has its certificate (or the
      // failure is logged and retried with backoff).
      queue.add(PASS);
      await untilIdle(queue, systemClock, Number.POSITIVE_INFINITY);
      // The caBundle follows edits of the webhook configurations at once (a Helm upgrade, an Argo
      // sync or a kubectl replace that drops it), not at the next timer: each is watched by name.
      const watched = webhookConfigurations(ctx);
      const offs = watched.flatMap(([name, informer]) => [
        informer.on("add", wake),
        informer.on("update", wake),
        logWatchErrors(log, name, informer),
      ]);
      for (const [, informer] of watched) {
        informer.start().catch(() => undefined);
      }
      return async () => {
        for (const off of offs) off();
        for (const [, informer] of watched) informer.stop();
        queue.shutDown();
        await workers;
        holder.set(undefined);
      };
    },
  };
}

/** Informers on the webhook configurations whose caBundle the operator keeps, each by its name. */
function webhookConfigurations(ctx: OperatorContext): [string, MultiInformer<k8s.KubernetesObject>][] {
  const group = "admissionregistration.k8s.io";
  const watch = (
    plural: string,
    name: string | undefined,
  ): [string, MultiInformer<k8s.KubernetesObject>][] =>
    name
      ? [
          [
            plural,
            informerFor(ctx.kube, { group, version: "v1", plural }, [], {
              fieldSelector: `metadata.name=${name}`,
            }),
          ],
        ]
      : [];
  return [
    ...watch("mutatingwebhookconfigurations", ctx.config.webhookConfigurationName),
    ...watch("validatingwebhookconfigurations", ctx.config.validatingWebhookConfigurationName),
  ];
}
