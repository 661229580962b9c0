import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type * as k8s from "@kubernetes/client-node";
import { AppsV1Api } from "@kubernetes/client-node";
import { VALIDATE_MACHINE_IDENTITIES_PATH } from "../../../webhooks/src/configuration.ts";
import { startWebhookServer, type WebhookServer } from "../../../webhooks/src/server.ts";
import {
  ACCESS_POLICY_PLURAL,
  ACCESS_SCHEDULE_PLURAL,
  type AccessPolicy,
  type AccessSchedule,
  GROUP,
  IDENTITY_LABEL,
  ISSUANCE_POLICY_PLURAL,
  type IssuancePolicy,
  MACHINE_IDENTITY_PLURAL,
  type MachineIdentity,
  VERSION,
} from "../api/index.ts";
import { type CaState, CaStore } from "../controllers/ca/store.ts";
import { IDENTITY_LABEL as SECRET_IDENTITY_LABEL } from "../controllers/machineidentity/desired.ts";
import { SERVING_CA_SECRET_NAME } from "../controllers/machineidentity/ownership.ts";
import { MachineIdentityReconciler } from "../controllers/machineidentity/reconciler.ts";
import { decodeSecretData } from "../controllers/shared/secret-data.ts";
import {
  SERVING_TTL_MS,
  WEBHOOK_TLS_COMPONENT,
  WebhookCertKeeper,
} from "../controllers/webhookcert/keeper.ts";
import { validateMachineIdentities } from "../issuance/admission.ts";
import { ClaimIndex } from "../issuance/claim-index.ts";
import { reuseConnections } from "../kube/connections.ts";
import { keyOf } from "../kube/informer.ts";
import { LeaderElector } from "../kube/leader.ts";
import { OwnWrites } from "../kube/own-writes.ts";
import { runWorkers, WorkQueue } from "../kube/queue.ts";
import { EventRecorder } from "../telemetry/events.ts";
import { type Logger, logRetry } from "../telemetry/logger.ts";
import { SignetMetrics } from "../telemetry/metrics.ts";
import { startAccessControllers } from "./access-controllers.ts";
import type { OperatorConfig } from "./config.ts";
import { informerFor, type MultiInformer } from "./informers.ts";

export interface OperatorOptions {
  kc: k8s.KubeConfig;
  config: OperatorConfig;
  log: Logger;
  /** Run the leader-elected controllers. */
  controllers: boolean;
  /** Serve the admission webhook (every replica does). */
  webhook: boolean;
  now?: () => Date;
}

export interface RunningOperator {
  readonly metricsPort: number;
  readonly webhookPort: number | undefined;
  readonly metrics: SignetMetrics;
  isLeader(): boolean;
  stop(): Promise<void>;
}

const MANAGED_SELECTOR = "app.kubernetes.io/managed-by=signet";

