import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AccessScheduleSpecInput, scheduleState } from "./state.ts";
import type { Weekday } from "./zone.ts";

const ZONES = [
  "UTC",
  "Europe/Berlin",
  "America/New_York",
  "Australia/Lord_Howe",
  "Asia/Kolkata",
  "Pacific/Chatham",
  "America/Santiago",
];
const DAYS: Weekday[] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// Times of day cluster around the small hours, where daylight saving happens, so that gaps and
// overlaps are hit often; the rest of the day is covered in quarter hours.
const timeOfDay = fc
  .oneof(
    fc.integer({ min: 0, max: 4 * 60 - 1 }),
    fc.integer({ min: 0, max: 95 }).map((quarter) => quarter * 15),
  )
  .map(
    (minute) => `${String(Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}`,
  );

// Instants around 2026's daylight-saving changes in the zones above, and anywhere in the year.
const ANCHORS = [
  "2026-03-08T07:00:00Z",
  "2026-03-29T01:00:00Z",
  "2026-04-04T15:00:00Z",
  "2026-04-05T03:00:00Z",
  "2026-09-06T04:00:00Z",
  "2026-09-26T14:00:00Z",
  "2026-10-03T15:30:00Z",
  "2026-10-25T01:00:00Z",
  "2026-11-01T06:00:00Z",
].map((text) => Date.parse(text));
const instant = fc.oneof(
  fc.tuple(fc.constantFrom(...ANCHORS), fc.integer({ min: -3 * DAY, max: 3 * DAY })).map(([a, d]) => a + d),
  fc.integer({ min: Date.parse("2026-01-01T00:00:00Z"), max: Date.parse("2027-01-01T00:00:00Z") }),
);

const window = fc.record({
  days: fc.subarray(DAYS, { minLength: 1 }),
  start: timeOfDay,
  end: fc.oneof({ arbitrary: timeOfDay, weight: 4 }, { arbitrary: fc.constant("24:00"), weight: 1 }),
});

function grantsAround(t: number) {
  return fc.array(
    fc
      .tuple(fc.integer({ min: -10 * DAY, max: 20 * DAY }), fc.integer({ min: 1, max: 3 * DAY }))
      .map(([offset, length]) => ({
        start: new Date(t + offset).toISOString(),
        end: new Date(t + offset + length).toISOString(),
      })),
    { maxLength: 3 },
  );
}

const scenario = instant.chain((t) =>
  fc.record({
    t: fc.constant(t),
    spec: fc.record(
      {
        timeZone: fc.constantFrom(...ZONES),
        windows: fc.array(window, { maxLength: 4 }),
        grants: grantsAround(t),
        suspend: fc.boolean(),
      },
      { requiredKeys: ["timeZone", "windows", "grants"] },
    ),
    samples: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
      minLength: 5,
      maxLength: 5,
    }),
  }),
);

const activeAt = (spec: AccessScheduleSpecInput, ms: number) => scheduleState(spec, new Date(ms)).active;

describe("scheduleState properties", () => {
  it("nextTransition is the next instant at which active changes", () => {
    fc.assert(
      fc.property(scenario, ({ t, spec, samples }) => {
        const state = scheduleState(spec, new Date(t));
        const next = state.nextTransition?.getTime();
        if (next === undefined) {
          for (const s of samples) expect(activeAt(spec, t + Math.floor(s * 30 * DAY))).toBe(state.active);
          return;
        }
        expect(next).toBeGreaterThan(t);
        expect(activeAt(spec, next - 1)).toBe(state.active);
        expect(activeAt(spec, next)).toBe(!state.active);
        for (const s of samples) expect(activeAt(spec, t + Math.floor(s * (next - t)))).toBe(state.active);
      }),
      { numRuns: 400 },
    );
  });

  it("currentWindowEnd and nextWindowStart agree with nextTransition", () => {
    fc.assert(
      fc.property(scenario, ({ t, spec }) => {
        const state = scheduleState(spec, new Date(t));
        if (state.active) {
          expect(state.nextWindowStart).toBeUndefined();
          expect(state.currentWindowEnd).toEqual(state.nextTransition);
        } else {
          expect(state.currentWindowEnd).toBeUndefined();
          expect(state.nextWindowStart).toEqual(state.nextTransition);
        }
      }),
      { numRuns: 200 },
    );
  });
});
