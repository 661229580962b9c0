/**
 * Kubernetes/Go-style durations ("90s", "20m", "1h30m", "1.5h", "250ms"), restricted to the
 * units h, m, s and ms so that the API server (CEL `duration()`) and the operator agree exactly.
 */

/** RE2- and ECMAScript-compatible pattern of a duration; `[.]` avoids escaping in CEL literals. */
export const DURATION_PATTERN = "^([0-9]+([.][0-9]+)?(h|ms|m|s))+$";

const DURATION_RE = new RegExp(DURATION_PATTERN);
const COMPONENT_RE = /([0-9]+(?:[.][0-9]+)?)(h|ms|m|s)/g;

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** Parses a duration into milliseconds; throws a RangeError naming the text when it is not one. */
export function parseDuration(text: string): number {
  if (!DURATION_RE.test(text)) {
    throw new RangeError(
      `invalid duration ${JSON.stringify(text)}: use a number with a unit h, m, s or ms, e.g. "90s", "20m", "1h30m"`,
    );
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(COMPONENT_RE)) {
    total += Number(amount) * (UNIT_MS[unit ?? ""] ?? Number.NaN);
  }
  // Go durations have nanosecond resolution; rounding there removes binary noise such as
  // 1.001s -> 1000.9999999999999 ms.
  return Math.round(total * 1e6) / 1e6;
}

/** True when {@link parseDuration} accepts the text. */
export function isDuration(text: string): boolean {
  return DURATION_RE.test(text);
}

/**
 * Formats milliseconds as the shortest duration in h, m, s and ms that parses back to the same
 * value: 5_400_000 -> "1h30m", 1_500 -> "1.5s", 250 -> "250ms", 0 -> "0s".
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} milliseconds as a duration`);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms === 0) return "0s";
  if (ms < 1_000) return `${trim(ms)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1_000;
  return `${hours ? `${hours}h` : ""}${minutes ? `${minutes}m` : ""}${seconds ? `${trim(seconds)}s` : ""}`;
}

/** Drops binary floating-point noise (0.30000000000000004) while keeping millisecond precision. */
function trim(n: number): string {
  return String(Number(n.toFixed(6)));
}
