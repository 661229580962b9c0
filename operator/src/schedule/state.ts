import { parseInstant } from "./instant.ts";
import {
  civilDate,
  dayNumber,
  instantToLocal,
  isValidTimeZone,
  localWallClockToInstant,
  WEEKDAYS,
  type Weekday,
} from "./zone.ts";

// Inputs carry exactly the AccessSchedule.spec field names, so the types inferred from the API
// schemas fit them structurally. Optional fields are the ones the schemas default.
export interface AccessScheduleWindowInput {
  days: readonly Weekday[];
  start: string;
  end: string;
}

export interface AccessScheduleGrantInput {
  start: string;
  end: string;
  reason?: string;
}

export interface AccessScheduleSpecInput {
  timeZone?: string;
  windows?: readonly AccessScheduleWindowInput[];
  grants?: readonly AccessScheduleGrantInput[];
  suspend?: boolean;
}

export const ScheduleReason = {
  InsideWindow: "InsideWindow",
  InsideGrant: "InsideGrant",
  OutsideWindows: "OutsideWindows",
  NoWindows: "NoWindows",
  Suspended: "Suspended",
  InvalidTimeZone: "InvalidTimeZone",
  InvalidWindow: "InvalidWindow",
  InvalidGrant: "InvalidGrant",
} as const;
export type ScheduleReason = (typeof ScheduleReason)[keyof typeof ScheduleReason];

export interface ScheduleState {
  active: boolean;
  reason: ScheduleReason;
  message: string;
  /** While active: the end of the contiguous active period (overlapping and adjacent windows and grants merged). */
  currentWindowEnd?: Date;
  /** While inactive: the next activation. */
  nextWindowStart?: Date;
  /** The next instant at which `active` changes; undefined when nothing in the spec will ever change it. */
  nextTransition?: Date;
}

interface Interval {
  start: number;
  end: number;
}

interface CompiledWindow {
  days: ReadonlySet<Weekday>;
  startMinute: number;
  /** Minutes after the midnight that starts the window's day: startMinute < endMinute <= startMinute + 1440. */
  endMinute: number;
}

interface CompiledGrant extends Interval {
  reason: string | undefined;
}

const MINUTES_PER_DAY = 1440;
const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;
/** A window's end may also be 24:00, the midnight that ends its day. */
const END_OF_DAY = "24:00";
// A window recurs weekly, so a search of a week and a day finds its next start; the extra week
// covers a start that a daylight-saving gap swallowed this week.
const WINDOW_SEARCH_DAYS = 15;

function minuteOfDay(text: string): number | undefined {
  const match = HH_MM.exec(text);
  if (match === null) return undefined;
  return Number(match[1]) * 60 + Number(match[2]);
}

function inactive(reason: ScheduleReason, message: string): ScheduleState {
  return { active: false, reason, message };
}

/** A grant instant that is malformed or not a real instant never opens access: the schedule closes. */
function invalidGrant(field: string, text: string, problem: string): ScheduleState {
  return inactive(
    ScheduleReason.InvalidGrant,
    `${field} ${JSON.stringify(text)} ${problem}; access is closed until it is corrected`,
  );
}

/**
 * Whether an AccessSchedule grants access at `now`, and when that next changes.
 *
 * A pure function of (spec, now): after downtime the caller catches up by evaluating once, and
 * never depends on having observed an edge. Never throws; a spec the schema should have refused
 * (unknown zone, malformed time, a grant instant that is malformed or not real, such as
 * 2027-02-29 or hour 24) denies access and names the offending field.
 *
 * Semantics:
 * - A window is active on [start, end) of the local days it lists; end < start runs past midnight
 *   and belongs to the day it starts on. end 24:00 is the midnight that ends the day, so 00:00 to
 *   24:00 is the whole day however long daylight saving makes it. start == end is empty (the
 *   schema refuses it).
 * - Wall-clock times that daylight saving skips or repeats follow localWallClockToInstant's rules.
 * - A grant is active on [start, end) of its absolute instants; end <= start is empty.
 * - suspend wins over everything: inactive, with no transition until the spec changes.
 */
