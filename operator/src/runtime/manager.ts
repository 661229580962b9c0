import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type * as k8s from "@kubernetes/client-node";
import {
  type AccessPolicy,
  type AccessSchedule,
  type Enrollment,
  IDENTITY_LABEL,
  type IssuancePolicy,
  MANAGED_BY_SELECTOR,
  type MachineIdentity,
  SERVING_CA_SECRET_NAME,
  type TrustedIssuer,
} from "../api/index.ts";
import { ClaimIndex } from "../issuance/claim-index.ts";
import type { KubeClient } from "../kube/client.ts";
import { LeaderElector } from "../kube/leader.ts";
import {
  ACCESS_POLICIES,
  ACCESS_SCHEDULES,
  DEPLOYMENTS,
  ENROLLMENTS,
  ISSUANCE_POLICIES,
  MACHINE_IDENTITIES,
  NAMESPACES,
  NETWORK_POLICIES,
  type PartialObjectMetadata,
  PODS,
  type ResourceType,
  resourceClient,
  SECRETS,
  TRUSTED_ISSUERS,
} from "../kube/resources.ts";
import { PodCertificateTally } from "../signer/tally.ts";
import type { Logger } from "../telemetry/logger.ts";
import { SignetMetrics } from "../telemetry/metrics.ts";
import type { OperatorConfig } from "./config.ts";
import { informerFor, logWatchErrors, type MultiInformer } from "./informers.ts";
import { RunnableManager } from "./runnables.ts";
import { identitySecretsOnly } from "./secret-cache.ts";
import { accessUnit } from "./units/access.ts";
import { type Caches, type OperatorContext, PodCertificateCapability, retryUntil } from "./units/context.ts";
import { enrollmentEndpointUnit, enrollmentsUnit } from "./units/enrollment.ts";
import { tokenExchange } from "./units/exchange.ts";
import { identitiesUnit } from "./units/identities.ts";
import { jwtEndpointUnit, jwtKeysUnit } from "./units/jwt.ts";
import { CaHolder, pkiUnit } from "./units/pki.ts";
import { signerUnit } from "./units/signer.ts";
import { podCertificateDiscoveryUnit, webhookUnit } from "./units/webhook.ts";

export interface OperatorOptions {
  kube: KubeClient;
  config: OperatorConfig;
  log: Logger;
  /** Run the leader-elected controllers. */
  controllers: boolean;
  /** Serve the admission webhook and the JWT-SVID endpoint (every replica does). */
  webhook: boolean;
  now?: () => Date;
}

export interface RunningOperator {
  readonly metricsPort: number;
  readonly webhookPort: number | undefined;
  readonly jwtPort: number | undefined;
  /** The enrollment endpoint's port, on a replica that runs the controllers. */
  readonly enrollmentPort: number | undefined;
  readonly metrics: SignetMetrics;
  isLeader(): boolean;
  /** Resolves if a leader-elected unit fails to start: the process should exit so that another replica leads. */
  readonly failure: Promise<Error>;
  stop(): Promise<void>;
}

