import type * as k8s from "@kubernetes/client-node";
import {
  ACCESS_POLICY_KIND,
  type AccessPolicy,
  type AccessSchedule,
  API_VERSION,
  type MachineIdentity,
} from "../../api/index.ts";
import type { KubeClient } from "../../kube/client.ts";
import { splitKey } from "../../kube/informer.ts";
import type { ReconcileResult } from "../../kube/queue.ts";
import {
  ACCESS_POLICIES,
  NETWORK_POLICIES,
  type ResourceClient,
  resourceClient,
} from "../../kube/resources.ts";
import {
  type AccessPolicyDecision,
  keyOf,
  networkPoliciesFor,
  objectKey,
  type ScheduleSignal,
} from "../../policy/index.ts";
import { scheduleState } from "../../schedule/index.ts";
import type { EventSink } from "../../telemetry/events.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isApiStatus, type ObjectCache } from "../shared/cache.ts";
import { jsonEqual } from "../shared/conditions.ts";
import {
  accessEvent,
  accessPolicyStatus,
  isLive,
  isSuspended,
  networkPolicyWrites,
  policyInput,
  withOwnerReferences,
} from "./desired.ts";

export interface AccessPolicyReconcilerDeps {
  kube: KubeClient;
  policies: ObjectCache<AccessPolicy>;
  schedules: ObjectCache<AccessSchedule>;
  /** Read for spec.suspend: a suspended identity is in no allow rule, as source or as target. */
  identities: ObjectCache<MachineIdentity>;
  /** Only NetworkPolicies labelled app.kubernetes.io/managed-by=signet. */
  networkPolicies: ObjectCache<k8s.V1NetworkPolicy>;
  events: EventSink;
  log: Logger;
  now: () => Date;
  /** Queues a policy's status write (key namespace/name); reconcileStatus does it. */
  enqueueStatus: (key: string) => void;
  /** Awaited before a status write; lets access changes in flight go first. */
  beforeStatusWrite?: () => Promise<void>;
  /** How many NetworkPolicy writes of one namespace are in flight at once. Default 16. */
  writeConcurrency?: number;
}

/** A namespace reconcile's decision for one policy, waiting for its status write. */
interface Decided {
  decision: AccessPolicyDecision;
  /** Whether every NetworkPolicy the decision names was written. */
  applied: boolean;
  at: Date;
  generation: number | undefined;
}

/** A write that lost a race with another writer or with the cache comes back this soon. */
const RETRY_SOON_MS = 200;

/**
 * Level-based reconcile of the AccessPolicies of one namespace into the exact set of Signet
 * NetworkPolicies they call for. The namespace is the key because a target's default deny is shared
 * by every policy naming it. Schedules are evaluated here at `now` (not read from their status), so
 * a boundary takes effect as soon as this runs; MachineIdentities are read for spec.suspend the same
 * way, so a suspended identity's access goes with the first reconcile that sees it. Statuses are written separately, per policy, after
 * the NetworkPolicies: access follows the decision first, and the report of it second.
 */
export class AccessPolicyReconciler {
  readonly #d: AccessPolicyReconcilerDeps;
  readonly #networkPolicies: ResourceClient<k8s.V1NetworkPolicy>;
  readonly #policies: ResourceClient<AccessPolicy>;
  readonly #concurrency: number;
  readonly #decided = new Map<string, Decided>();

  constructor(deps: AccessPolicyReconcilerDeps) {
    this.#d = deps;
    this.#networkPolicies = resourceClient(deps.kube, NETWORK_POLICIES);
    this.#policies = resourceClient(deps.kube, ACCESS_POLICIES);
    this.#concurrency = deps.writeConcurrency ?? 16;
  }