/**
 * The operator process: informers (shared by webhook and controllers), the webhook server on every
 * replica, and behind leader election the CA, webhook-certificate and MachineIdentity controllers.
 */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { config, log } = options;
  const kc = reuseConnections(options.kc);
  const now = options.now ?? (() => new Date());
  const metrics = new SignetMetrics({ defaultMetrics: true });
  const namespaces = config.watchNamespaces;

  const identities = informerFor<MachineIdentity>(
    kc,
    { group: GROUP, version: VERSION, plural: MACHINE_IDENTITY_PLURAL },
    namespaces,
  );
  const schedules = informerFor<AccessSchedule>(
    kc,
    { group: GROUP, version: VERSION, plural: ACCESS_SCHEDULE_PLURAL },
    namespaces,
  );
  const secrets = informerFor<k8s.V1Secret>(
    kc,
    { group: "", version: "v1", plural: "secrets" },
    namespaces,
    MANAGED_SELECTOR,
  );
  const pods = informerFor<k8s.V1Pod>(
    kc,
    { group: "", version: "v1", plural: "pods" },
    namespaces,
    IDENTITY_LABEL,
  );
  const webhookSecret = informerFor<k8s.V1Secret>(
    kc,
    { group: "", version: "v1", plural: "secrets" },
    [config.namespace],
    `signet.dev/component=${WEBHOOK_TLS_COMPONENT}`,
  );
  const policies = informerFor<AccessPolicy>(
    kc,
    { group: GROUP, version: VERSION, plural: ACCESS_POLICY_PLURAL },
    namespaces,
  );
  const networkPolicies = informerFor<k8s.V1NetworkPolicy>(
    kc,
    { group: "networking.k8s.io", version: "v1", plural: "networkpolicies" },
    namespaces,
    MANAGED_SELECTOR,
  );
  // Cluster-scoped: what each namespace may claim depends on the admin's policies and the
  // namespace's labels.
  const issuancePolicies = informerFor<IssuancePolicy>(
    kc,
    { group: GROUP, version: VERSION, plural: ISSUANCE_POLICY_PLURAL },
    [],
  );
  const namespaceObjects = informerFor<k8s.V1Namespace>(
    kc,
    { group: "", version: "v1", plural: "namespaces" },
    [],
  );
  // Registered before the informers start, so that the initial list fills the index too.
  const claimIndex = new ClaimIndex(config.trustDomain);
  identities.on("add", (mi) => claimIndex.upsert(mi));
  identities.on("update", (mi) => claimIndex.upsert(mi));
  identities.on("delete", (mi) => claimIndex.remove(mi));
  const reservedSecrets = {
    namespace: config.namespace,
    names: [
      config.caSecretName,
      ...(config.userCaSecretName ? [config.userCaSecretName] : []),
      config.webhookSecretName,
      SERVING_CA_SECRET_NAME,
    ],
  };
  const claimRules = {
    trustDomain: config.trustDomain,
    clusterDomain: config.clusterDomain,
    policies: () => issuancePolicies.list(),
    namespaceLabels: (namespace: string) => {
      const ns = namespaceObjects.get("", namespace);
      return ns ? (ns.metadata?.labels ?? {}) : undefined;
    },
  };
  const all: MultiInformer<k8s.KubernetesObject>[] = [
    identities,
    issuancePolicies,
    namespaceObjects,
    schedules,
    policies,
    networkPolicies,
    secrets,
    pods,
    webhookSecret,
  ] as never;
  for (const informer of all)
    informer.onError((err) => log.warn({ err: (err as Error).message }, "watch restarted"));

  let leader = false;
  let webhook: WebhookServer | undefined;
  let elector: LeaderElector | undefined;
  let stopControllers: (() => Promise<void>) | undefined;

  const health = await serveHealth(config.metricsPort, config.metricsHost, metrics, () =>
    all.every((i) => i.hasSynced()),
  );

  await Promise.all(all.map((i) => i.start()));
  log.info({ namespaces: namespaces.length ? namespaces : "all" }, "caches synced");

  if (options.webhook) {
    webhook = await startWebhookServer({
      trustDomain: config.trustDomain,
      lookupIdentity: (ns, name) => identities.get(ns, name),
      listIdentities: (ns) => identities.list(ns),
      identitiesSynced: () => identities.hasSynced(),
      logger: log.child({ component: "webhook" }),
      registry: metrics.registry,
      port: config.webhookPort,
      ...(config.webhookHost ? { host: config.webhookHost } : {}),
      handlers: {
        [VALIDATE_MACHINE_IDENTITIES_PATH]: validateMachineIdentities({
          ...claimRules,
          claimants: claimIndex,
          secret: (namespace, name) => secrets.get(namespace, name),
          reserved: reservedSecrets,
          synced: () =>
            identities.hasSynced() && issuancePolicies.hasSynced() && namespaceObjects.hasSynced(),
        }),
      },
    });
    const load = (secret: k8s.V1Secret) => {
      if (secret.metadata?.name !== config.webhookSecretName) return;
      const { "tls.crt": crt = "", "tls.key": key = "" } = decodeSecretData(secret.data);
      try {
        webhook?.setServingCertificate(crt, key);
        log.info("webhook serving certificate loaded");
      } catch (err) {
        log.warn({ err: (err as Error).message }, "webhook serving certificate rejected");
      }
    };
    webhookSecret.on("add", load);
    webhookSecret.on("update", load);
    for (const s of webhookSecret.list()) load(s);
  }

  // Resolved once, by whoever first needs it (the elector creating the Lease, the leader its Secrets).
  let owners: Promise<k8s.V1OwnerReference[] | undefined> | undefined;
  const ownerReferences = (signal: AbortSignal) => {
    const name = config.ownerDeployment;
    owners ??= name
      ? retry(
          () => deploymentOwnerReference(kc, config.namespace, name),
          signal,
          log,
          `owner Deployment ${name}`,
        )
      : Promise.resolve(undefined);
    return owners;
  };

  const startControllers = async (signal: AbortSignal): Promise<() => Promise<void>> => {
    const owned = await ownerReferences(signal);
    const events = new EventRecorder(kc, log, { component: "signet-controller" });
    const caStore = new CaStore({
      kc,
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
      kc,
      namespace: config.namespace,
      secretName: SERVING_CA_SECRET_NAME,
      purpose: "serving",
      trustDomain: config.trustDomain,
      leafMaxTtlMs: SERVING_TTL_MS,
      now,
      ownerReferences: owned,
    });
    const keeper = new WebhookCertKeeper({
      kc,
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
    let ca: CaState = await retry(() => caStore.reconcile(), signal, log, "CA");
    const queue = new WorkQueue();
    const ownWrites = new OwnWrites();
    const reconciler = new MachineIdentityReconciler({
      kc,
      policy: { trustDomain: config.trustDomain, minTtlMs: config.minTtlMs, maxTtlMs: config.maxTtlMs },
      ca: () => ca,
      identities,
      secrets,
      schedules,
      pods,
      events,
      metrics,
      log: log.child({ controller: "machineidentity" }),
      now,
      ownWrites,
      reserved: reservedSecrets,
      issuance: claimRules,
      claimants: claimIndex,
      requeue: (key) => queue.add(key),
    });
    const enqueueAll = () => {
      for (const mi of identities.list()) queue.add(keyOf(mi));
    };
    // One SPIFFE ID, one holder: when an identity lets go of an ID (deleted, or claiming another),
    // the others that claim it are looked at again, since one of them may now hold it.
    const stopWakingRivals = claimIndex.onReleased((spiffeId, released) => {
      for (const rival of claimIndex.bySpiffeId(spiffeId)) {
        if (keyOf(rival) !== released) queue.add(keyOf(rival));
      }
    });
    const onIdentity = (mi: MachineIdentity) => {
      if (!ownWrites.isOwn("MachineIdentity", mi)) queue.add(keyOf(mi));
    };
    // What a namespace may claim changes with the admin's policies and the namespace's labels.
    const onIssuancePolicy = () => enqueueAll();
    const onNamespace = (ns: k8s.V1Namespace) => {
      for (const mi of identities.list(ns.metadata?.name)) queue.add(keyOf(mi));
    };
    const onSecret = (s: k8s.V1Secret) => {
      const owner = s.metadata?.labels?.[SECRET_IDENTITY_LABEL];
      if (owner && !ownWrites.isOwn("Secret", s)) queue.add(`${s.metadata?.namespace}/${owner}`);
    };
    const onPod = (p: k8s.V1Pod) => {
      const id = p.metadata?.labels?.[IDENTITY_LABEL];
      if (id) queue.add(`${p.metadata?.namespace}/${id}`);
    };
    const onSchedule = (s: AccessSchedule) => {
      for (const mi of identities.list(s.metadata?.namespace)) {
        if (mi.spec.scheduleRef?.name === s.metadata?.name) queue.add(keyOf(mi));
      }
    };
    for (const event of ["add", "update"] as const) {
      identities.on(event, onIdentity);
      secrets.on(event, onSecret);
    }
    identities.on("delete", (mi) => {
      ownWrites.forget("MachineIdentity", mi);
      queue.add(keyOf(mi));
    });
    secrets.on("delete", (s) => {
      ownWrites.forget("Secret", s);
      onSecret(s);
    });
    for (const event of ["add", "update", "delete"] as const) {
      pods.on(event, onPod);
      schedules.on(event, onSchedule);
      issuancePolicies.on(event, onIssuancePolicy);
      namespaceObjects.on(event, onNamespace);
    }
    enqueueAll();

    // The workload CA, the serving CA and the webhook certificate are looked at on their own
    // timers, and every identity is requeued when the workload trust bundle changes so that each
    // ca.crt follows; the serving CA's bundle goes only into the webhook configurations.
    let pkiTimer: NodeJS.Timeout | undefined;
    const pkiLoop = async () => {
      try {
        const next = await caStore.reconcile();
        const bundleChanged =
          next.bundlePem !== ca.bundlePem || next.issuer.rootFingerprint !== ca.issuer.rootFingerprint;
        ca = next;
        if (bundleChanged) enqueueAll();
        const serving = await servingCaStore.reconcile();
        const keeperNext = await keeper.reconcile(serving);
        const due = Math.min(
          keeperNext.getTime(),
          ca.nextCheck?.getTime() ?? Number.POSITIVE_INFINITY,
          serving.nextCheck?.getTime() ?? Number.POSITIVE_INFINITY,
        );
        schedulePki(Math.min(Math.max(1_000, due - now().getTime()), 3_600_000));
      } catch (err) {
        log.error({ err: (err as Error).message }, "CA or webhook certificate reconcile failed");
        schedulePki(5_000);
      }
    };
    const schedulePki = (ms: number) => {
      if (signal.aborted) return;
      pkiTimer = setTimeout(() => void pkiLoop(), ms);
    };
    await pkiLoop();

    const workers = runWorkers({
      queue,
      concurrency: config.workers,
      reconcile: metrics.tracked("machineidentity", (key: string) => reconciler.reconcile(key)),
      onResult: (_key, outcome, ms) => metrics.observeReconcile("machineidentity", outcome, ms),
      onError: (key, err) => logRetry(log, { identity: key }, "reconcile failed", err),
    });
    const expiry = setInterval(() => {
      const soonest = Math.min(
        ...identities
          .list()
          .map((mi) =>
            mi.status?.notAfter ? new Date(mi.status.notAfter).getTime() : Number.POSITIVE_INFINITY,
          ),
      );
      if (Number.isFinite(soonest)) metrics.soonestExpirySeconds.set((soonest - now().getTime()) / 1000);
    }, 5_000);
    const stopAccess = await startAccessControllers({
      kc,
      config,
      log,
      metrics,
      events,
      now,
      signal,
      identities,
      schedules,
      policies,
      networkPolicies,
    });
    log.info("controllers started");
    return async () => {
      await stopAccess();
      stopWakingRivals();
      clearTimeout(pkiTimer);
      clearInterval(expiry);
      queue.shutDown();
      await workers;
      log.info("controllers stopped");
    };
  };

  if (options.controllers) {
    const begin = async (signal: AbortSignal) => {
      leader = true;
      try {
        stopControllers = await startControllers(signal);
      } catch (err) {
        log.error({ err: (err as Error).message }, "controllers failed to start");
      }
    };
    const end = async () => {
      leader = false;
      const stop = stopControllers;
      stopControllers = undefined;
      await stop?.();
    };
    if (config.leaderElection) {
      const leaseOwners = await ownerReferences(new AbortController().signal);
      elector = new LeaderElector({
        ownerReferences: leaseOwners,
        kc,
        namespace: config.namespace,
        name: config.leaseName,
        identity: config.identity,
        leaseDurationMs: config.leaseDurationMs,
        renewDeadlineMs: config.renewDeadlineMs,
        retryPeriodMs: config.retryPeriodMs,
        onStartedLeading: (signal) => {
          log.info({ identity: config.identity }, "became leader");
          void begin(signal);
        },
        // Returned, so the elector releases the Lease only after the controllers have stopped:
        // a successor never overlaps writes still in flight here.
        onStoppedLeading: () => {
          log.info({ identity: config.identity }, "stopped leading");
          return end();
        },
      });
      void elector.run();
    } else {
      await begin(new AbortController().signal);
    }
  }

  return {
    metricsPort: (health.address() as AddressInfo).port,
    webhookPort: webhook?.port,
    metrics,
    isLeader: () => leader,
    async stop() {
      await elector?.stop();
      await stopControllers?.();
      for (const informer of all) informer.stop();
      await webhook?.close();
      await new Promise<void>((resolve) => health.close(() => resolve()));
    },
  };
}

/**
 * An ownerReference to the Deployment that runs the operator: not a controller reference, and it
 * does not block the Deployment's deletion, so garbage collection removes the dependents after it.
 */
async function deploymentOwnerReference(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<k8s.V1OwnerReference[]> {
  const deployment = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace, name });
  const uid = deployment.metadata?.uid;
  if (!uid) throw new Error(`Deployment ${namespace}/${name} has no uid`);
  return [{ apiVersion: "apps/v1", kind: "Deployment", name, uid, blockOwnerDeletion: false }];
}

async function retry<T>(fn: () => Promise<T>, signal: AbortSignal, log: Logger, what: string): Promise<T> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted) throw err;
      log.error({ err: (err as Error).message }, `${what} not ready; retrying`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * /metrics for Prometheus, /healthz (alive) and /readyz (caches synced), on one address only
 * (loopback, or the pod IP that Prometheus and the kubelet's probes reach), not every interface.
 */
function serveHealth(
  port: number,
  host: string,
  metrics: SignetMetrics,
  ready: () => boolean,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    if (req.url === "/healthz") {
      res.writeHead(200).end("ok");
      return;
    }
    if (req.url === "/readyz") {
      const ok = ready();
      res.writeHead(ok ? 200 : 503).end(ok ? "ok" : "caches not synced");
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
