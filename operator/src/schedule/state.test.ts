import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AccessScheduleSpecInput, type ScheduleReason, scheduleState } from "./state.ts";
import type { Weekday } from "./zone.ts";

interface Expected {
  active: boolean;
  reason: ScheduleReason;
  currentWindowEnd?: string;
  nextWindowStart?: string;
  nextTransition?: string;
}

const iso = (instant: string) => new Date(instant).toISOString();

/** Active until `until`, which is also the next transition (undefined: active for good). */
function open(reason: "InsideWindow" | "InsideGrant", until?: string): Expected {
  return until === undefined
    ? { active: true, reason }
    : { active: true, reason, currentWindowEnd: iso(until), nextTransition: iso(until) };
}

/** Inactive; `next` is both the next activation and the next transition. */
function closed(reason: ScheduleReason, next?: string): Expected {
  return next === undefined
    ? { active: false, reason }
    : { active: false, reason, nextWindowStart: iso(next), nextTransition: iso(next) };
}

const ALL_DAYS: Weekday[] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
// 2026-11-16 is a Monday; this week carries the cases that are not about daylight saving.
const WEEK_OF: Record<Weekday, string> = {
  Mon: "2026-11-16",
  Tue: "2026-11-17",
  Wed: "2026-11-18",
  Thu: "2026-11-19",
  Fri: "2026-11-20",
  Sat: "2026-11-21",
  Sun: "2026-11-22",
};
const NEXT_WEEK_OF: Record<Weekday, string> = {
  Mon: "2026-11-23",
  Tue: "2026-11-24",
  Wed: "2026-11-25",
  Thu: "2026-11-26",
  Fri: "2026-11-27",
  Sat: "2026-11-28",
  Sun: "2026-11-29",
};

function windows(timeZone: string, ...list: [Weekday[], string, string][]): AccessScheduleSpecInput {
  return { timeZone, windows: list.map(([days, start, end]) => ({ days, start, end })) };
}

const nineToFive = windows("UTC", [["Mon"], "09:00", "17:00"]);

interface Case {
  name: string;
  spec: AccessScheduleSpecInput;
  now: string;
  expected: Expected;
}

const weekdayCases: Case[] = ALL_DAYS.flatMap((day, i): Case[] => {
  const following = ALL_DAYS[(i + 1) % 7] as Weekday;
  const spec = windows("UTC", [[day], "09:00", "17:00"]);
  return [
    {
      name: `a ${day} window is open at noon on ${day}`,
      spec,
      now: `${WEEK_OF[day]}T12:00:00Z`,
      expected: open("InsideWindow", `${WEEK_OF[day]}T17:00:00Z`),
    },
    {
      name: `a ${day} window is closed on ${following} and reopens a week later`,
      spec,
      now: `${i === 6 ? NEXT_WEEK_OF[following] : WEEK_OF[following]}T12:00:00Z`,
      expected: closed("OutsideWindows", `${NEXT_WEEK_OF[day]}T09:00:00Z`),
    },
  ];
});