  async reconcile(namespace: string): Promise<ReconcileResult | undefined> {
    const now = this.#d.now();
    const policies = this.#d.policies.list(namespace).filter(isLive);
    const states = new Map<string, ScheduleSignal | undefined>();
    const lookup = (ns: string, name: string): ScheduleSignal | undefined => {
      const key = objectKey(ns, name);
      if (!states.has(key)) {
        const schedule = this.#d.schedules.get(ns, name);
        states.set(key, schedule ? scheduleState(schedule.spec, now) : undefined);
      }
      return states.get(key);
    };
    const desired = networkPoliciesFor(
      policies.map((p) => policyInput(p, namespace)),
      lookup,
      (ns, name) => isSuspended(this.#d.identities.get(ns, name)),
    );
    const owned = withOwnerReferences(desired.networkPolicies, desired.owners, (ns, name) =>
      this.#d.policies.get(ns, name),
    );
    const writes = networkPolicyWrites(owned, this.#d.networkPolicies.list(namespace));

    const pending = new Set<string>();
    await forEachLimited(
      [
        ...writes.create.map((np) => () => this.#create(np, pending)),
        ...writes.update.map((np) => () => this.#replace(np, pending)),
        ...writes.delete.map((np) => () => this.#delete(np)),
      ],
      this.#concurrency,
    );

    const prefix = `${namespace}/`;
    for (const key of this.#decided.keys()) {
      if (key.startsWith(prefix) && !desired.statuses.has(key)) this.#decided.delete(key);
    }
    for (const policy of policies) {
      const key = objectKey(namespace, policy.metadata.name);
      const decision = desired.statuses.get(key);
      if (!decision) continue;
      const applied = decision.networkPolicies.every((name) => !pending.has(name));
      const decided: Decided = { decision, applied, at: now, generation: policy.metadata.generation };
      this.#decided.set(key, decided);
      if (!jsonEqual(accessPolicyStatus(policy, decision, applied, now), policy.status)) {
        this.#d.enqueueStatus(key);
      }
    }
    return pending.size > 0 ? { requeueAfterMs: RETRY_SOON_MS } : undefined;
  }

  /**
   * Writes one policy's status from the latest decision of its namespace's reconcile, with the
   * event that explains a change. Kept apart from the NetworkPolicy writes so that at a boundary
   * shared by many policies every namespace's access changes first, and the reports follow.
   */
  async reconcileStatus(key: string): Promise<ReconcileResult | undefined> {
    const decided = this.#decided.get(key);
    const { namespace, name } = splitKey(key);
    const policy = this.#d.policies.get(namespace, name);
    // A newer spec is on its way through its namespace's reconcile, which decides again.
    if (!decided || !policy || !isLive(policy) || policy.metadata.generation !== decided.generation) {
      return undefined;
    }
    const status = accessPolicyStatus(policy, decided.decision, decided.applied, decided.at);
    if (jsonEqual(status, policy.status)) return undefined;
    await this.#d.beforeStatusWrite?.();
    if (!(await this.#writeStatus(policy, namespace, status))) return { requeueAfterMs: RETRY_SOON_MS };
    const event = decided.applied ? accessEvent(policy.status, decided.decision) : undefined;
    if (event) this.#d.events.record(policy, event.type, event.reason, event.message);
    return undefined;
  }

  async #create(np: k8s.V1NetworkPolicy, pending: Set<string>): Promise<void> {
    const namespace = np.metadata?.namespace ?? "";
    const name = np.metadata?.name ?? "";
    try {
      await this.#networkPolicies.create(np);
      this.#d.log.info({ networkPolicy: keyOf(np) }, "NetworkPolicy created");
      return;
    } catch (err) {
      if (!isApiStatus(err, 409)) throw err;
    }
    // It exists yet is not in the cache: the cache lags behind an earlier write, or the object
    // lost Signet's labels (then the cache, which selects on them, cannot see it). Read it and
    // bring it back to what is desired.
    let existing: k8s.V1NetworkPolicy;
    try {
      existing = await this.#networkPolicies.get(namespace, name);
    } catch (err) {
      if (!isApiStatus(err, 404)) throw err;
      pending.add(name);
      return;
    }
    const fix = networkPolicyWrites([np], [existing]).update[0];
    if (fix) await this.#replace(fix, pending);
  }

  async #replace(np: k8s.V1NetworkPolicy, pending: Set<string>): Promise<void> {
    const name = np.metadata?.name ?? "";
    try {
      await this.#networkPolicies.replace(np);
      this.#d.log.info({ networkPolicy: keyOf(np) }, "NetworkPolicy updated");
    } catch (err) {
      // 409: changed since the cache saw it; 404: deleted meanwhile. Its watch event requeues the
      // namespace with the current object either way.
      if (!isApiStatus(err, 409) && !isApiStatus(err, 404)) throw err;
      pending.add(name);
    }
  }

  async #delete(np: k8s.V1NetworkPolicy): Promise<void> {
    const namespace = np.metadata?.namespace ?? "";
    const name = np.metadata?.name ?? "";
    try {
      const resourceVersion = np.metadata?.resourceVersion;
      await this.#networkPolicies.delete(
        namespace,
        name,
        resourceVersion ? { preconditions: { resourceVersion } } : {},
      );
      this.#d.log.info({ networkPolicy: keyOf(np) }, "NetworkPolicy deleted");
    } catch (err) {
      // 404: already gone. 409: changed since the cache saw it; the watch event brings it back here.
      if (!isApiStatus(err, 404) && !isApiStatus(err, 409)) throw err;
    }
  }

  /** Replaces the status, guarded by the cached resourceVersion. False when the cache was stale. */
  async #writeStatus(
    policy: AccessPolicy,
    namespace: string,
    status: AccessPolicy["status"],
  ): Promise<boolean> {
    try {
      await this.#policies.replaceStatus({
        apiVersion: API_VERSION,
        kind: ACCESS_POLICY_KIND,
        metadata: { ...policy.metadata, namespace },
        spec: policy.spec,
        status,
      });
      return true;
    } catch (err) {
      if (isApiStatus(err, 409) || isApiStatus(err, 404)) return false;
      throw err;
    }
  }
}

/**
 * Runs the tasks with at most `limit` in flight. Every task runs even when one fails; the first
 * failure is rethrown at the end, so the reconcile retries with backoff after doing what it could.
 */
async function forEachLimited(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < tasks.length) {
      const task = tasks[next++] as () => Promise<void>;
      try {
        await task();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  if (failure) throw failure.error;
}
