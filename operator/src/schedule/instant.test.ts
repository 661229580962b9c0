import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { timestampField } from "../api/fields.ts";
import { daysInMonth, isLeapYear, parseInstant } from "./instant.ts";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");
const at = (date: string, time = "00:00:00", offset = "Z") => `${date}T${time}${offset}`;

function msOf(text: string): number {
  const parsed = parseInstant(text);
  if (!parsed.ok) throw new Error(`${text} ${parsed.problem}`);
  return parsed.ms;
}

function problemOf(text: string): string {
  const parsed = parseInstant(text);
  if (parsed.ok) throw new Error(`${text} was accepted as ${new Date(parsed.ms).toISOString()}`);
  return parsed.problem;
}

const COMMON_YEARS = [1900, 2026, 2027, 2100];
const LEAP_YEARS = [2000, 2024, 2028];
const MONTH_LENGTHS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

describe("the Gregorian calendar", () => {
  it.each([
    [1900, false],
    [2000, true],
    [2024, true],
    [2026, false],
    [2027, false],
    [2100, false],
    [2400, true],
    [0, true],
  ])("%i is a leap year: %s", (year, leap) => {
    expect(isLeapYear(year)).toBe(leap);
    expect(daysInMonth(year, 2)).toBe(leap ? 29 : 28);
  });
});