export function scheduleState(spec: AccessScheduleSpecInput, now: Date): ScheduleState {
  if (spec.suspend === true) {
    return inactive(
      ScheduleReason.Suspended,
      "spec.suspend is true: access is closed until the schedule is resumed",
    );
  }
  const timeZone = spec.timeZone ?? "UTC";
  if (!isValidTimeZone(timeZone)) {
    return inactive(
      ScheduleReason.InvalidTimeZone,
      `spec.timeZone ${JSON.stringify(timeZone)} is not a known IANA time zone (for example "Europe/Berlin" or "UTC"); access is closed until it is corrected`,
    );
  }

  const windows: CompiledWindow[] = [];
  for (const [i, window] of (spec.windows ?? []).entries()) {
    const startMinute = minuteOfDay(window.start);
    if (startMinute === undefined) {
      return inactive(
        ScheduleReason.InvalidWindow,
        `spec.windows[${i}].start ${JSON.stringify(window.start)} is not a time of day "HH:MM" (00:00 to 23:59); access is closed until it is corrected`,
      );
    }
    const endMinute = window.end === END_OF_DAY ? MINUTES_PER_DAY : minuteOfDay(window.end);
    if (endMinute === undefined) {
      return inactive(
        ScheduleReason.InvalidWindow,
        `spec.windows[${i}].end ${JSON.stringify(window.end)} is not a time of day "HH:MM" (00:00 to 23:59, or 24:00 for midnight at the end of the day); access is closed until it is corrected`,
      );
    }
    if (startMinute !== endMinute && window.days.length > 0) {
      // An end earlier than the start is on the next day.
      const end = endMinute < startMinute ? endMinute + MINUTES_PER_DAY : endMinute;
      windows.push({ days: new Set(window.days), startMinute, endMinute: end });
    }
  }

  const grants: CompiledGrant[] = [];
  for (const [i, grant] of (spec.grants ?? []).entries()) {
    const start = parseInstant(grant.start);
    if (!start.ok) return invalidGrant(`spec.grants[${i}].start`, grant.start, start.problem);
    const end = parseInstant(grant.end);
    if (!end.ok) return invalidGrant(`spec.grants[${i}].end`, grant.end, end.problem);
    if (end.ms > start.ms) grants.push({ start: start.ms, end: end.ms, reason: grant.reason });
  }

  return evaluate(new WindowCalendar(windows, timeZone), grants, now.getTime(), timeZone);
}

function evaluate(
  calendar: WindowCalendar,
  grants: readonly CompiledGrant[],
  t: number,
  timeZone: string,
): ScheduleState {
  const window = calendar.containing(t)[0];
  const grant = grants.find((g) => g.start <= t && t < g.end);

  if (window !== undefined || grant !== undefined) {
    const end = calendar.coversEveryInstant ? undefined : coverageEnd(calendar, grants, t);
    const until = end === undefined ? "with no end" : `until ${describe(end, timeZone)}`;
    const state: ScheduleState =
      window !== undefined
        ? {
            active: true,
            reason: ScheduleReason.InsideWindow,
            message: `inside a window, access open ${until}`,
          }
        : {
            active: true,
            reason: ScheduleReason.InsideGrant,
            message: `inside grant${grant?.reason ? ` ${JSON.stringify(grant.reason)}` : ""}, access open ${until}`,
          };
    if (end !== undefined) {
      state.currentWindowEnd = new Date(end);
      state.nextTransition = new Date(end);
    }
    return state;
  }

  let next = calendar.nextStartAfter(t);
  for (const g of grants) {
    if (g.start > t && (next === undefined || g.start < next)) next = g.start;
  }
  if (next === undefined) {
    return inactive(
      ScheduleReason.NoWindows,
      "no windows and no current or upcoming grants: access stays closed",
    );
  }
  return {
    active: false,
    reason: ScheduleReason.OutsideWindows,
    message: `outside all windows and grants, access opens at ${describe(next, timeZone)}`,
    nextWindowStart: new Date(next),
    nextTransition: new Date(next),
  };
}

/**
 * The first instant at or after t that no window or grant covers. Intervals that overlap or touch
 * chain into one active period. Terminates because the calendar does not cover every instant
 * (checked by the caller), so some wall-clock minute of every week is uncovered, and grants are finite.
 */