/**
 * The operator process: the caches (started once, shared by every unit), health and metrics, and
 * a manager of units: the admission webhook and the JWT-SVID endpoint on every replica, and behind
 * leader election the CA and serving certificates, the MachineIdentity controller, the JWT signing
 * keys and the access controllers. The leader-elected units write through a fenced client: no write
 * leaves a replica whose Lease is not fresh.
 */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { config, log } = options;
  const kube = options.kube;
  const now = options.now ?? (() => new Date());
  const metrics = new SignetMetrics({ defaultMetrics: true });
  const caches = createCaches(kube, config, options.controllers);
  // Registered before the informers start, so that the initial list fills the index too.
  const claimIndex = new ClaimIndex(config.trustDomain);
  caches.identities.on("add", (mi) => claimIndex.upsert(mi));
  caches.identities.on("update", (mi) => claimIndex.upsert(mi));
  caches.identities.on("delete", (mi) => claimIndex.remove(mi));
  const all = Object.entries(caches) as [string, MultiInformer<k8s.KubernetesObject>][];
  for (const [cache, informer] of all) logWatchErrors(log, cache, informer);
  const informers = all.map(([, informer]) => informer);

  const health = await serveHealth(config.metricsPort, config.metricsHost, metrics, () =>
    informers.every((i) => i.hasSynced()),
  );
  // Identities first: the Secret cache keeps an identity Secret whole only once its identity is known.
  await caches.identities.start();
  await Promise.all(informers.filter((i) => i !== caches.identities).map((i) => i.start()));
  log.info({ namespaces: config.watchNamespaces.length ? config.watchNamespaces : "all" }, "caches synced");

  // Resolved once, by whoever first needs it (the elector creating the Lease, the leader its Secrets).
  let owners: Promise<k8s.V1OwnerReference[] | undefined> | undefined;
  const ownerReferences = (signal: AbortSignal) => {
    const name = config.ownerDeployment;
    owners ??= name
      ? retryUntil(
          () => deploymentOwnerReference(kube, config.namespace, name),
          signal,
          log,
          `owner Deployment ${name}`,
        )
      : Promise.resolve(undefined);
    return owners;
  };

  let manager: RunnableManager | undefined;
  const ctx: OperatorContext = {
    kube: kube.fenced(() => manager?.isLeader() ?? false),
    endpointKube: kube,
    config,
    log,
    metrics,
    now,
    caches,
    claimIndex,
    claimRules: {
      trustDomain: config.trustDomain,
      clusterDomain: config.clusterDomain,
      policies: () => caches.issuancePolicies.list(),
      namespaceLabels: (namespace: string) => {
        const ns = caches.namespaces.get("", namespace);
        return ns ? (ns.metadata?.labels ?? {}) : undefined;
      },
    },
    reservedSecrets: {
      namespace: config.namespace,
      names: [
        config.caSecretName,
        ...(config.userCaSecretName ? [config.userCaSecretName] : []),
        config.webhookSecretName,
        SERVING_CA_SECRET_NAME,
        config.jwtSigningSecretName,
        config.jwtTlsSecretName,
        config.enrollmentTlsSecretName,
      ],
    },
    owners: ownerReferences,
    podCertificates: new PodCertificateCapability(config.trustBundle),
  };

  const leaseOwners =
    options.controllers && config.leaderElection
      ? await ownerReferences(new AbortController().signal)
      : undefined;
  let failed: (error: Error) => void = () => {};
  const failure = new Promise<Error>((resolve) => {
    failed = resolve;
  });
  manager = new RunnableManager({
    log,
    onFailure: (unit, error) => failed(new Error(`${unit}: ${(error as Error).message}`)),
    ...(options.controllers && config.leaderElection
      ? {
          elector: (callbacks) =>
            new LeaderElector({
              ownerReferences: leaseOwners,
              kube,
              namespace: config.namespace,
              name: config.leaseName,
              identity: config.identity,
              leaseDurationMs: config.leaseDurationMs,
              renewDeadlineMs: config.renewDeadlineMs,
              retryPeriodMs: config.retryPeriodMs,
              onStartedLeading: (signal) => {
                log.info({ identity: config.identity }, "became leader");
                callbacks.onStartedLeading(signal);
              },
              // Awaited: the elector releases the Lease only after the units have stopped, so a
              // successor never overlaps writes still in flight here.
              onStoppedLeading: () => {
                log.info({ identity: config.identity }, "stopped leading");
                return callbacks.onStoppedLeading();
              },
              onError: (error) =>
                log.warn({ err: (error as Error).message, identity: config.identity }, "leader election"),
            }),
        }
      : {}),
  });
  let webhookPort: number | undefined;
  let jwtPort: number | undefined;
  let enrollmentPort: number | undefined;
  // Before the webhook, which decides pods by its answer; the controllers keep ConfigMaps by it.
  if (options.webhook || options.controllers) manager.add(podCertificateDiscoveryUnit(ctx));
  if (options.webhook) {
    manager.add(webhookUnit(ctx, (port) => (webhookPort = port)));
    manager.add(jwtEndpointUnit(ctx, (port) => (jwtPort = port)));
  }
  if (options.controllers) {
    const ca = new CaHolder();
    const tally = new PodCertificateTally();
    manager.add(pkiUnit(ctx, ca)).add(identitiesUnit(ctx, ca, tally));
    if (config.podCertificateSigner) manager.add(signerUnit(ctx, ca, tally));
    manager.add(jwtKeysUnit(ctx));
    manager.add(enrollmentsUnit(ctx));
    // Always on, but only where the controllers run: it mints with the workload CA.
    manager.add(enrollmentEndpointUnit(ctx, (port) => (enrollmentPort = port), tokenExchange(ctx)));
    manager.add(accessUnit(ctx));
  }
  const running = manager;
  metrics.leadershipFrom(() => running.isLeader());
  metrics.identitiesFrom(() => caches.identities.list());
  await manager.start();

  return {
    metricsPort: (health.address() as AddressInfo).port,
    webhookPort,
    jwtPort,
    enrollmentPort,
    metrics,
    isLeader: () => running.isLeader(),
    failure,
    async stop() {
      await running.stop();
      for (const informer of informers) informer.stop();
      await new Promise<void>((resolve) => health.close(() => resolve()));
    },
  };
}

