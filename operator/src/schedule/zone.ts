// Wall-clock arithmetic in IANA time zones on top of Intl (Node ships full ICU with its own tzdata),
// so schedules need no time zone library.

export type Weekday = "Mon" | "Tue" | "Wed" | "Thu" | "Fri" | "Sat" | "Sun";

/** Index = JavaScript's getUTCDay() (0 = Sunday). */
export const WEEKDAYS: readonly Weekday[] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** A civil date and time of day as a clock on the wall shows it; month is 1-12. */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second?: number;
}

export interface LocalDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
  weekday: Weekday;
  /** Local time minus UTC, e.g. 19_800_000 for Asia/Kolkata (+05:30). */
  offsetMs: number;
}

const MS_PER_DAY = 86_400_000;

// Constructing an Intl.DateTimeFormat costs far more than formatting with one, and a reconcile
// converts dozens of instants, so keep one per zone for the life of the process. Only zones that
// Intl accepted are cached, and the set of those is finite.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/**
 * True for IANA zone names that this runtime's tzdata knows ("Europe/Berlin", "UTC",
 * "Etc/GMT+5"). Intl also accepts bare UTC offsets such as "+01:00"; those are refused because
 * the API promises IANA names, and an offset silently ignores daylight saving.
 */
export function isValidTimeZone(timeZone: string): boolean {
  if (timeZone === "" || timeZone.startsWith("+") || timeZone.startsWith("-")) return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Date.UTC for any year: Date.UTC maps years 0-99 to 1900-1999. */
function utcMs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number {
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year + date.getUTCFullYear() - 2000);
  return date.getTime();
}

/** Days since 1970-01-01 of a civil date; the inverse is civilDate. */
export function dayNumber(year: number, month: number, day: number): number {
  return Math.floor(utcMs(year, month, day, 0, 0, 0) / MS_PER_DAY);
}

export function civilDate(days: number): { year: number; month: number; day: number; weekday: Weekday } {
  const date = new Date(days * MS_PER_DAY);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    weekday: WEEKDAYS[date.getUTCDay()] as Weekday,
  };
}

/** Local time minus UTC at an instant, in milliseconds. Throws RangeError for an unknown zone. */
function offsetAt(instantMs: number, timeZone: string): number {
  const wholeSecond = Math.floor(instantMs / 1000) * 1000;
  const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(wholeSecond)) {
    if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value);
  }
  const local = utcMs(fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second);
  return local - wholeSecond;
}

/** The wall clock at an instant in a zone. Throws RangeError for an unknown zone. */
export function instantToLocal(instant: Date | number, timeZone: string): LocalDateTime {
  const ms = typeof instant === "number" ? instant : instant.getTime();
  const offsetMs = offsetAt(ms, timeZone);
  const local = new Date(ms + offsetMs);
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    second: local.getUTCSeconds(),
    millisecond: local.getUTCMilliseconds(),
    weekday: WEEKDAYS[local.getUTCDay()] as Weekday,
    offsetMs,
  };
}

/**
 * The instant at which a zone's clocks show a wall-clock time. Throws RangeError for an unknown zone.
 *
 * Daylight saving makes this a relation, not a function, so two rules decide:
 * - Overlap (clocks fall back, the time occurs twice): the first occurrence, i.e. still on the
 *   offset in force before the change. 02:30 on 2026-10-25 in Europe/Berlin is 00:30Z, not 01:30Z.
 * - Gap (clocks spring forward, the time never occurs): the first instant after the gap, which is
 *   the instant of the change itself. 02:30 on 2026-03-29 in Europe/Berlin is 01:00Z (03:00 CEST).
 *   Every skipped time maps to that same instant, so a window lying wholly in a gap is empty that
 *   day, and one that straddles it is shortened rather than shifted.
 * Both rules keep the mapping monotonic: a later wall-clock time never maps to an earlier instant.
 */
export function localWallClockToInstant(wall: WallClock, timeZone: string): Date {
  const local = utcMs(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second ?? 0);
  // No zone changes its offset twice within two days, so the offsets one day either side are the
  // only candidates for the offset in force at this wall-clock time.
  const before = offsetAt(local - MS_PER_DAY, timeZone);
  const after = offsetAt(local + MS_PER_DAY, timeZone);
  const candidates = [local - before, local - after].sort((a, b) => a - b);
  for (const candidate of candidates) {
    if (offsetAt(candidate, timeZone) === local - candidate) return new Date(candidate);
  }
  if (after <= before) return new Date(local - before);
  // In the gap: find the first whole second whose wall clock is past the requested time. Zone
  // transitions happen on whole seconds, and the gap is bracketed by the two candidates.
  let lo = Math.floor((local - after) / 1000);
  let hi = Math.ceil((local - before) / 1000);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (mid * 1000 + offsetAt(mid * 1000, timeZone) > local) hi = mid;
    else lo = mid;
  }
  return new Date(hi * 1000);
}