const cases: Case[] = [
  ...weekdayCases,

  // Boundaries are [start, end).
  {
    name: "a window is open at exactly its start",
    spec: nineToFive,
    now: "2026-11-16T09:00:00Z",
    expected: open("InsideWindow", "2026-11-16T17:00:00Z"),
  },
  {
    name: "a window is closed one millisecond before its start",
    spec: nineToFive,
    now: "2026-11-16T08:59:59.999Z",
    expected: closed("OutsideWindows", "2026-11-16T09:00:00Z"),
  },
  {
    name: "a window is closed at exactly its end",
    spec: nineToFive,
    now: "2026-11-16T17:00:00Z",
    expected: closed("OutsideWindows", "2026-11-23T09:00:00Z"),
  },
  {
    name: "the time zone defaults to UTC",
    spec: { windows: [{ days: ["Mon"], start: "09:00", end: "17:00" }] },
    now: "2026-11-16T16:59:00Z",
    expected: open("InsideWindow", "2026-11-16T17:00:00Z"),
  },

  // Crossing midnight: the window belongs to the day it starts on.
  {
    name: "a Friday 22:00-02:00 window is open at 01:00 on Saturday",
    spec: windows("UTC", [["Fri"], "22:00", "02:00"]),
    now: "2026-11-21T01:00:00Z",
    expected: open("InsideWindow", "2026-11-21T02:00:00Z"),
  },
  {
    name: "a Friday 22:00-02:00 window is closed at 03:00 on Saturday",
    spec: windows("UTC", [["Fri"], "22:00", "02:00"]),
    now: "2026-11-21T03:00:00Z",
    expected: closed("OutsideWindows", "2026-11-27T22:00:00Z"),
  },
  {
    name: "a Friday 22:00-02:00 window does not open in the early hours of Friday",
    spec: windows("UTC", [["Fri"], "22:00", "02:00"]),
    now: "2026-11-20T01:00:00Z",
    expected: closed("OutsideWindows", "2026-11-20T22:00:00Z"),
  },
  {
    name: "a Sunday night window runs into Monday across the week boundary",
    spec: windows("UTC", [["Sun"], "23:00", "01:30"]),
    now: "2026-11-23T01:00:00Z",
    expected: open("InsideWindow", "2026-11-23T01:30:00Z"),
  },
  {
    name: "a window ending at 00:00 runs until midnight",
    spec: windows("UTC", [["Mon"], "18:00", "00:00"]),
    now: "2026-11-16T23:59:59.999Z",
    expected: open("InsideWindow", "2026-11-17T00:00:00Z"),
  },

  // 24:00 is the midnight that ends the day: 00:00 to 24:00 is the whole day.
  {
    name: "a 00:00-24:00 window is open from midnight to midnight",
    spec: windows("UTC", [["Mon"], "00:00", "24:00"]),
    now: "2026-11-16T00:00:00Z",
    expected: open("InsideWindow", "2026-11-17T00:00:00Z"),
  },
  {
    name: "a 00:00-24:00 window is closed at the midnight that ends it",
    spec: windows("UTC", [["Mon"], "00:00", "24:00"]),
    now: "2026-11-17T00:00:00Z",
    expected: closed("OutsideWindows", "2026-11-23T00:00:00Z"),
  },
  {
    name: "a window ending at 24:00 is the same as one ending at 00:00",
    spec: windows("UTC", [["Mon"], "18:00", "24:00"]),
    now: "2026-11-16T23:59:59.999Z",
    expected: open("InsideWindow", "2026-11-17T00:00:00Z"),
  },
  {
    name: "whole-day windows on Saturday and Sunday merge into the weekend",
    spec: windows("Europe/Berlin", [["Sat", "Sun"], "00:00", "24:00"]),
    now: "2026-11-21T12:00:00Z",
    expected: open("InsideWindow", "2026-11-22T23:00:00Z"),
  },
  {
    name: "whole-day windows on every day are open with no end",
    spec: windows("Europe/Berlin", [ALL_DAYS, "00:00", "24:00"]),
    now: "2026-10-25T01:30:00Z",
    expected: open("InsideWindow"),
  },
  {
    name: "Berlin spring-forward: the whole of Sunday 2026-03-29 is 23 hours",
    spec: windows("Europe/Berlin", [["Sun"], "00:00", "24:00"]),
    now: "2026-03-28T23:00:00Z",
    expected: open("InsideWindow", "2026-03-29T22:00:00Z"),
  },
  {
    name: "Berlin fall-back: the whole of Sunday 2026-10-25 is 25 hours",
    spec: windows("Europe/Berlin", [["Sun"], "00:00", "24:00"]),
    now: "2026-10-24T22:00:00Z",
    expected: open("InsideWindow", "2026-10-25T23:00:00Z"),
  },
  {
    name: "New York 2027 spring-forward: the whole of Sunday 14 March is 23 hours",
    spec: windows("America/New_York", [["Sun"], "00:00", "24:00"]),
    now: "2027-03-14T05:00:00Z",
    expected: open("InsideWindow", "2027-03-15T04:00:00Z"),
  },
  {
    name: "New York 2027 fall-back: the whole of Sunday 7 November is 25 hours",
    spec: windows("America/New_York", [["Sun"], "00:00", "24:00"]),
    now: "2027-11-07T04:00:00Z",
    expected: open("InsideWindow", "2027-11-08T05:00:00Z"),
  },

  // Merging: overlapping and adjacent windows form one active period.
  {
    name: "back-to-back windows merge into one period",
    spec: windows("UTC", [["Mon"], "09:00", "12:00"], [["Mon"], "12:00", "17:00"]),
    now: "2026-11-16T10:00:00Z",
    expected: open("InsideWindow", "2026-11-16T17:00:00Z"),
  },
  {
    name: "overlapping windows merge into one period",
    spec: windows("UTC", [["Mon"], "11:00", "17:00"], [["Mon"], "09:00", "13:00"]),
    now: "2026-11-16T10:00:00Z",
    expected: open("InsideWindow", "2026-11-16T17:00:00Z"),
  },
  {
    name: "an evening window and the next morning's window merge across midnight",
    spec: windows("UTC", [["Mon"], "20:00", "00:00"], [["Tue"], "00:00", "06:00"]),
    now: "2026-11-16T21:00:00Z",
    expected: open("InsideWindow", "2026-11-17T06:00:00Z"),
  },
  {
    name: "windows covering the whole week are open with no end",
    spec: windows("Europe/Berlin", [ALL_DAYS, "00:00", "12:00"], [ALL_DAYS, "12:00", "00:00"]),
    now: "2026-03-29T01:00:00Z",
    expected: open("InsideWindow"),
  },
  {
    name: "windows leaving one minute of the week uncovered run until that minute",
    spec: windows(
      "UTC",
      [ALL_DAYS, "00:00", "12:00"],
      [["Mon", "Tue", "Wed", "Thu", "Fri", "Sun"], "12:00", "00:00"],
      [["Sat"], "12:01", "00:00"],
    ),
    now: "2026-11-16T10:00:00Z",
    expected: open("InsideWindow", "2026-11-21T12:00:00Z"),
  },

  // Europe/Berlin, spring forward on Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z.
  {
    name: "Berlin spring-forward: a 02:00-03:00 window lies wholly in the gap and does not open that day",
    spec: windows("Europe/Berlin", [["Sun"], "02:00", "03:00"]),
    now: "2026-03-29T00:30:00Z",
    expected: closed("OutsideWindows", "2026-04-05T00:00:00Z"),
  },
  {
    name: "Berlin spring-forward: a window starting at 02:30 (skipped) opens at the end of the gap",
    spec: windows("Europe/Berlin", [["Sun"], "02:30", "04:00"]),
    now: "2026-03-29T00:59:59.999Z",
    expected: closed("OutsideWindows", "2026-03-29T01:00:00Z"),
  },
  {
    name: "Berlin spring-forward: the window starting in the gap is open at 03:00 CEST until 04:00 CEST",
    spec: windows("Europe/Berlin", [["Sun"], "02:30", "04:00"]),
    now: "2026-03-29T01:00:00Z",
    expected: open("InsideWindow", "2026-03-29T02:00:00Z"),
  },
  {
    name: "Berlin spring-forward: a window ending at 02:30 (skipped) ends at the end of the gap",
    spec: windows("Europe/Berlin", [["Sun"], "01:00", "02:30"]),
    now: "2026-03-29T00:30:00Z",
    expected: open("InsideWindow", "2026-03-29T01:00:00Z"),
  },
  {
    name: "Berlin spring-forward: a Saturday night window into the gap is an hour shorter",
    spec: windows("Europe/Berlin", [["Sat"], "22:00", "03:00"]),
    now: "2026-03-28T21:00:00Z",
    expected: open("InsideWindow", "2026-03-29T01:00:00Z"),
  },
  {
    name: "Berlin spring-forward: business hours that Sunday are in CEST",
    spec: windows("Europe/Berlin", [["Sun"], "08:00", "18:00"]),
    now: "2026-03-29T05:59:00Z",
    expected: closed("OutsideWindows", "2026-03-29T06:00:00Z"),
  },

  // Europe/Berlin, fall back on Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z, so
  // 02:00-03:00 runs twice (00:00Z-01:00Z, then 01:00Z-02:00Z). Starts and ends use the first run.
  {
    name: "Berlin fall-back: a 02:00-03:00 window spans both runs of the repeated hour",
    spec: windows("Europe/Berlin", [["Sun"], "02:00", "03:00"]),
    now: "2026-10-25T01:30:00Z",
    expected: open("InsideWindow", "2026-10-25T02:00:00Z"),
  },
  {
    name: "Berlin fall-back: a 02:00-02:30 window ends at the first 02:30, so the second run is closed",
    spec: windows("Europe/Berlin", [["Sun"], "02:00", "02:30"]),
    now: "2026-10-25T01:15:00Z",
    expected: closed("OutsideWindows", "2026-11-01T01:00:00Z"),
  },
  {
    name: "Berlin fall-back: a 02:00-02:30 window is open during the first run",
    spec: windows("Europe/Berlin", [["Sun"], "02:00", "02:30"]),
    now: "2026-10-25T00:10:00Z",
    expected: open("InsideWindow", "2026-10-25T00:30:00Z"),
  },
  {
    name: "Berlin fall-back: a window starting at 02:30 starts at the first 02:30 and ends at 05:00 CET",
    spec: windows("Europe/Berlin", [["Sun"], "02:30", "05:00"]),
    now: "2026-10-25T00:29:00Z",
    expected: closed("OutsideWindows", "2026-10-25T00:30:00Z"),
  },
  {
    name: "Berlin fall-back: the night is an hour longer for a window crossing it",
    spec: windows("Europe/Berlin", [["Sat"], "22:00", "06:00"]),
    now: "2026-10-25T04:59:59Z",
    expected: open("InsideWindow", "2026-10-25T05:00:00Z"),
  },

  // America/New_York: spring forward 2026-03-08 at 07:00Z, fall back 2026-11-01 at 06:00Z.
  {
    name: "New York spring-forward: a 01:00-03:00 window lasts one hour",
    spec: windows("America/New_York", [["Sun"], "01:00", "03:00"]),
    now: "2026-03-08T06:30:00Z",
    expected: open("InsideWindow", "2026-03-08T07:00:00Z"),
  },
  {
    name: "New York spring-forward: a 02:15-02:45 window lies in the gap and next opens a week later in EDT",
    spec: windows("America/New_York", [["Sun"], "02:15", "02:45"]),
    now: "2026-03-08T06:59:00Z",
    expected: closed("OutsideWindows", "2026-03-15T06:15:00Z"),
  },
  {
    name: "New York spring-forward: Friday evening in EST, next weekday opening on Monday in EDT",
    spec: windows("America/New_York", [["Mon", "Tue", "Wed", "Thu", "Fri"], "09:00", "17:00"]),
    now: "2026-03-06T23:00:00Z",
    expected: closed("OutsideWindows", "2026-03-09T13:00:00Z"),
  },
  {
    name: "New York fall-back: a window from 01:30 starts on the first 01:30 (EDT) and ends 03:00 EST",
    spec: windows("America/New_York", [["Sun"], "01:30", "03:00"]),
    now: "2026-11-01T06:45:00Z",
    expected: open("InsideWindow", "2026-11-01T08:00:00Z"),
  },
  {
    name: "New York fall-back: a Saturday window ending at 01:30 ends at the first 01:30",
    spec: windows("America/New_York", [["Sat"], "20:00", "01:30"]),
    now: "2026-11-01T05:45:00Z",
    expected: closed("OutsideWindows", "2026-11-08T01:00:00Z"),
  },

  // 2027: Europe/Berlin springs forward on 28 March and falls back on 31 October, both at 01:00Z;
  // America/New_York springs forward on 14 March at 07:00Z and falls back on 7 November at 06:00Z.
  {
    name: "Berlin 2027 spring-forward: a window from 02:30 (skipped) opens at the change, 03:00 CEST",
    spec: windows("Europe/Berlin", [["Sun"], "02:30", "04:00"]),
    now: "2027-03-28T00:30:00Z",
    expected: closed("OutsideWindows", "2027-03-28T01:00:00Z"),
  },
  {
    name: "Berlin 2027 spring-forward: a window ending at 02:30 (skipped) ends at the change",
    spec: windows("Europe/Berlin", [["Sat"], "23:00", "02:30"]),
    now: "2027-03-28T00:30:00Z",
    expected: open("InsideWindow", "2027-03-28T01:00:00Z"),
  },
  {
    name: "Berlin 2027 fall-back: a window from 02:30 opens at the first 02:30 (CEST)",
    spec: windows("Europe/Berlin", [["Sun"], "02:30", "05:00"]),
    now: "2027-10-31T00:00:00Z",
    expected: closed("OutsideWindows", "2027-10-31T00:30:00Z"),
  },
  {
    name: "Berlin 2027 fall-back: a window ending at 02:30 ends at the first 02:30 (CEST)",
    spec: windows("Europe/Berlin", [["Sat"], "22:00", "02:30"]),
    now: "2027-10-31T00:15:00Z",
    expected: open("InsideWindow", "2027-10-31T00:30:00Z"),
  },
  {
    name: "New York 2027 spring-forward: a window from 02:30 (skipped) opens at the change, 03:00 EDT",
    spec: windows("America/New_York", [["Sun"], "02:30", "04:00"]),
    now: "2027-03-14T06:30:00Z",
    expected: closed("OutsideWindows", "2027-03-14T07:00:00Z"),
  },
  {
    name: "New York 2027 spring-forward: the window opened at the change runs to 04:00 EDT",
    spec: windows("America/New_York", [["Sun"], "02:30", "04:00"]),
    now: "2027-03-14T07:00:00Z",
    expected: open("InsideWindow", "2027-03-14T08:00:00Z"),
  },
  {
    name: "New York 2027 fall-back: a window from 01:30 opens at the first 01:30 (EDT) and ends 03:00 EST",
    spec: windows("America/New_York", [["Sun"], "01:30", "03:00"]),
    now: "2027-11-07T05:00:00Z",
    expected: closed("OutsideWindows", "2027-11-07T05:30:00Z"),
  },
  {
    name: "New York 2027 fall-back: the window is open through the second 01:30 until 03:00 EST",
    spec: windows("America/New_York", [["Sun"], "01:30", "03:00"]),
    now: "2027-11-07T06:30:00Z",
    expected: open("InsideWindow", "2027-11-07T08:00:00Z"),
  },
  {
    name: "New York 2027 fall-back: a 01:00-01:30 window covers the first run of the repeated half hour only",
    spec: windows("America/New_York", [["Sun"], "01:00", "01:30"]),
    now: "2027-11-07T06:00:00Z",
    expected: closed("OutsideWindows", "2027-11-14T06:00:00Z"),
  },

  // Australia/Lord_Howe shifts by 30 minutes: +11:00 -> +10:30 at 15:00Z on 2026-04-04 (02:00 ->
  // 01:30 on Sunday 5 April) and +10:30 -> +11:00 at 15:30Z on 2026-10-03 (02:00 -> 02:30 on 4 October).
  {
    name: "Lord Howe fall-back: a 01:00-02:00 window covers the repeated half hour and lasts 90 minutes",
    spec: windows("Australia/Lord_Howe", [["Sun"], "01:00", "02:00"]),
    now: "2026-04-04T15:15:00Z",
    expected: open("InsideWindow", "2026-04-04T15:30:00Z"),
  },
  {
    name: "Lord Howe fall-back: a window from 01:45 starts on the first 01:45 (+11:00)",
    spec: windows("Australia/Lord_Howe", [["Sun"], "01:45", "03:00"]),
    now: "2026-04-04T14:40:00Z",
    expected: closed("OutsideWindows", "2026-04-04T14:45:00Z"),
  },
  {
    name: "Lord Howe spring-forward: a 02:00-02:30 window lies in the 30-minute gap",
    spec: windows("Australia/Lord_Howe", [["Sun"], "02:00", "02:30"]),
    now: "2026-10-03T15:29:00Z",
    expected: closed("OutsideWindows", "2026-10-10T15:00:00Z"),
  },
  {
    name: "Lord Howe spring-forward: a window from 02:15 (skipped) opens at 02:30 +11:00",
    spec: windows("Australia/Lord_Howe", [["Sun"], "02:15", "06:00"]),
    now: "2026-10-03T15:30:00Z",
    expected: open("InsideWindow", "2026-10-03T19:00:00Z"),
  },
  {
    name: "Lord Howe spring-forward: a Saturday night window ending in the gap ends at the gap",
    spec: windows("Australia/Lord_Howe", [["Sat"], "23:00", "02:10"]),
    now: "2026-10-03T12:30:00Z",
    expected: open("InsideWindow", "2026-10-03T15:30:00Z"),
  },

  // Asia/Kolkata is +05:30 all year.
  {
    name: "Kolkata: a 09:00 window opens at 03:30Z",
    spec: windows("Asia/Kolkata", [["Mon", "Tue", "Wed", "Thu", "Fri"], "09:00", "17:30"]),
    now: "2026-11-16T03:29:00Z",
    expected: closed("OutsideWindows", "2026-11-16T03:30:00Z"),
  },
  {
    name: "Kolkata: a 17:30 end is 12:00Z",
    spec: windows("Asia/Kolkata", [["Mon", "Tue", "Wed", "Thu", "Fri"], "09:00", "17:30"]),
    now: "2026-11-16T11:59:59Z",
    expected: open("InsideWindow", "2026-11-16T12:00:00Z"),
  },
  {
    name: "Kolkata: a Friday night window crossing midnight ends at 00:30Z Saturday",
    spec: windows("Asia/Kolkata", [["Fri"], "22:00", "06:00"]),
    now: "2026-11-20T16:30:00Z",
    expected: open("InsideWindow", "2026-11-21T00:30:00Z"),
  },

  // Grants.
  {
    name: "a grant overlapping the end of a window extends the period to the grant's end",
    spec: { ...nineToFive, grants: [{ start: "2026-11-16T16:00:00Z", end: "2026-11-16T19:00:00Z" }] },
    now: "2026-11-16T12:00:00Z",
    expected: open("InsideWindow", "2026-11-16T19:00:00Z"),
  },
  {
    name: "after the window the overlapping grant keeps access open",
    spec: { ...nineToFive, grants: [{ start: "2026-11-16T16:00:00Z", end: "2026-11-16T19:00:00Z" }] },
    now: "2026-11-16T18:00:00Z",
    expected: open("InsideGrant", "2026-11-16T19:00:00Z"),
  },
  {
    name: "a grant running into a window extends to the window's end",
    spec: { ...nineToFive, grants: [{ start: "2026-11-16T07:00:00Z", end: "2026-11-16T10:00:00Z" }] },
    now: "2026-11-16T07:30:00Z",
    expected: open("InsideGrant", "2026-11-16T17:00:00Z"),
  },
  {
    name: "a grant starting exactly at a window's end chains onto it",
    spec: { ...nineToFive, grants: [{ start: "2026-11-16T17:00:00Z", end: "2026-11-16T18:00:00Z" }] },
    now: "2026-11-16T12:00:00Z",
    expected: open("InsideWindow", "2026-11-16T18:00:00Z"),
  },
  {
    name: "a grant a minute after a window's end does not extend it",
    spec: { ...nineToFive, grants: [{ start: "2026-11-16T17:01:00Z", end: "2026-11-16T18:00:00Z" }] },
    now: "2026-11-16T12:00:00Z",
    expected: open("InsideWindow", "2026-11-16T17:00:00Z"),
  },
  {
    name: "overlapping and touching grants chain into one period",
    spec: {
      grants: [
        { start: "2026-11-21T13:00:00Z", end: "2026-11-21T14:00:00Z" },
        { start: "2026-11-21T10:00:00Z", end: "2026-11-21T12:00:00Z" },
        { start: "2026-11-21T11:00:00Z", end: "2026-11-21T13:00:00Z" },
      ],
    },
    now: "2026-11-21T10:30:00Z",
    expected: open("InsideGrant", "2026-11-21T14:00:00Z"),
  },
  {
    name: "a grant with a UTC offset is read as an absolute instant",
    spec: { grants: [{ start: "2026-11-21T10:00:00+05:30", end: "2026-11-21T11:00:00+05:30" }] },
    now: "2026-11-21T04:45:00Z",
    expected: open("InsideGrant", "2026-11-21T05:30:00Z"),
  },
  {
    name: "a grant is closed at exactly its end",
    spec: {
      grants: [{ start: "2026-11-21T22:00:00Z", end: "2026-11-21T23:00:00Z", reason: "incident 4711" }],
    },
    now: "2026-11-21T23:00:00Z",
    expected: closed("NoWindows"),
  },
  {
    name: "only past grants and no windows: closed for good",
    spec: { windows: [], grants: [{ start: "2026-01-01T00:00:00Z", end: "2026-01-02T00:00:00Z" }] },
    now: "2026-11-21T00:00:00Z",
    expected: closed("NoWindows"),
  },
  {
    name: "a grant years ahead is the next activation",
    spec: { grants: [{ start: "2031-06-01T00:00:00Z", end: "2031-06-02T00:00:00Z" }] },
    now: "2026-11-21T00:00:00Z",
    expected: closed("OutsideWindows", "2031-06-01T00:00:00Z"),
  },
  {
    name: "a future grant before the next window is the next activation",
    spec: { ...nineToFive, grants: [{ start: "2026-11-21T10:00:00Z", end: "2026-11-21T11:00:00Z" }] },
    now: "2026-11-20T12:00:00Z",
    expected: closed("OutsideWindows", "2026-11-21T10:00:00Z"),
  },
  {
    name: "a grant whose end is not after its start is empty",
    spec: { grants: [{ start: "2026-11-21T10:00:00Z", end: "2026-11-21T10:00:00Z" }] },
    now: "2026-11-21T09:00:00Z",
    expected: closed("NoWindows"),
  },
  {
    name: "a grant lasting a month spans the windows inside it and ends with it",
    spec: { ...nineToFive, grants: [{ start: "2026-11-16T12:00:00Z", end: "2026-12-16T12:00:00Z" }] },
    now: "2026-11-20T00:00:00Z",
    expected: open("InsideGrant", "2026-12-16T12:00:00Z"),
  },
  {
    name: "a grant ending inside a window hands over to the window's end",
    spec: { ...nineToFive, grants: [{ start: "2026-11-10T00:00:00Z", end: "2026-11-23T10:00:00Z" }] },
    now: "2026-11-20T00:00:00Z",
    expected: open("InsideGrant", "2026-11-23T17:00:00Z"),
  },

  // Grants whose instants are not real: Date.parse would roll them over and open access a day
  // late or early; the evaluator refuses them and closes the schedule instead.
  {
    name: "a grant ending on 29 February of a common year closes the schedule",
    spec: { grants: [{ start: "2027-02-28T22:00:00Z", end: "2027-02-29T00:00:00Z" }] },
    now: "2027-02-28T23:00:00Z",
    expected: closed("InvalidGrant"),
  },
  {
    name: "a grant starting on 29 February 2027 does not open on 1 March",
    spec: { grants: [{ start: "2027-02-29T01:00:00Z", end: "2027-03-01T03:00:00Z" }] },
    now: "2027-03-01T02:00:00Z",
    expected: closed("InvalidGrant"),
  },
  {
    name: "a grant on 29 February 2100 (not a leap year) closes the schedule",
    spec: { grants: [{ start: "2100-02-28T22:00:00Z", end: "2100-02-29T02:00:00Z" }] },
    now: "2100-02-28T23:00:00Z",
    expected: closed("InvalidGrant"),
  },
  {
    name: "a grant starting at hour 24 is not read as the next midnight",
    spec: { grants: [{ start: "2026-11-21T24:00:00Z", end: "2026-11-22T02:00:00Z" }] },
    now: "2026-11-22T01:00:00Z",
    expected: closed("InvalidGrant"),
  },
  {
    name: "a grant ending on a leap second closes the schedule",
    spec: { grants: [{ start: "2026-12-31T22:00:00Z", end: "2026-12-31T23:59:60Z" }] },
    now: "2026-12-31T23:00:00Z",
    expected: closed("InvalidGrant"),
  },
  {
    name: "a grant with an offset of +25:00 closes the schedule",
    spec: { grants: [{ start: "2026-11-21T10:00:00+25:00", end: "2026-11-22T10:00:00Z" }] },
    now: "2026-11-21T12:00:00Z",
    expected: closed("InvalidGrant"),
  },
  {
    name: "an unreal grant instant closes even an open window",
    spec: { ...nineToFive, grants: [{ start: "2026-11-31T10:00:00Z", end: "2026-12-01T11:00:00Z" }] },
    now: "2026-11-16T12:00:00Z",
    expected: closed("InvalidGrant"),
  },
  {
    name: "a grant on 29 February 2028 (a leap year) is open",
    spec: { grants: [{ start: "2028-02-29T08:00:00Z", end: "2028-02-29T09:00:00Z" }] },
    now: "2028-02-29T08:30:00Z",
    expected: open("InsideGrant", "2028-02-29T09:00:00Z"),
  },
  {
    name: "a grant at the far offsets +14:00 and -12:00 is read as absolute instants",
    spec: { grants: [{ start: "2026-11-21T00:00:00+14:00", end: "2026-11-20T12:00:00-12:00" }] },
    now: "2026-11-20T23:59:59Z",
    expected: open("InsideGrant", "2026-11-21T00:00:00Z"),
  },
  {
    name: "a grant written with a lower-case t and z (RFC 3339 allows them) is open",
    spec: { grants: [{ start: "2026-11-21t22:00:00z", end: "2026-11-21t23:00:00z" }] },
    now: "2026-11-21T22:30:00Z",
    expected: open("InsideGrant", "2026-11-21T23:00:00Z"),
  },

  // Suspend, empty and invalid specs.
  {
    name: "suspend closes an otherwise open window with no transition",
    spec: { ...nineToFive, suspend: true },
    now: "2026-11-16T12:00:00Z",
    expected: closed("Suspended"),
  },
  {
    name: "suspend closes an active grant",
    spec: { suspend: true, grants: [{ start: "2026-11-16T00:00:00Z", end: "2026-11-17T00:00:00Z" }] },
    now: "2026-11-16T12:00:00Z",
    expected: closed("Suspended"),
  },
  {
    name: "an unknown time zone is closed",
    spec: { ...nineToFive, timeZone: "Mars/Olympus_Mons" },
    now: "2026-11-16T12:00:00Z",
    expected: closed("InvalidTimeZone"),
  },
  {
    name: "a bare UTC offset is not an IANA time zone",
    spec: { ...nineToFive, timeZone: "+01:00" },
    now: "2026-11-16T12:00:00Z",
    expected: closed("InvalidTimeZone"),
  },
  {
    name: "no windows and no grants: closed for good",
    spec: { timeZone: "Europe/Berlin", windows: [], grants: [] },
    now: "2026-11-16T12:00:00Z",
    expected: closed("NoWindows"),
  },
  {
    name: "an empty spec: closed for good",
    spec: {},
    now: "2026-11-16T12:00:00Z",
    expected: closed("NoWindows"),
  },
  {
    name: "a window with start equal to end is empty",
    spec: windows("UTC", [["Mon"], "09:00", "09:00"]),
    now: "2026-11-16T09:00:00Z",
    expected: closed("NoWindows"),
  },
  {
    name: "a window listing no days is empty",
    spec: windows("UTC", [[], "09:00", "17:00"]),
    now: "2026-11-16T12:00:00Z",
    expected: closed("NoWindows"),
  },
  {
    name: "a malformed window time closes the schedule",
    spec: windows("UTC", [["Mon"], "09:00", "17:00"], [["Tue"], "9:00", "24:00"]),
    now: "2026-11-16T12:00:00Z",
    expected: closed("InvalidWindow"),
  },
  {
    name: "a window may not start at 24:00",
    spec: windows("UTC", [["Mon"], "24:00", "06:00"]),
    now: "2026-11-16T12:00:00Z",
    expected: closed("InvalidWindow"),
  },
  {
    name: "a window may not end after 24:00",
    spec: windows("UTC", [["Mon"], "09:00", "24:01"]),
    now: "2026-11-16T12:00:00Z",
    expected: closed("InvalidWindow"),
  },
  {
    name: "a malformed grant instant closes the schedule",
    spec: { ...nineToFive, grants: [{ start: "tomorrow", end: "2026-11-16T18:00:00Z" }] },
    now: "2026-11-16T12:00:00Z",
    expected: closed("InvalidGrant"),
  },
];

