import type * as k8s from "@kubernetes/client-node";
import {
  type AccessSchedule,
  IDENTITY_LABEL,
  IDENTITY_SECRET_LABEL,
  type MachineIdentity,
  spiffeIDOf,
} from "../../api/index.ts";
import { RekeyLimiter } from "../../controllers/machineidentity/pacing.ts";
import {
  MachineIdentityReconciler,
  machineIdentityApi,
} from "../../controllers/machineidentity/reconciler.ts";
import { keyOf, type Unsubscribe } from "../../kube/informer.ts";
import { OwnWrites } from "../../kube/own-writes.ts";
import { runWorkers, WorkQueue } from "../../kube/queue.ts";
import type { PartialObjectMetadata } from "../../kube/resources.ts";
import type { PodCertificateTally } from "../../signer/tally.ts";
import { EventRecorder } from "../../telemetry/events.ts";
import { soonestExpiry } from "../../telemetry/expiry.ts";
import { logRetry } from "../../telemetry/logger.ts";
import type { Runnable } from "../runnables.ts";
import type { OperatorContext } from "./context.ts";
import type { CaHolder } from "./pki.ts";

/** How long the signer's counts wait for more before they are written to an identity's status. */
const COUNTS_COALESCE_MS = 1_000;

/**
 * Leader-elected: the MachineIdentity controller. Every handler it registers, its queue, its
 * workers and its timer belong to one term and are gone when it stops.
 */
export function identitiesUnit(ctx: OperatorContext, ca: CaHolder, tally?: PodCertificateTally): Runnable {
  const { config, log, metrics, now, caches, claimIndex } = ctx;
  return {
    name: "machineidentities",
    leaderElected: true,
    async start() {
      const events = new EventRecorder(ctx.kube, log, { component: "signet-controller" });
      const queue = new WorkQueue({ name: "machineidentity", metrics });
      const ownWrites = new OwnWrites({ now: () => now().getTime() });
      const reconciler = new MachineIdentityReconciler({
        api: machineIdentityApi(ctx.kube),
        policy: { trustDomain: config.trustDomain, minTtlMs: config.minTtlMs, maxTtlMs: config.maxTtlMs },
        ca: () => ca.current(),
        identities: caches.identities,
        secrets: caches.secrets,
        schedules: caches.schedules,
        pods: caches.pods,
        events,
        metrics,
        log: log.child({ controller: "machineidentity" }),
        now,
        ownWrites,
        reserved: ctx.reservedSecrets,
        issuance: ctx.claimRules,
        claimants: claimIndex,
        requeue: (key) => queue.add(key),
        podCertificates: tally,
        podCertificateSupport: () => ctx.podCertificates.current(),
        pacing: { issuerSpreadMs: config.issuerSpreadMs, limiter: new RekeyLimiter(config.rekeysPerSecond) },
      });
      const enqueueAll = () => {
        for (const mi of caches.identities.list()) queue.add(keyOf(mi));
      };
      const offs: Unsubscribe[] = [];
      // One SPIFFE ID, one holder: when an identity lets go of an ID (deleted, or claiming another),
      // the others that claim it are looked at again, since one of them may now hold it.
      offs.push(
        claimIndex.onReleased((spiffeId, released) => {
          for (const rival of claimIndex.bySpiffeId(spiffeId)) {
            if (keyOf(rival) !== released) queue.add(keyOf(rival));
          }
        }),
      );
      // Every ca.crt follows the workload trust bundle, and the trust ConfigMaps what discovery says.
      offs.push(ca.onTrustChanged(enqueueAll), ctx.podCertificates.onChange(enqueueAll));
      // The status counts what the pod certificate signer issued and denied: one status write a
      // second at most per identity, however many pods start at once.
      if (tally) offs.push(tally.onChange((key) => queue.addAfter(key, COUNTS_COALESCE_MS)));
      // And when an identity comes to claim an ID others claim too, they are looked at again: one
      // of them may have minted before this claimant was in the cache and must now give the ID up.
      const onIdentity = (mi: MachineIdentity) => {
        if (ownWrites.isOwn("MachineIdentity", mi)) return;
        queue.add(keyOf(mi));
        for (const rival of claimIndex.bySpiffeId(spiffeIDOf(mi, config.trustDomain)))
          queue.add(keyOf(rival));
      };
      const onSecret = (s: k8s.V1Secret) => {
        const owner = s.metadata?.labels?.[IDENTITY_SECRET_LABEL];
        if (owner && !ownWrites.isOwn("Secret", s)) queue.add(`${s.metadata?.namespace}/${owner}`);
      };
      const onPod = (p: PartialObjectMetadata) => {
        const id = p.metadata?.labels?.[IDENTITY_LABEL];
        if (id) queue.add(`${p.metadata?.namespace}/${id}`);
      };
      const onSchedule = (s: AccessSchedule) => {
        for (const mi of caches.identities.list(s.metadata?.namespace)) {
          if (mi.spec.scheduleRef?.name === s.metadata?.name) queue.add(keyOf(mi));
        }
      };
      // What a namespace may claim changes with the admin's policies and the namespace's labels.
      const onNamespace = (ns: k8s.V1Namespace) => {
        for (const mi of caches.identities.list(ns.metadata?.name)) queue.add(keyOf(mi));
      };
      for (const event of ["add", "update"] as const) {
        offs.push(caches.identities.on(event, onIdentity), caches.secrets.on(event, onSecret));
      }
      offs.push(
        caches.identities.on("delete", (mi) => {
          ownWrites.forget("MachineIdentity", mi);
          queue.add(keyOf(mi));
        }),
        caches.secrets.on("delete", (s) => {
          ownWrites.forget("Secret", s);
          onSecret(s);
        }),
      );
      for (const event of ["add", "update", "delete"] as const) {
        offs.push(
          caches.pods.on(event, onPod),
          caches.schedules.on(event, onSchedule),
          caches.issuancePolicies.on(event, enqueueAll),
          caches.namespaces.on(event, onNamespace),
        );
      }
      enqueueAll();

      const workers = runWorkers({
        queue,
        concurrency: config.workers,
        reconcile: metrics.tracked("machineidentity", (key: string) => reconciler.reconcile(key)),
        onResult: (_key, outcome, ms) => metrics.observeReconcile("machineidentity", outcome, ms),
        onError: (key, err) => logRetry(log, { identity: key }, "reconcile failed", err),
      });
      // Read at each scrape, from the cache the controller keeps the statuses in.
      metrics.soonestExpiryFrom(() => {
        const soonest = soonestExpiry(caches.identities.list());
        return soonest === undefined ? undefined : (soonest - now().getTime()) / 1000;
      });
      return async () => {
        for (const off of offs) off();
        metrics.soonestExpiryFrom(undefined);
        queue.shutDown();
        await workers;
      };
    },
  };
}
