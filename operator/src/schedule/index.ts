export {
  type AccessScheduleGrantInput,
  type AccessScheduleSpecInput,
  type AccessScheduleWindowInput,
  ScheduleReason,
  type ScheduleState,
  scheduleState,
} from "./state.ts";
export {
  MAX_TIMER_DELAY_MS,
  systemTimerClock,
  type TimerClock,
  TransitionTimers,
  type TransitionTimersOptions,
} from "./timers.ts";
export {
  instantToLocal,
  isValidTimeZone,
  type LocalDateTime,
  localWallClockToInstant,
  type WallClock,
  type Weekday,
} from "./zone.ts";