function coverageEnd(calendar: WindowCalendar, grants: readonly CompiledGrant[], t: number): number {
  let end = t;
  for (;;) {
    let extended = end;
    for (const g of grants) {
      if (g.start <= end && end < g.end && g.end > extended) extended = g.end;
    }
    for (const w of calendar.containing(end)) {
      if (w.end > extended) extended = w.end;
    }
    if (extended === end) return end;
    end = extended;
  }
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

function describe(instant: number, timeZone: string): string {
  const local = instantToLocal(instant, timeZone);
  const wall = `${local.year}-${pad(local.month)}-${pad(local.day)} ${pad(local.hour)}:${pad(local.minute)}`;
  return `${new Date(instant).toISOString()} (${local.weekday} ${wall} ${timeZone})`;
}

/** The absolute intervals of weekly windows, computed per local day on demand and memoised. */
class WindowCalendar {
  readonly #windows: readonly CompiledWindow[];
  readonly #timeZone: string;
  readonly #byDay = new Map<number, Interval[]>();
  /** True when the windows cover all 7 x 24 hours of wall-clock time: then no instant is outside. */
  readonly coversEveryInstant: boolean;

  constructor(windows: readonly CompiledWindow[], timeZone: string) {
    this.#windows = windows;
    this.#timeZone = timeZone;
    this.coversEveryInstant = coversWholeWeek(windows);
  }

  /** Intervals of the windows that start on a local day, in start order; empty ones are dropped. */
  #startingOn(day: number): Interval[] {
    let intervals = this.#byDay.get(day);
    if (intervals === undefined) {
      intervals = [];
      const date = civilDate(day);
      for (const w of this.#windows) {
        if (!w.days.has(date.weekday)) continue;
        const start = this.#instant(day, w.startMinute);
        const end = this.#instant(
          day + Math.floor(w.endMinute / MINUTES_PER_DAY),
          w.endMinute % MINUTES_PER_DAY,
        );
        if (end > start) intervals.push({ start, end });
      }
      intervals.sort((a, b) => a.start - b.start || a.end - b.end);
      this.#byDay.set(day, intervals);
    }
    return intervals;
  }

  #instant(day: number, minute: number): number {
    const { year, month, day: dayOfMonth } = civilDate(day);
    const wall = { year, month, day: dayOfMonth, hour: Math.floor(minute / 60), minute: minute % 60 };
    return localWallClockToInstant(wall, this.#timeZone).getTime();
  }

  #localDay(t: number): number {
    const local = instantToLocal(t, this.#timeZone);
    return dayNumber(local.year, local.month, local.day);
  }

  /** Window intervals containing t. A window lasts at most a day plus a DST shift, so only windows
   *  starting on t's local day or the day before can contain it; one more day is margin. */
  containing(t: number): Interval[] {
    if (this.#windows.length === 0) return [];
    const today = this.#localDay(t);
    const result: Interval[] = [];
    for (let day = today - 2; day <= today; day++) {
      for (const interval of this.#startingOn(day)) {
        if (interval.start <= t && t < interval.end) result.push(interval);
      }
    }
    return result;
  }

  /** The earliest window start strictly after t. Wall-clock to instant is monotonic, so the first
   *  local day that has a start after t holds the answer. */
  nextStartAfter(t: number): number | undefined {
    if (this.#windows.length === 0) return undefined;
    const today = this.#localDay(t);
    for (let day = today - 1; day <= today + WINDOW_SEARCH_DAYS; day++) {
      const next = this.#startingOn(day).find((interval) => interval.start > t);
      if (next !== undefined) return next.start;
    }
    return undefined;
  }
}

function coversWholeWeek(windows: readonly CompiledWindow[]): boolean {
  if (windows.length === 0) return false;
  const week = MINUTES_PER_DAY * 7;
  const covered = new Uint8Array(week);
  for (const w of windows) {
    const length = w.endMinute - w.startMinute;
    for (const weekday of w.days) {
      const first = WEEKDAYS.indexOf(weekday) * MINUTES_PER_DAY + w.startMinute;
      for (let m = 0; m < length; m++) covered[(first + m) % week] = 1;
    }
  }
  return covered.every((minute) => minute === 1);
}