/**
 * The informers of everything Signet reads, over the watched namespaces. Pods are cached as
 * metadata only (their labels are all Signet reads of them). A replica without the controllers
 * caches identity Secrets as metadata only too: the webhook needs only their labels, so a
 * webhook-only replica holds no private key of any workload. Of a labelled Secret that is not an
 * identity's own, the Secret cache keeps only its marks (secret-cache.ts).
 */
export function createCaches(kube: KubeClient, config: OperatorConfig, controllers: boolean): Caches {
  const namespaces = config.watchNamespaces;
  const of = (rt: ResourceType<k8s.KubernetesObject>) => ({
    group: rt.group,
    version: rt.version,
    plural: rt.plural,
  });
  const identities = informerFor<MachineIdentity>(kube, of(MACHINE_IDENTITIES), namespaces);
  return {
    identities,
    // Cluster-scoped: what each namespace may claim depends on the admin's policies and the
    // namespace's labels.
    issuancePolicies: informerFor<IssuancePolicy>(kube, of(ISSUANCE_POLICIES), []),
    namespaces: informerFor<k8s.V1Namespace>(kube, of(NAMESPACES), []),
    schedules: informerFor<AccessSchedule>(kube, of(ACCESS_SCHEDULES), namespaces),
    policies: informerFor<AccessPolicy>(kube, of(ACCESS_POLICIES), namespaces),
    networkPolicies: informerFor<k8s.V1NetworkPolicy>(kube, of(NETWORK_POLICIES), namespaces, {
      labelSelector: MANAGED_BY_SELECTOR,
    }),
    // The label is anyone's to set: of a Secret that is not an identity's own, only its marks are kept.
    secrets: informerFor<k8s.V1Secret>(kube, of(SECRETS), namespaces, {
      labelSelector: MANAGED_BY_SELECTOR,
      metadataOnly: !controllers,
      transform: identitySecretsOnly((namespace, name) => identities.get(namespace, name)),
    }),
    pods: informerFor<PartialObjectMetadata>(kube, of(PODS), namespaces, {
      labelSelector: IDENTITY_LABEL,
      metadataOnly: true,
    }),
    // By name, which RBAC can grant by resourceNames: the operator may list and watch no other
    // Secret of its namespace.
    webhookSecret: informerFor<k8s.V1Secret>(kube, of(SECRETS), [config.namespace], {
      fieldSelector: `metadata.name=${config.webhookSecretName}`,
    }),
    jwtSigningSecret: informerFor<k8s.V1Secret>(kube, of(SECRETS), [config.namespace], {
      fieldSelector: `metadata.name=${config.jwtSigningSecretName}`,
    }),
    jwtTlsSecret: informerFor<k8s.V1Secret>(kube, of(SECRETS), [config.namespace], {
      fieldSelector: `metadata.name=${config.jwtTlsSecretName}`,
    }),
    enrollments: informerFor<Enrollment>(kube, of(ENROLLMENTS), namespaces),
    trustedIssuers: informerFor<TrustedIssuer>(kube, of(TRUSTED_ISSUERS), []),
    enrollmentTlsSecret: informerFor<k8s.V1Secret>(kube, of(SECRETS), [config.namespace], {
      fieldSelector: `metadata.name=${config.enrollmentTlsSecretName}`,
    }),
    ...(controllers
      ? {
          caSecret: informerFor<k8s.V1Secret>(kube, of(SECRETS), [config.namespace], {
            fieldSelector: `metadata.name=${config.userCaSecretName ?? config.caSecretName}`,
          }),
        }
      : {}),
  };
}

/**
 * An ownerReference to the Deployment that runs the operator: not a controller reference, and it
 * does not block the Deployment's deletion, so garbage collection removes the dependents after it.
 */
async function deploymentOwnerReference(
  kube: KubeClient,
  namespace: string,
  name: string,
): Promise<k8s.V1OwnerReference[]> {
  const deployment = await resourceClient(kube, DEPLOYMENTS).get(namespace, name);
  const uid = deployment.metadata?.uid;
  if (!uid) throw new Error(`Deployment ${namespace}/${name} has no uid`);
  return [{ apiVersion: "apps/v1", kind: "Deployment", name, uid, blockOwnerDeletion: false }];
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