describe("parseInstant", () => {
  describe("the last day of every month", () => {
    const cases = [...COMMON_YEARS, ...LEAP_YEARS].flatMap((year) =>
      MONTH_LENGTHS.map((length, i) => ({
        year,
        month: i + 1,
        last: i === 1 && isLeapYear(year) ? 29 : length,
      })),
    );

    it.each(cases)("$year-$month-$last is real and the day after it is not", ({ year, month, last }) => {
      const date = `${year}-${pad(month)}-${pad(last)}`;
      expect(msOf(at(date, "23:59:59"))).toBe(Date.UTC(year, month - 1, last, 23, 59, 59));
      const next = `${year}-${pad(month)}-${pad(last + 1)}`;
      expect(problemOf(at(next))).toMatch(
        new RegExp(`^is not a real instant \\(\\w+ ${year} has ${last} days\\)$`),
      );
    });
  });

  it.each([
    { year: 1900, real: false },
    { year: 2000, real: true },
    { year: 2024, real: true },
    { year: 2027, real: false },
    { year: 2100, real: false },
  ])("29 February $year is real: $real", ({ year, real }) => {
    const text = at(`${year}-02-29`);
    if (real) expect(msOf(text)).toBe(Date.UTC(year, 1, 29));
    else expect(problemOf(text)).toBe(`is not a real instant (February ${year} has 28 days)`);
  });

  it.each([
    { text: at("2027-02-29"), problem: "February 2027 has 28 days" },
    { text: at("2026-04-31"), problem: "April 2026 has 30 days" },
    { text: at("2026-02-30"), problem: "February 2026 has 28 days" },
    { text: at("2026-01-00"), problem: "days start at 01" },
    { text: at("2026-00-10"), problem: "month 00 does not exist; months are 01 to 12" },
    { text: at("2026-13-01"), problem: "month 13 does not exist; months are 01 to 12" },
    { text: at("2026-11-21", "24:00:00"), problem: "hour 24 does not exist; hours are 00 to 23" },
    { text: at("2026-11-21", "23:60:00"), problem: "minute 60 does not exist; minutes are 00 to 59" },
    {
      text: at("2026-12-31", "23:59:60"),
      problem: "second 60 is a leap second, which is not accepted; seconds are 00 to 59",
    },
    { text: at("2026-11-21", "10:00:61"), problem: "second 61 does not exist; seconds are 00 to 59" },
    {
      text: at("2026-11-21", "10:00:00", "+25:00"),
      problem: "offset +25:00 is out of range; offsets are -23:59 to +23:59",
    },
    {
      text: at("2026-11-21", "10:00:00", "-01:60"),
      problem: "offset -01:60 is out of range; offsets are -23:59 to +23:59",
    },
  ])("$text is not a real instant: $problem", ({ text, problem }) => {
    expect(problemOf(text)).toBe(`is not a real instant (${problem})`);
  });

  it.each([
    "",
    "tomorrow",
    "2026-11-21",
    "2026-11-21T22:00:00",
    "2026-11-21 22:00:00Z",
    "2026-11-21T22:00Z",
    "2026-1-21T22:00:00Z",
    "26-11-21T22:00:00Z",
    "+02026-11-21T22:00:00Z",
    "2026-11-21T22:00:00.Z",
    "2026-11-21T22:00:00,5Z",
    "2026-11-21T22:00:00+0100",
    "2026-11-21T22:00:00+01",
    "2026-11-21T22:00:00 Z",
    " 2026-11-21T22:00:00Z",
    "2026-11-21T22:00:00Z ",
    "2026-11-21T22:00:00UTC",
    "２０２６-11-21T22:00:00Z",
  ])("%j is not RFC 3339", (text) => {
    expect(problemOf(text)).toBe('is not an RFC 3339 instant (for example "2026-11-21T22:00:00Z")');
  });

  it.each([
    { text: at("2026-11-21", "00:00:00", "+14:00"), instant: "2026-11-20T10:00:00.000Z" },
    { text: at("2026-11-21", "00:00:00", "-12:00"), instant: "2026-11-21T12:00:00.000Z" },
    { text: at("2026-11-21", "10:00:00", "+05:30"), instant: "2026-11-21T04:30:00.000Z" },
    { text: at("2026-11-21", "10:00:00", "+12:45"), instant: "2026-11-20T21:15:00.000Z" },
    { text: at("2026-11-21", "10:00:00", "+23:59"), instant: "2026-11-20T10:01:00.000Z" },
    { text: at("2026-11-21", "10:00:00", "-23:59"), instant: "2026-11-22T09:59:00.000Z" },
    { text: at("2026-11-21", "10:00:00", "-00:00"), instant: "2026-11-21T10:00:00.000Z" },
    { text: at("2026-11-21", "10:00:00", "+00:00"), instant: "2026-11-21T10:00:00.000Z" },
    // An offset may carry the instant across a year, and across 29 February.
    { text: at("2027-01-01", "05:00:00", "+14:00"), instant: "2026-12-31T15:00:00.000Z" },
    { text: at("2024-02-29", "20:00:00", "-12:00"), instant: "2024-03-01T08:00:00.000Z" },
    { text: at("2024-03-01", "01:00:00", "+14:00"), instant: "2024-02-29T11:00:00.000Z" },
  ])("$text is $instant", ({ text, instant }) => {
    expect(new Date(msOf(text)).toISOString()).toBe(instant);
  });

  it.each([
    { text: "2026-11-21T22:00:00.5Z", ms: 500 },
    { text: "2026-11-21T22:00:00.05Z", ms: 50 },
    { text: "2026-11-21T22:00:00.123Z", ms: 123 },
    { text: "2026-11-21T22:00:00.1239Z", ms: 123 },
    { text: "2026-11-21T22:00:00.999999999Z", ms: 999 },
    { text: "2026-11-21T22:00:00.000000000001Z", ms: 0 },
  ])("the fraction of $text is truncated to $ms ms, as Date does", ({ text, ms }) => {
    expect(msOf(text)).toBe(Date.parse("2026-11-21T22:00:00Z") + ms);
    expect(msOf(text)).toBe(Date.parse(text));
  });

  // RFC 3339 §5.6, NOTE: "T" and "Z" may alternatively be lower case. They name the same instant,
  // so the evaluator reads them; the API's pattern, like Kubernetes' own timestamps, asks for upper case.
  it.each(["2026-11-21t22:00:00Z", "2026-11-21T22:00:00z", "2026-11-21t22:00:00z"])(
    "%s, with a lower-case t or z, is the same instant",
    (text) => {
      expect(msOf(text)).toBe(Date.parse("2026-11-21T22:00:00Z"));
    },
  );

  it("reads years below 100 as themselves, and year 0 as a leap year", () => {
    expect(new Date(msOf("0050-03-01T00:00:00Z")).getUTCFullYear()).toBe(50);
    expect(new Date(msOf("0000-02-29T00:00:00Z")).toISOString()).toBe("0000-02-29T00:00:00.000Z");
    expect(problemOf("0100-02-29T00:00:00Z")).toBe("is not a real instant (February 0100 has 28 days)");
  });
});

