import type * as k8s from "@kubernetes/client-node";
import type { AccessPolicy, AccessSchedule, MachineIdentity } from "../api/index.ts";
import {
  hasUnobservedSpec,
  isLive,
  isSuspended,
  namespacesNaming,
  referencesSchedule,
} from "../controllers/accesspolicy/desired.ts";
import { AccessPolicyReconciler } from "../controllers/accesspolicy/reconciler.ts";
import { AccessScheduleReconciler } from "../controllers/accessschedule/reconciler.ts";
import { systemClock, type TimerSource } from "../kube/clock.ts";
import { keyOf, splitKey } from "../kube/informer.ts";
import { runWorkers, untilIdle, WorkQueue } from "../kube/queue.ts";
import { TransitionTimers } from "../schedule/index.ts";
import { logRetry } from "../telemetry/logger.ts";
import type { StartControllers } from "./context.ts";

const REPORT_HOLD_MS = 2_000;

/**
 * What a status report awaits first: that `accessQueue` (the NetworkPolicy writes) has nothing
 * queued or running, or at most `holdMs` on `timers`, so that at a boundary shared by many
 * policies the API server serves the access changes before the reports of them.
 */
export function accessSettled(
  accessQueue: WorkQueue,
  timers: TimerSource,
  holdMs = REPORT_HOLD_MS,
): () => Promise<void> {
  return () => untilIdle(accessQueue, timers, holdMs);
}

/**
 * The AccessSchedule and AccessPolicy controllers.
 *
 * Time enters through one TransitionTimers instance holding the next transition of every schedule:
 * when one falls due, the schedule is re-evaluated and the namespace of every policy naming it is
 * reconciled at once. Everything else is driven by informer events: an edited policy or schedule
 * (suspend included), a MachineIdentity whose spec.suspend changed (a suspended identity is in no
 * allow rule), and any change to a Signet NetworkPolicy, which is how drift is repaired.
 * On start every schedule and every namespace with policies or Signet NetworkPolicies is
 * reconciled, so the state at "now" is applied however long the operator was away.
 */
