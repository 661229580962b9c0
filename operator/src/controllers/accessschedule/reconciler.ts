import { ACCESS_SCHEDULE_KIND, type AccessSchedule, API_VERSION } from "../../api/index.ts";
import type { KubeClient } from "../../kube/client.ts";
import { splitKey } from "../../kube/informer.ts";
import type { ReconcileResult } from "../../kube/queue.ts";
import { ACCESS_SCHEDULES, type ResourceClient, resourceClient } from "../../kube/resources.ts";
import { scheduleState } from "../../schedule/index.ts";
import type { EventSink } from "../../telemetry/events.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isApiStatus, type ObjectCache } from "../shared/cache.ts";
import { jsonEqual } from "../shared/conditions.ts";
import { accessScheduleStatus, scheduleEvent } from "./status.ts";

/** The part of TransitionTimers the reconciler drives: one due instant per schedule key. */
export interface TransitionScheduler {
  schedule(key: string, at: Date | undefined): void;
  cancel(key: string): void;
}

export interface AccessScheduleReconcilerDeps {
  kube: KubeClient;
  schedules: ObjectCache<AccessSchedule>;
  /** Shared by every schedule; its onDue re-queues the schedule and the policies that name it. */
  timers: TransitionScheduler;
  events: EventSink;
  log: Logger;
  now: () => Date;
  /** Awaited before a status write; lets access changes in flight go first. */
  beforeStatusWrite?: () => Promise<void>;
}

const RETRY_SOON_MS = 200;

/**
 * Level-based reconcile of one AccessSchedule: evaluates it at now, arms its next transition on the
 * shared timers, and writes its status when it changed. Access itself is not decided here: the
 * AccessPolicy controller evaluates the same pure function, so status lag never delays a boundary.
 */
export class AccessScheduleReconciler {
  readonly #d: AccessScheduleReconcilerDeps;
  readonly #schedules: ResourceClient<AccessSchedule>;

  constructor(deps: AccessScheduleReconcilerDeps) {
    this.#d = deps;
    this.#schedules = resourceClient(deps.kube, ACCESS_SCHEDULES);
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    const schedule = this.#d.schedules.get(namespace, name);
    if (!schedule) {
      this.#d.timers.cancel(key);
      return undefined;
    }
    const now = this.#d.now();
    const state = scheduleState(schedule.spec, now);
    // Armed before any write, so that a failing status write never costs a boundary.
    this.#d.timers.schedule(key, state.nextTransition);

    const status = accessScheduleStatus(schedule, state, now);
    if (jsonEqual(status, schedule.status)) return undefined;
    await this.#d.beforeStatusWrite?.();
    try {
      await this.#schedules.replaceStatus({
        apiVersion: API_VERSION,
        kind: ACCESS_SCHEDULE_KIND,
        metadata: { ...schedule.metadata, namespace, name },
        spec: schedule.spec,
        status,
      });
    } catch (err) {
      // A newer version is on its way through the informer, or the schedule is gone; either
      // brings this key back with the current object.
      if (isApiStatus(err, 409) || isApiStatus(err, 404)) return { requeueAfterMs: RETRY_SOON_MS };
      throw err;
    }
    const event = scheduleEvent(schedule.status, state);
    if (event) this.#d.events.record(schedule, event.type, event.reason, event.message);
    this.#d.log.debug(
      { schedule: key, active: state.active, reason: state.reason },
      "schedule status written",
    );
    return undefined;
  }
}
