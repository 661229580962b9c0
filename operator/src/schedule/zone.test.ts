import { describe, expect, it } from "vitest";
import { instantToLocal, isValidTimeZone, localWallClockToInstant, type WallClock } from "./zone.ts";

describe("localWallClockToInstant", () => {
  it.each([
    {
      name: "an ordinary winter time in Berlin is UTC+1",
      zone: "Europe/Berlin",
      wall: "2026-01-15 12:00",
      instant: "2026-01-15T11:00:00Z",
    },
    {
      name: "an ordinary summer time in Berlin is UTC+2",
      zone: "Europe/Berlin",
      wall: "2026-07-15 12:00",
      instant: "2026-07-15T10:00:00Z",
    },
    {
      name: "a skipped Berlin time maps to the end of the gap",
      zone: "Europe/Berlin",
      wall: "2026-03-29 02:30",
      instant: "2026-03-29T01:00:00Z",
    },
    {
      name: "the start of a Berlin gap maps to the end of the gap",
      zone: "Europe/Berlin",
      wall: "2026-03-29 02:00",
      instant: "2026-03-29T01:00:00Z",
    },
    {
      name: "the first time after a Berlin gap is the gap's end",
      zone: "Europe/Berlin",
      wall: "2026-03-29 03:00",
      instant: "2026-03-29T01:00:00Z",
    },
    {
      name: "a repeated Berlin time maps to its first occurrence",
      zone: "Europe/Berlin",
      wall: "2026-10-25 02:30",
      instant: "2026-10-25T00:30:00Z",
    },
    {
      name: "a New York skipped time maps to 03:00 EDT",
      zone: "America/New_York",
      wall: "2026-03-08 02:59",
      instant: "2026-03-08T07:00:00Z",
    },
    {
      name: "a New York repeated time maps to EDT",
      zone: "America/New_York",
      wall: "2026-11-01 01:30",
      instant: "2026-11-01T05:30:00Z",
    },
    {
      name: "Kolkata is UTC+05:30",
      zone: "Asia/Kolkata",
      wall: "2026-06-01 00:00",
      instant: "2026-05-31T18:30:00Z",
    },
    {
      name: "a Lord Howe time in the 30-minute gap maps to 02:30 +11:00",
      zone: "Australia/Lord_Howe",
      wall: "2026-10-04 02:15",
      instant: "2026-10-03T15:30:00Z",
    },
    {
      name: "a Lord Howe repeated time maps to +11:00",
      zone: "Australia/Lord_Howe",
      wall: "2026-04-05 01:45",
      instant: "2026-04-04T14:45:00Z",
    },
    {
      name: "a Lord Howe time after the fall-back is +10:30",
      zone: "Australia/Lord_Howe",
      wall: "2026-04-05 02:00",
      instant: "2026-04-04T15:30:00Z",
    },
    {
      name: "Chatham's +12:45 offset is honoured",
      zone: "Pacific/Chatham",
      wall: "2026-07-01 12:00",
      instant: "2026-06-30T23:15:00Z",
    },
    {
      name: "a year below 100 is not read as 19xx",
      zone: "UTC",
      wall: "0050-01-01 00:00",
      instant: "0050-01-01T00:00:00Z",
    },
  ])("$name", ({ zone, wall, instant }) => {
    const [date = "", time = ""] = wall.split(" ");
    const [year, month, day] = date.split("-").map(Number);
    const [hour, minute] = time.split(":").map(Number);
    const parts = { year, month, day, hour, minute } as WallClock;
    expect(localWallClockToInstant(parts, zone).toISOString()).toBe(new Date(instant).toISOString());
  });

  it("throws RangeError for an unknown zone", () => {
    expect(() =>
      localWallClockToInstant({ year: 2026, month: 1, day: 1, hour: 0, minute: 0 }, "Nowhere/Land"),
    ).toThrow(RangeError);
  });
});