const field = (min: number, max: number) => fc.integer({ min, max });
const validInstant = fc
  .record({
    // Century and leap years, where calendars go wrong, and any year RFC 3339 can write.
    year: fc.oneof(fc.constantFrom(0, 4, 100, 400, 1900, 2000, 2024, 2027, 2100, 2400), field(0, 9999)),
    month: fc.oneof(fc.constant(2), field(1, 12)),
    dayFraction: fc.oneof(fc.constant(0.999), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
    hour: field(0, 23),
    minute: field(0, 59),
    second: field(0, 59),
    fraction: fc.option(fc.stringMatching(/^[0-9]{1,9}$/), { nil: undefined }),
    offset: fc.option(fc.tuple(fc.constantFrom("+", "-"), field(0, 23), field(0, 59)), { nil: undefined }),
  })
  .map((f) => {
    const day = 1 + Math.floor(f.dayFraction * daysInMonth(f.year, f.month));
    const offset = f.offset === undefined ? "Z" : `${f.offset[0]}${pad(f.offset[1])}:${pad(f.offset[2])}`;
    const fraction = f.fraction === undefined ? "" : `.${f.fraction}`;
    return `${pad(f.year, 4)}-${pad(f.month)}-${pad(day)}T${pad(f.hour)}:${pad(f.minute)}:${pad(f.second)}${fraction}${offset}`;
  });

// Strings shaped like RFC 3339 whose every field may be just out of range.
const nearInstant = fc
  .tuple(
    fc.constantFrom("1900", "2000", "2024", "2026", "2027", "2100"),
    field(0, 13),
    field(0, 32),
    field(0, 25),
    field(0, 61),
    field(0, 61),
    fc.constantFrom("", ".5", ".123456789"),
    fc.constantFrom("Z", "z", "+00:00", "+14:00", "-12:00", "+23:59", "+24:00", "-25:00", "+01:60"),
    fc.constantFrom("T", "t"),
  )
  .map(
    ([y, mo, d, h, mi, s, frac, off, t]) =>
      `${y}-${pad(mo)}-${pad(d)}${t}${pad(h)}:${pad(mi)}:${pad(s)}${frac}${off}`,
  );

describe("parseInstant properties", () => {
  it("every valid instant is the one Date reads, and round-trips through toISOString", () => {
    fc.assert(
      fc.property(validInstant, (text) => {
        const ms = msOf(text);
        expect(ms).toBe(Date.parse(text));
        const iso = new Date(text).toISOString();
        expect(Date.parse(iso)).toBe(ms);
        // toISOString writes years 0000-9999 in RFC 3339 form, and those read back to the same instant.
        if (/^\d{4}-/.test(iso)) expect(msOf(iso)).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses exactly the texts whose fields are out of range, and reads the rest as Date does", () => {
    fc.assert(
      fc.property(nearInstant, (text) => {
        const [, y, mo, d, h, mi, s, oh, om] = (
          /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:[Zz]|[+-](\d\d):(\d\d))$/.exec(text) ??
          []
        ).map(Number) as number[];
        const real =
          (mo as number) >= 1 &&
          (mo as number) <= 12 &&
          (d as number) >= 1 &&
          (d as number) <= daysInMonth(y as number, mo as number) &&
          (h as number) <= 23 &&
          (mi as number) <= 59 &&
          (s as number) <= 59 &&
          (Number.isNaN(oh) || (oh as number) <= 23) &&
          (Number.isNaN(om) || (om as number) <= 59);
        const parsed = parseInstant(text);
        expect(parsed.ok).toBe(real);
        if (parsed.ok) expect(parsed.ms).toBe(Date.parse(text.toUpperCase()));
      }),
      { numRuns: 3000 },
    );
  });

  // The API's schema and the evaluator must agree, or a grant the API admitted could stay closed
  // (or, worse, one the API would refuse could open). The evaluator also reads lower-case t and z
  // and fractions finer than a nanosecond, which the API's pattern refuses.
  it("agrees with the API's timestamp validation on every upper-case text", () => {
    const api = timestampField("end");
    fc.assert(
      fc.property(fc.oneof(validInstant, nearInstant), (text) => {
        const upper = text.toUpperCase();
        expect(api.safeParse(upper).success).toBe(parseInstant(upper).ok);
      }),
      { numRuns: 3000 },
    );
  });
});
