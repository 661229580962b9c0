import type { AccessSchedule, AccessScheduleStatus } from "../../api/index.ts";
import { ScheduleReason, type ScheduleState } from "../../schedule/index.ts";
import { type ConditionInput, setConditions } from "../shared/conditions.ts";

/** The Ready reason of a schedule that can be evaluated; otherwise the schedule's own reason. */
export const ScheduleStatusReason = {
  Valid: "Valid",
} as const;

const INVALID: ReadonlySet<string> = new Set([
  ScheduleReason.InvalidTimeZone,
  ScheduleReason.InvalidWindow,
  ScheduleReason.InvalidGrant,
]);

/** True when the schedule's spec is one the operator cannot evaluate (the message names the field). */
export function isInvalidSchedule(state: ScheduleState): boolean {
  return INVALID.has(state.reason);
}

/**
 * The status an AccessSchedule should carry for its state at `now`. Built afresh, so a
 * currentWindowEnd or nextWindowStart that no longer applies disappears; lastTransitionTime of each
 * condition moves only when its status flips, so re-evaluating an unchanged state writes nothing.
 */
export function accessScheduleStatus(
  schedule: AccessSchedule,
  state: ScheduleState,
  now: Date,
): AccessScheduleStatus {
  const generation = schedule.metadata?.generation;
  const invalid = isInvalidSchedule(state);
  const conditions: ConditionInput[] = [
    {
      type: "Active",
      status: state.active ? "True" : "False",
      reason: state.reason,
      message: state.message,
    },
    invalid
      ? { type: "Ready", status: "False", reason: state.reason, message: state.message }
      : {
          type: "Ready",
          status: "True",
          reason: ScheduleStatusReason.Valid,
          message: "the schedule is evaluated at every window and grant boundary",
        },
  ];
  const status: AccessScheduleStatus = {
    active: state.active,
    conditions: setConditions(schedule.status?.conditions, conditions, now, generation),
  };
  if (state.currentWindowEnd) status.currentWindowEnd = state.currentWindowEnd.toISOString();
  if (state.nextWindowStart) status.nextWindowStart = state.nextWindowStart.toISOString();
  if (generation !== undefined) status.observedGeneration = generation;
  return status;
}

export interface ScheduleEvent {
  type: "Warning";
  reason: string;
  message: string;
}

/**
 * The warning for a spec the operator cannot evaluate, once per distinct problem. Opened and
 * closed windows are not events here: the Active condition's lastTransitionTime records them, and
 * the AccessPolicies that follow a schedule report AccessGranted and AccessRevoked, so a boundary
 * shared by many schedules does not also cost an event per schedule.
 */
export function scheduleEvent(
  previous: AccessScheduleStatus | undefined,
  state: ScheduleState,
): ScheduleEvent | undefined {
  if (!isInvalidSchedule(state)) return undefined;
  const wasReason = previous?.conditions?.find((c) => c.type === "Active")?.reason;
  return wasReason === state.reason
    ? undefined
    : { type: "Warning", reason: state.reason, message: state.message };
}
