const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A span in the coarsest unit that still reads precisely enough for an expiry: seconds under a
 * minute, minutes under an hour, hours and minutes under two days, whole days beyond. Truncated,
 * never rounded up, so "in 1m" is never shown for something 59 seconds away.
 */
export function formatSpan(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < MINUTE) return `${Math.floor(abs / SECOND)}s`;
  if (abs < HOUR) return `${Math.floor(abs / MINUTE)}m`;
  if (abs < 2 * DAY) {
    const hours = Math.floor(abs / HOUR);
    const minutes = Math.floor((abs % HOUR) / MINUTE);
    return minutes === 0 ? `${hours}h` : `${hours}h${minutes}m`;
  }
  return `${Math.floor(abs / DAY)}d`;
}

/** "in 42m" for an instant ahead of `now`, "expired 3m ago" for one at or behind it. */
export function relativeExpiry(instant: Date, now: Date): string {
  const ms = instant.getTime() - now.getTime();
  return ms > 0 ? `in ${formatSpan(ms)}` : `expired ${formatSpan(ms)} ago`;
}

/** Whole days from `now` to `instant`, truncated toward zero (negative once past). */
export function daysUntil(instant: Date, now: Date): number {
  return Math.trunc((instant.getTime() - now.getTime()) / DAY);
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