function observed(spec: AccessScheduleSpecInput, now: string): Expected {
  const state = scheduleState(spec, new Date(now));
  const result: Expected = { active: state.active, reason: state.reason };
  if (state.currentWindowEnd) result.currentWindowEnd = state.currentWindowEnd.toISOString();
  if (state.nextWindowStart) result.nextWindowStart = state.nextWindowStart.toISOString();
  if (state.nextTransition) result.nextTransition = state.nextTransition.toISOString();
  return result;
}

describe("scheduleState", () => {
  it("has a table of at least 40 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)("$name", ({ spec, now, expected }) => {
    expect(observed(spec, now)).toEqual(expected);
  });

  it.each([
    {
      name: "names spec.timeZone and the value when the zone is unknown",
      spec: { timeZone: "Europe/Berlln" },
      fragments: ["spec.timeZone", '"Europe/Berlln"'],
    },
    {
      name: "names the window field and value when a time is malformed",
      spec: windows("UTC", [["Mon"], "09:00", "17:00"], [["Tue"], "9:00", "12:00"]),
      fragments: ["spec.windows[1].start", '"9:00"'],
    },
    {
      name: "says 24:00 is accepted as an end when an end is malformed",
      spec: windows("UTC", [["Mon"], "09:00", "25:00"]),
      fragments: ['spec.windows[0].end "25:00"', "or 24:00 for midnight at the end of the day"],
    },
    {
      name: "says 24:00 is not a start",
      spec: windows("UTC", [["Mon"], "24:00", "06:00"]),
      fragments: ['spec.windows[0].start "24:00"', "(00:00 to 23:59)"],
    },
    {
      name: "names the grant field and value when an instant is malformed",
      spec: { grants: [{ start: "2026-11-16T10:00:00Z", end: "2026-11-16 18:00" }] },
      fragments: ["spec.grants[0].end", '"2026-11-16 18:00"'],
    },
    {
      name: "names the grant field, the value and the reason when an instant is not real",
      spec: {
        grants: [
          { start: "2026-11-16T10:00:00Z", end: "2026-11-16T18:00:00Z" },
          { start: "2027-02-28T00:00:00Z", end: "2027-02-29T00:00:00Z" },
        ],
      },
      fragments: [
        'spec.grants[1].end "2027-02-29T00:00:00Z" is not a real instant (February 2027 has 28 days)',
        "access is closed",
      ],
    },
    {
      name: "says why hour 24 is not a time",
      spec: { grants: [{ start: "2026-11-16T24:00:00Z", end: "2026-11-17T02:00:00Z" }] },
      fragments: [
        'spec.grants[0].start "2026-11-16T24:00:00Z"',
        "hour 24 does not exist; hours are 00 to 23",
      ],
    },
    {
      name: "quotes the grant's reason while inside it",
      spec: {
        grants: [{ start: "2026-11-16T10:00:00Z", end: "2026-11-16T18:00:00Z", reason: "incident 4711" }],
      },
      fragments: ['"incident 4711"', "2026-11-16T18:00:00.000Z", "Europe/Berlin"],
      timeZone: "Europe/Berlin",
    },
    {
      name: "gives the next opening in UTC and in the schedule's own wall clock",
      spec: windows("Europe/Berlin", [["Mon"], "08:00", "12:00"]),
      fragments: ["2026-11-23T07:00:00.000Z", "Mon 2026-11-23 08:00 Europe/Berlin"],
    },
  ])("message $name", ({ spec, fragments, timeZone }) => {
    const state = scheduleState(
      timeZone === undefined ? spec : { ...spec, timeZone },
      new Date("2026-11-16T12:00:00Z"),
    );
    for (const fragment of fragments) expect(state.message).toContain(fragment);
  });
});

