import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatDuration, isDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["20m", 1_200_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["250ms", 250],
    ["1m500ms", 60_500],
    ["1.001s", 1_001],
    ["0s", 0],
    ["8760h", 8760 * 3_600_000],
  ])("should read %s as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "1", "1d", "1w", "-1h", "+1h", ".5h", "1.h", "1 h", "1H", "1us", "1ns", "h", "1h "])(
    "should reject %j and name it in the error",
    (text) => {
      expect(isDuration(text)).toBe(false);
      expect(() => parseDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}`);
    },
  );
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [250, "250ms"],
    [1_500, "1.5s"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [5_400_000, "1h30m"],
    [3_661_001, "1h1m1.001s"],
    [-60_000, "-1m"],
  ])("should write %d ms as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("should refuse a non-finite number", () => {
    expect(() => formatDuration(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it("should parse back to the same whole number of milliseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 8760 * 3_600_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });
});