// The two rules docs/concepts.md states, at every 2026 and 2027 change in Berlin and New York: a
// repeated local time means its first occurrence, a skipped one the moment of the change.
describe("localWallClockToInstant at the 2026 and 2027 daylight-saving changes", () => {
  const TRANSITIONS = [
    // zone, date, clocks change at (UTC), the local time before, the local time after
    { zone: "Europe/Berlin", date: "2026-03-29", change: "2026-03-29T01:00:00Z", from: "02:00", to: "03:00" },
    { zone: "Europe/Berlin", date: "2026-10-25", change: "2026-10-25T01:00:00Z", from: "03:00", to: "02:00" },
    { zone: "Europe/Berlin", date: "2027-03-28", change: "2027-03-28T01:00:00Z", from: "02:00", to: "03:00" },
    { zone: "Europe/Berlin", date: "2027-10-31", change: "2027-10-31T01:00:00Z", from: "03:00", to: "02:00" },
    {
      zone: "America/New_York",
      date: "2026-03-08",
      change: "2026-03-08T07:00:00Z",
      from: "02:00",
      to: "03:00",
    },
    {
      zone: "America/New_York",
      date: "2026-11-01",
      change: "2026-11-01T06:00:00Z",
      from: "02:00",
      to: "01:00",
    },
    {
      zone: "America/New_York",
      date: "2027-03-14",
      change: "2027-03-14T07:00:00Z",
      from: "02:00",
      to: "03:00",
    },
    {
      zone: "America/New_York",
      date: "2027-11-07",
      change: "2027-11-07T06:00:00Z",
      from: "02:00",
      to: "01:00",
    },
  ];
  const wallOf = (date: string, time: string): WallClock => {
    const [year, month, day] = date.split("-").map(Number) as [number, number, number];
    const [hour, minute] = time.split(":").map(Number) as [number, number];
    return { year, month, day, hour, minute };
  };
  const minutes = (time: string) => Number(time.slice(0, 2)) * 60 + Number(time.slice(3));
  const HOUR = 3_600_000;

  it.each(TRANSITIONS)("$zone $date: the local clock jumps from $from to $to at $change", (t) => {
    const change = Date.parse(t.change);
    const before = instantToLocal(change - 1, t.zone);
    const after = instantToLocal(change, t.zone);
    expect([before.hour, before.minute, before.second]).toEqual([minutes(t.from) / 60 - 1, 59, 59]);
    expect([after.hour, after.minute]).toEqual([minutes(t.to) / 60, 0]);
  });

  it.each(TRANSITIONS.filter((t) => t.to > t.from))(
    "$zone $date: every skipped time from $from to before $to is the moment of the change, $change",
    (t) => {
      for (let m = minutes(t.from); m < minutes(t.to); m++) {
        const time = `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
        expect(localWallClockToInstant(wallOf(t.date, time), t.zone).toISOString(), time).toBe(
          new Date(t.change).toISOString(),
        );
      }
      // The first time after the gap is the change itself; the last before it is a minute earlier.
      expect(localWallClockToInstant(wallOf(t.date, t.to), t.zone).getTime()).toBe(Date.parse(t.change));
      const lastBefore = `${String(minutes(t.from) / 60 - 1).padStart(2, "0")}:59`;
      expect(localWallClockToInstant(wallOf(t.date, lastBefore), t.zone).getTime()).toBe(
        Date.parse(t.change) - 60_000,
      );
    },
  );

  it.each(TRANSITIONS.filter((t) => t.to < t.from))(
    "$zone $date: every repeated time from $to to before $from is its first occurrence, an hour before its second",
    (t) => {
      const change = Date.parse(t.change);
      for (let m = minutes(t.to); m < minutes(t.from); m++) {
        const time = `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
        const first = localWallClockToInstant(wallOf(t.date, time), t.zone).getTime();
        const offset = (m - minutes(t.to)) * 60_000;
        // The first run of the repeated hour ends at the change; the second starts there.
        expect(first, time).toBe(change - HOUR + offset);
        const second = instantToLocal(change + offset, t.zone);
        expect([second.hour * 60 + second.minute], time).toEqual([m]);
      }
      // The time the clocks fall back to is read before the change, the one after it is not repeated.
      expect(localWallClockToInstant(wallOf(t.date, t.from), t.zone).getTime()).toBe(change + HOUR);
    },
  );
});

describe("instantToLocal", () => {
  it.each([
    {
      name: "Berlin in winter",
      zone: "Europe/Berlin",
      instant: "2026-03-29T00:59:59.500Z",
      local: [2026, 3, 29, 1, 59, 59, 500],
      weekday: "Sun",
      offsetMinutes: 60,
    },
    {
      name: "Berlin right after spring-forward",
      zone: "Europe/Berlin",
      instant: "2026-03-29T01:00:00Z",
      local: [2026, 3, 29, 3, 0, 0, 0],
      weekday: "Sun",
      offsetMinutes: 120,
    },
    {
      name: "the second run of Berlin's repeated hour",
      zone: "Europe/Berlin",
      instant: "2026-10-25T01:30:00Z",
      local: [2026, 10, 25, 2, 30, 0, 0],
      weekday: "Sun",
      offsetMinutes: 60,
    },
    {
      name: "Kolkata crosses into the next day before UTC does",
      zone: "Asia/Kolkata",
      instant: "2026-11-20T18:30:00Z",
      local: [2026, 11, 21, 0, 0, 0, 0],
      weekday: "Sat",
      offsetMinutes: 330,
    },
    {
      name: "Lord Howe standard time",
      zone: "Australia/Lord_Howe",
      instant: "2026-04-04T15:00:00Z",
      local: [2026, 4, 5, 1, 30, 0, 0],
      weekday: "Sun",
      offsetMinutes: 630,
    },
    {
      name: "New York is behind UTC",
      zone: "America/New_York",
      instant: "2026-11-21T03:00:00Z",
      local: [2026, 11, 20, 22, 0, 0, 0],
      weekday: "Fri",
      offsetMinutes: -300,
    },
  ])("$name", ({ zone, instant, local, weekday, offsetMinutes }) => {
    const result = instantToLocal(new Date(instant), zone);
    expect([
      result.year,
      result.month,
      result.day,
      result.hour,
      result.minute,
      result.second,
      result.millisecond,
    ]).toEqual(local);
    expect(result.weekday).toBe(weekday);
    expect(result.offsetMs).toBe(offsetMinutes * 60_000);
  });
});

describe("isValidTimeZone", () => {
  it.each([
    { zone: "UTC", valid: true },
    { zone: "Europe/Berlin", valid: true },
    { zone: "Australia/Lord_Howe", valid: true },
    { zone: "Etc/GMT+5", valid: true },
    { zone: "Europe/Berlln", valid: false },
    { zone: "", valid: false },
    { zone: "+01:00", valid: false },
    { zone: "-05:00", valid: false },
  ])("$zone is valid: $valid", ({ zone, valid }) => {
    expect(isValidTimeZone(zone)).toBe(valid);
  });
});