export const startAccessControllers: StartControllers = async (ctx) => {
  const { kube, log, metrics, events, now } = ctx;
  const clock = ctx.clock ?? systemClock;
  const scheduleQueue = new WorkQueue({ name: "accessschedule", metrics, clock });
  // Keyed by namespace: a target's default deny is shared by the policies of its namespace.
  const policyQueue = new WorkQueue({ name: "accesspolicy", metrics, clock });
  const policyStatusQueue = new WorkQueue({ name: "accesspolicystatus", metrics, clock });

  const beforeStatusWrite = accessSettled(policyQueue, clock);

  const enqueuePoliciesOf = (namespace: string, scheduleName: string) => {
    if (referencesSchedule(ctx.policies.list(namespace), scheduleName)) policyQueue.add(namespace);
  };

  const timers = new TransitionTimers({
    clock: {
      now: () => now().getTime(),
      setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
      clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    },
    onDue: (key) => {
      const { namespace, name } = splitKey(key);
      enqueuePoliciesOf(namespace, name);
      scheduleQueue.add(key);
    },
    onError: (key, err) => log.error({ schedule: key, err: (err as Error).message }, "transition failed"),
  });

  const schedules = new AccessScheduleReconciler({
    kube,
    schedules: ctx.schedules,
    timers,
    events,
    beforeStatusWrite,
    log: log.child({ controller: "accessschedule" }),
    now,
  });
  const policies = new AccessPolicyReconciler({
    kube,
    policies: ctx.policies,
    schedules: ctx.schedules,
    identities: ctx.identities,
    networkPolicies: ctx.networkPolicies,
    enqueueStatus: (key) => policyStatusQueue.add(key),
    beforeStatusWrite,
    events,
    log: log.child({ controller: "accesspolicy" }),
    now,
  });

  const onSchedule = (schedule: AccessSchedule) => {
    scheduleQueue.add(keyOf(schedule));
    enqueuePoliciesOf(schedule.metadata.namespace ?? "", schedule.metadata.name);
  };
  // The operator's own status writes come back as updates; only a spec it has not acted on yet
  // (or a deletion) can change which NetworkPolicies are due.
  const onScheduleUpdate = (schedule: AccessSchedule) => {
    scheduleQueue.add(keyOf(schedule));
    if (hasUnobservedSpec(schedule))
      enqueuePoliciesOf(schedule.metadata.namespace ?? "", schedule.metadata.name);
  };
  const onPolicy = (policy: AccessPolicy) => policyQueue.add(policy.metadata.namespace ?? "");
  const onPolicyUpdate = (policy: AccessPolicy) => {
    if (hasUnobservedSpec(policy) || !isLive(policy)) onPolicy(policy);
  };
  const onNetworkPolicy = (np: k8s.V1NetworkPolicy) => policyQueue.add(np.metadata?.namespace ?? "");
  // Identities change often (every renewal writes a status); only a change of spec.suspend changes
  // an allow rule. The set holds the suspended ones as last seen, so a relist that skips events
  // still compares against the right state.
  const suspendedIdentities = new Set(ctx.identities.list().filter(isSuspended).map(keyOf));
  const onIdentity = (identity: MachineIdentity, suspended: boolean) => {
    const key = keyOf(identity);
    if (suspendedIdentities.has(key) === suspended) return;
    if (suspended) suspendedIdentities.add(key);
    else suspendedIdentities.delete(key);
    const namespace = identity.metadata.namespace ?? "";
    for (const ns of namespacesNaming(ctx.policies.list(), namespace, identity.metadata.name)) {
      policyQueue.add(ns);
    }
  };

  // Removed when these controllers stop, so that a later term starts with handlers of its own only.
  const offs = [
    ctx.schedules.on("add", onSchedule),
    ctx.schedules.on("update", onScheduleUpdate),
    ctx.schedules.on("delete", onSchedule),
    ctx.policies.on("add", onPolicy),
    ctx.policies.on("update", onPolicyUpdate),
    ctx.policies.on("delete", onPolicy),
    ...(["add", "update", "delete"] as const).map((event) => ctx.networkPolicies.on(event, onNetworkPolicy)),
    ctx.identities.on("add", (identity) => onIdentity(identity, isSuspended(identity))),
    ctx.identities.on("update", (identity) => onIdentity(identity, isSuspended(identity))),
    ctx.identities.on("delete", (identity) => onIdentity(identity, false)),
  ];

  for (const schedule of ctx.schedules.list()) scheduleQueue.add(keyOf(schedule));
  for (const policy of ctx.policies.list()) policyQueue.add(policy.metadata.namespace ?? "");
  for (const np of ctx.networkPolicies.list()) policyQueue.add(np.metadata?.namespace ?? "");

  const workers = Promise.all([
    runWorkers({
      queue: scheduleQueue,
      concurrency: ctx.config.workers,
      reconcile: metrics.tracked("accessschedule", (key: string) => schedules.reconcile(key)),
      onResult: (_key, outcome, ms) => metrics.observeReconcile("accessschedule", outcome, ms),
      onError: (key, err) => logRetry(log, { schedule: key }, "schedule reconcile failed", err),
    }),
    runWorkers({
      queue: policyQueue,
      concurrency: ctx.config.workers,
      reconcile: metrics.tracked("accesspolicy", (namespace: string) => policies.reconcile(namespace)),
      onResult: (_key, outcome, ms) => metrics.observeReconcile("accesspolicy", outcome, ms),
      onError: (namespace, err) => logRetry(log, { namespace }, "access policy reconcile failed", err),
    }),
    runWorkers({
      queue: policyStatusQueue,
      concurrency: ctx.config.workers,
      reconcile: metrics.tracked("accesspolicystatus", (key: string) => policies.reconcileStatus(key)),
      onResult: (_key, outcome, ms) => metrics.observeReconcile("accesspolicystatus", outcome, ms),
      onError: (key, err) => logRetry(log, { policy: key }, "access policy status write failed", err),
    }),
  ]);

  return async () => {
    for (const off of offs) off();
    timers.stop();
    scheduleQueue.shutDown();
    policyQueue.shutDown();
    policyStatusQueue.shutDown();
    await workers;
  };
};
