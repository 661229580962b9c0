import { describe, expect, it } from "vitest";
import { RecentEvents } from "./events.ts";

const MINUTE = 60_000;

describe("RecentEvents", () => {
  it.each([
    { case: "should pass the first event of a key", calls: [["a", 0]], expected: [true] },
    {
      case: "should hold back the same key within the window",
      calls: [
        ["a", 0],
        ["a", MINUTE - 1],
      ],
      expected: [true, false],
    },
    {
      case: "should pass the same key again once the window has passed",
      calls: [
        ["a", 0],
        ["a", MINUTE],
      ],
      expected: [true, true],
    },
    {
      case: "should measure the window from the event written, not from one held back",
      calls: [
        ["a", 0],
        ["a", 40_000],
        ["a", MINUTE],
      ],
      expected: [true, false, true],
    },
    {
      case: "should keep keys apart",
      calls: [
        ["a", 0],
        ["b", 1],
        ["a", 2],
        ["b", 3],
      ],
      expected: [true, true, false, false],
    },
  ] as { case: string; calls: [string, number][]; expected: boolean[] }[])("$case", ({ calls, expected }) => {
    const recent = new RecentEvents({ windowMs: MINUTE, maxKeys: 100 });
    expect(calls.map(([key, now]) => recent.firstWithinWindow(key, now))).toEqual(expected);
  });

  it("should forget keys whose window has passed, so memory follows the event rate, not the history", () => {
    const recent = new RecentEvents({ windowMs: MINUTE, maxKeys: 100_000 });
    for (let i = 0; i < 1_000; i++) recent.firstWithinWindow(`identity-${i}`, i * 1_000);
    // At 999 s only the keys of the last minute (940 s to 999 s) are still held back.
    expect(recent.size).toBe(60);
    expect(recent.firstWithinWindow("identity-939", 999_000)).toBe(true);
    expect(recent.firstWithinWindow("identity-940", 999_000)).toBe(false);
  });

  it("should hold at most maxKeys, giving up the oldest first", () => {
    const recent = new RecentEvents({ windowMs: MINUTE, maxKeys: 3 });
    for (const key of ["a", "b", "c", "d"]) expect(recent.firstWithinWindow(key, 0)).toBe(true);
    expect(recent.size).toBe(3);
    expect(recent.firstWithinWindow("b", 1)).toBe(false);
    expect(recent.firstWithinWindow("d", 1)).toBe(false);
    expect(recent.firstWithinWindow("a", 1)).toBe(true);
  });

  it.each([
    { windowMs: -1, maxKeys: 1 },
    { windowMs: MINUTE, maxKeys: 0 },
  ])("should refuse windowMs $windowMs with maxKeys $maxKeys", (options) => {
    expect(() => new RecentEvents(options)).toThrow(/RecentEvents needs/);
  });
});
