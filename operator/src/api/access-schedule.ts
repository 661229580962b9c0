import { z } from "zod";
import { ACCESS_SCHEDULE_KIND, API_VERSION } from "./constants.ts";
import {
  conditionsField,
  ObservedGenerationSchema,
  setOf,
  TIME_OF_DAY_PATTERN,
  TIME_ZONE_PATTERN,
  timestampField,
  timestampMs,
  withRules,
} from "./fields.ts";
import { ObjectNameSchema, objectSchema } from "./object.ts";

export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** The longest a one-off grant may last: standing access belongs in a window, not a grant. */
export const MAX_GRANT = "168h";
const MAX_GRANT_MS = 168 * 3_600_000;

/** A window's end: a time of day, or 24:00, the midnight that ends the day (RE2 and ECMAScript). */
export const WINDOW_END_PATTERN = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$";

function timeOfDay(what: string) {
  return z
    .string()
    .max(5)
    .regex(new RegExp(TIME_OF_DAY_PATTERN), `${what} must be a 24-hour time HH:MM between 00:00 and 23:59`);
}

function windowEnd() {
  return z
    .string()
    .max(5)
    .regex(
      new RegExp(WINDOW_END_PATTERN),
      "end must be a 24-hour time HH:MM between 00:00 and 23:59, or 24:00 for midnight at the end of the day",
    );
}

export const WindowSchema = withRules(
  z.object({
    days: setOf(z.enum(WEEKDAYS), 7, "days")
      .min(1, "list at least one day, e.g. [Mon, Tue, Wed, Thu, Fri]")
      .describe("Days on which the window opens, each at most once: Mon, Tue, Wed, Thu, Fri, Sat, Sun."),
    start: timeOfDay("start").describe("Local time the window opens, HH:MM."),
    end: windowEnd().describe(
      "Local time the window closes, HH:MM. An end earlier than start closes on the next day; 24:00 closes at midnight, so start 00:00 and end 24:00 is the whole day.",
    ),
  }),
  [
    {
      rule: "self.start != self.end",
      message:
        'end must differ from start; an end earlier than start closes the window on the next day, and start "00:00" with end "24:00" is the whole day',
      fieldPath: ".end",
      holds: (w) => w.start !== w.end,
    },
  ],
).describe("A weekly recurring window in the schedule's time zone.");

// format: date-time makes CEL see both fields as timestamps, and a malformed one stops CEL
// evaluation before these rules run, so they need no guard. Here, likewise, a field that is not a
// real instant (2027-02-29, which Date.parse would roll over to 1 March) skips them: its own
// problem is the one to report.
const parsedBoth = (g: { start: string; end: string }) => {
  const [start, end] = [timestampMs(g.start), timestampMs(g.end)];
  return start === undefined || end === undefined ? undefined : [start, end];
};

export const GrantSchema = withRules(
  z.object({
    start: timestampField("start").describe("When the grant opens (RFC 3339)."),
    end: timestampField("end").describe("When the grant closes (RFC 3339); at most 7 days after start."),
    reason: z
      .string()
      .max(256, "reason must be at most 256 characters")
      .optional()
      .describe("Why access was granted, e.g. an incident number; shown in events."),
  }),
  [
    {
      rule: "self.end > self.start",
      message: "end must be after start",
      fieldPath: ".end",
      holds: (g) => {
        const t = parsedBoth(g);
        return t === undefined || (t[1] as number) > (t[0] as number);
      },
    },
    {
      rule: `self.end - self.start <= duration('${MAX_GRANT}')`,
      message: `a grant lasts at most 7 days (${MAX_GRANT}); use a window for recurring access`,
      fieldPath: ".end",
      holds: (g) => {
        const t = parsedBoth(g);
        return t === undefined || (t[1] as number) - (t[0] as number) <= MAX_GRANT_MS;
      },
    },
  ],
).describe("A one-off just-in-time window.");

export const AccessScheduleSpecSchema = z
  .object({
    timeZone: z
      .string()
      .max(64, "timeZone must be at most 64 characters")
      .regex(
        new RegExp(TIME_ZONE_PATTERN),
        'timeZone must be an IANA time zone name such as "Europe/Berlin" or "UTC"',
      )
      .default("UTC")
      .describe("IANA time zone the windows are read in, e.g. Europe/Berlin. Default UTC."),
    windows: z
      .array(WindowSchema)
      .max(32, "at most 32 windows are allowed")
      .default([])
      .describe("Weekly recurring windows; the schedule is active inside any of them."),
    grants: z
      .array(GrantSchema)
      .max(32, "at most 32 grants are allowed; remove expired ones")
      .default([])
      .describe("One-off windows between two instants, e.g. for an incident."),
    suspend: z
      .boolean()
      .default(false)
      .describe("True closes the schedule now, whatever its windows and grants say."),
  })
  .describe("When access exists: weekly windows in a time zone plus one-off grants.");

export const AccessScheduleStatusSchema = z
  .object({
    active: z.boolean().optional().describe("Whether a window or grant is open now."),
    currentWindowEnd: timestampField("currentWindowEnd")
      .optional()
      .describe("When the open window or grant closes."),
    nextWindowStart: timestampField("nextWindowStart")
      .optional()
      .describe("When the next window or grant opens."),
    conditions: conditionsField("schedule").optional(),
    observedGeneration: ObservedGenerationSchema.optional(),
  })
  .describe("Observed state of the schedule.");

export const AccessScheduleSchema = objectSchema(
  ACCESS_SCHEDULE_KIND,
  ObjectNameSchema,
  AccessScheduleSpecSchema,
  AccessScheduleStatusSchema,
).describe(`AccessSchedule (${API_VERSION}): weekly windows and one-off grants during which access exists.`);

export type Window = z.output<typeof WindowSchema>;
export type Grant = z.output<typeof GrantSchema>;
export type AccessScheduleSpec = z.output<typeof AccessScheduleSpecSchema>;
export type AccessScheduleStatus = z.output<typeof AccessScheduleStatusSchema>;
export type AccessSchedule = z.output<typeof AccessScheduleSchema>;
export type AccessScheduleInput = z.input<typeof AccessScheduleSchema>;
