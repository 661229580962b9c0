// Strict RFC 3339 instants for grants. Date.parse is lenient where a schedule must not be: it rolls
// 2027-02-29 over to 1 March and reads hour 24 as the next midnight, so a typo would silently open
// access a day late or early. Every field is checked here before any arithmetic.

/** An instant in milliseconds since the epoch, or why the text is not one. */
export type InstantParse = { ok: true; ms: number } | { ok: false; problem: string };

// RFC 3339 §5.6: date-time = full-date "T" full-time, time-offset = "Z" / ("+" / "-") HH:MM. The
// note in §5.6 allows "t" and "z" in lower case, and they name the same instant, so they are read.
const SYNTAX =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** English month names, January first. */
export const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Days in a month (1-12) of the proleptic Gregorian calendar. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * Reads an RFC 3339 date-time with a mandatory offset ("Z", "+05:30", "-00:00") and an optional
 * fraction of a second, truncated to the millisecond as Date does. Refuses what is not a real
 * instant: a day the month lacks (2027-02-29, leap years per the Gregorian rules), hour 24,
 * minute or second 60 (leap seconds are not accepted: Kubernetes and JavaScript time have none),
 * and offsets beyond 23:59.
 */
export function parseInstant(text: string): InstantParse {
  const match = SYNTAX.exec(text);
  if (match === null) {
    return { ok: false, problem: 'is not an RFC 3339 instant (for example "2026-11-21T22:00:00Z")' };
  }
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const fraction = match[7] ?? "";
  const [sign, offsetHour, offsetMinute] = [match[8], Number(match[9] ?? 0), Number(match[10] ?? 0)];

  const unreal = (why: string): InstantParse => ({ ok: false, problem: `is not a real instant (${why})` });
  if (month < 1 || month > 12) return unreal(`month ${match[2]} does not exist; months are 01 to 12`);
  const length = daysInMonth(year, month);
  if (day < 1 || day > length) {
    return unreal(day < 1 ? "days start at 01" : `${MONTHS[month - 1]} ${match[1]} has ${length} days`);
  }
  if (hour > 23) return unreal(`hour ${match[4]} does not exist; hours are 00 to 23`);
  if (minute > 59) return unreal(`minute ${match[5]} does not exist; minutes are 00 to 59`);
  if (second > 59) {
    return unreal(
      second === 60
        ? "second 60 is a leap second, which is not accepted; seconds are 00 to 59"
        : `second ${match[6]} does not exist; seconds are 00 to 59`,
    );
  }
  if (offsetHour > 23 || offsetMinute > 59) {
    return unreal(`offset ${sign}${match[9]}:${match[10]} is out of range; offsets are -23:59 to +23:59`);
  }

  const offsetMs = (sign === "-" ? -1 : 1) * (offsetHour * 60 + offsetMinute) * 60_000;
  const ms =
    daysFromCivil(year, month, day) * 86_400_000 +
    ((hour * 60 + minute) * 60 + second) * 1000 +
    Number(fraction.slice(0, 3).padEnd(3, "0")) -
    offsetMs;
  return { ok: true, ms };
}