describe("scheduleState with a grant that is not a real instant", () => {
  // Whatever the clock says and whatever else the spec holds, such a grant never opens access.
  const unreal = fc.constantFrom(
    "2027-02-29T00:00:00Z",
    "1900-02-29T12:00:00Z",
    "2100-02-29T12:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-11-21T24:00:00Z",
    "2026-11-21T23:60:00Z",
    "2026-12-31T23:59:60Z",
    "2026-11-21T10:00:00+25:00",
  );
  const real = fc
    .integer({ min: Date.parse("2026-01-01T00:00:00Z"), max: Date.parse("2028-01-01T00:00:00Z") })
    .map((ms) => new Date(ms).toISOString());

  it("is closed with reason InvalidGrant at every instant", () => {
    fc.assert(
      fc.property(
        unreal,
        real,
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: Date.parse("2026-01-01T00:00:00Z"), max: Date.parse("2028-01-01T00:00:00Z") }),
        (bad, good, badIsEnd, withWindow, now) => {
          const grant = badIsEnd ? { start: good, end: bad } : { start: bad, end: good };
          const spec: AccessScheduleSpecInput = {
            ...(withWindow ? windows("Europe/Berlin", [ALL_DAYS, "00:00", "12:00"]) : {}),
            grants: [grant],
          };
          const state = scheduleState(spec, new Date(now));
          expect(state).toMatchObject({ active: false, reason: "InvalidGrant" });
          expect(state.nextTransition).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });
});
