import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AccessScheduleSpecSchema, type Grant } from "../api/index.ts";
import { scheduleState } from "../schedule/index.ts";
import {
  clockText,
  describeGrantOpened,
  describeGrantsRevoked,
  describeSchedule,
  describeSuspend,
  instantText,
  openGrant,
  parseGrantSpan,
  revokeOpenGrants,
  spanText,
  suspendChange,
} from "./changes.ts";
import type { Target } from "./target.ts";

// The injected clock: every function takes `now`; these are the instants the tests use.
const NOW = Date.parse("2026-12-02T10:00:00.250Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const at = (iso: string) => Date.parse(iso);

const schedule: Target = { kind: "AccessSchedule", namespace: "shop", name: "on-call" };
const policy: Target = { kind: "AccessPolicy", namespace: "shop", name: "checkout-to-payments" };

/** What the API server's schema says of spec.grants, checked with the same rules (zod mirrors the CEL). */
const schemaProblems = (grants: Grant[]) => {
  const result = AccessScheduleSpecSchema.safeParse({ grants });
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("suspendChange", () => {
  it.each([
    [undefined, true, { before: false, after: true }],
    [{}, true, { before: false, after: true }],
    [{ suspend: false }, true, { before: false, after: true }],
    [{ suspend: true }, true, { before: true, after: true }],
    [{ suspend: true }, false, { before: true, after: false }],
    [{ suspend: false }, false, { before: false, after: false }],
    [undefined, false, { before: false, after: false }],
  ])("should read spec %j asked to suspend=%s as %j", (spec, suspend, change) => {
    expect(suspendChange(spec, suspend)).toEqual(change);
  });
});

describe("parseGrantSpan", () => {
  it.each([
    ["30m", 30 * MIN],
    ["2h", 2 * HOUR],
    ["1h30m", 90 * MIN],
    ["90s", 90_000],
    ["250ms", 250],
    ["1.5h", 90 * MIN],
    ["8d", 8 * DAY],
    ["7d", 7 * DAY],
    ["1d12h", 36 * HOUR],
    ["1.5d", 36 * HOUR],
    ["0d", 0],
    ["0s", 0],
  ])("should read %s as %d ms", (text, ms) => {
    expect(parseGrantSpan(text)).toBe(ms);
  });

  it.each(["", "30", "m", "d", "30x", "-5m", "1h1d", "1d1d", "30 m", "1w", "P1D", " 30m"])(
    "should refuse %j naming the flag and the units",
    (text) => {
      expect(() => parseGrantSpan(text)).toThrow(
        /^--for must be a duration such as 30m.*units d, h, m, s, ms/,
      );
    },
  );

  it("should refuse a span no instant can end", () => {
    expect(() => parseGrantSpan("99999999999d")).toThrow("ends later than any instant can be written");
  });

  it("should leave the 7-day rule and empty grants to the API server", () => {
    expect(parseGrantSpan("8d")).toBeGreaterThan(7 * DAY);
    expect(parseGrantSpan("0s")).toBe(0);
  });

  it("should read back every span it writes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 * DAY }), (ms) => {
        expect(parseGrantSpan(spanText(ms))).toBe(ms);
      }),
    );
  });
});

describe("spanText", () => {
  it.each([
    [30 * MIN, "30m"],
    [90 * MIN, "1h30m"],
    [DAY, "1d"],
    [36 * HOUR, "1d12h"],
    [7 * DAY, "7d"],
    [1_500, "1.5s"],
  ])("should write %d ms as %s", (ms, text) => {
    expect(spanText(ms)).toBe(text);
  });
});

describe("instantText and clockText", () => {
  it("should write whole seconds without a fraction and others to the millisecond", () => {
    expect(instantText(at("2026-12-02T10:00:00Z"))).toBe("2026-12-02T10:00:00Z");
    expect(instantText(at("2026-12-02T10:12:03.456Z"))).toBe("2026-12-02T10:12:03.456Z");
  });

  it("should show the time of day for an instant on the same UTC day, and the whole instant otherwise", () => {
    expect(clockText(at("2026-12-02T10:30:00Z"), NOW)).toBe("10:30:00Z");
    expect(clockText(at("2026-12-02T23:59:59.999Z"), NOW)).toBe("23:59:59Z");
    expect(clockText(at("2026-12-03T00:00:00Z"), NOW)).toBe("2026-12-03T00:00:00Z");
    expect(clockText(at("2026-12-01T23:00:00Z"), NOW)).toBe("2026-12-01T23:00:00Z");
  });
});

describe("openGrant", () => {
  it("should open a grant now, on the whole second, for the span, with the reason", () => {
    const result = openGrant(undefined, NOW, 30 * MIN, "incident 4711");
    expect(result.opened).toEqual({
      start: "2026-12-02T10:00:00Z",
      end: "2026-12-02T10:30:00Z",
      reason: "incident 4711",
    });
    expect(result.grants).toEqual([result.opened]);
    expect(result.startMs).toBe(at("2026-12-02T10:00:00Z"));
    expect(result.endMs).toBe(at("2026-12-02T10:30:00Z"));
  });

  it("should write no reason when none is given", () => {
    expect(openGrant([], NOW, HOUR).opened).toEqual({
      start: "2026-12-02T10:00:00Z",
      end: "2026-12-02T11:00:00Z",
    });
  });

  it("should keep every existing grant as it is, ended ones included, and add the new one last", () => {
    const existing: Grant[] = [
      { start: "2026-11-01T08:00:00Z", end: "2026-11-01T09:00:00Z", reason: "incident 4000" },
      { start: "2026-12-24T08:00:00+01:00", end: "2026-12-24T12:00:00+01:00" },
    ];
    const result = openGrant(existing, NOW, 2 * HOUR, "incident 4711");
    expect(result.grants.slice(0, 2)).toEqual(existing);
    expect(result.grants[2]).toEqual(result.opened);
    expect(existing).toHaveLength(2);
  });

  it("should make the schedule active at once and until the end", () => {
    const { grants, endMs } = openGrant([], NOW, 30 * MIN);
    const state = scheduleState({ grants }, new Date(NOW));
    expect(state).toMatchObject({ active: true, reason: "InsideGrant" });
    expect(state.currentWindowEnd?.getTime()).toBe(endMs);
    expect(scheduleState({ grants }, new Date(endMs)).active).toBe(false);
  });

  it("should give what the schema accepts for up to 7 days, and what its 7-day rule refuses beyond", () => {
    expect(schemaProblems(openGrant([], NOW, 7 * DAY).grants)).toEqual([]);
    expect(schemaProblems(openGrant([], NOW, 8 * DAY).grants)).toEqual([
      "grants.0.end: a grant lasts at most 7 days (168h); use a window for recurring access",
    ]);
  });
});

describe("revokeOpenGrants", () => {
  const open: Grant = { start: "2026-12-02T09:45:00Z", end: "2026-12-02T10:30:00Z", reason: "incident 4711" };
  const ended: Grant = {
    start: "2026-11-30T09:00:00Z",
    end: "2026-11-30T10:00:00Z",
    reason: "incident 4700",
  };
  const pending: Grant = { start: "2026-12-03T09:00:00Z", end: "2026-12-03T10:00:00Z" };

  it("should end an open grant at now, to the millisecond, and keep its start and reason", () => {
    const result = revokeOpenGrants([open], NOW);
    expect(result.grants).toEqual([
      { start: "2026-12-02T09:45:00Z", end: "2026-12-02T10:00:00.250Z", reason: "incident 4711" },
    ]);
    expect(result.ended).toEqual([{ index: 0, before: open, after: result.grants[0] }]);
    expect(result.pending).toEqual([]);
    expect(scheduleState({ grants: result.grants }, new Date(NOW)).active).toBe(false);
  });

  it("should leave ended grants, malformed ones and the order as they were", () => {
    const malformed: Grant = { start: "2027-02-29T00:00:00Z", end: "2027-03-01T00:00:00Z" };
    const result = revokeOpenGrants([ended, open, malformed], NOW);
    expect(result.grants[0]).toBe(ended);
    expect(result.grants[1]?.end).toBe("2026-12-02T10:00:00.250Z");
    expect(result.grants[2]).toBe(malformed);
    expect(result.ended.map((e) => e.index)).toEqual([1]);
  });

  it("should list grants that have not opened and leave them", () => {
    const result = revokeOpenGrants([pending, open], NOW);
    expect(result.grants[0]).toBe(pending);
    expect(result.pending).toEqual([pending]);
    expect(result.ended).toHaveLength(1);
  });

  it("should end every open grant, overlapping ones too", () => {
    const other: Grant = { start: "2026-12-02T08:00:00Z", end: "2026-12-04T08:00:00Z", reason: "migration" };
    const result = revokeOpenGrants([open, other], NOW);
    expect(result.ended.map((e) => e.after.end)).toEqual([
      "2026-12-02T10:00:00.250Z",
      "2026-12-02T10:00:00.250Z",
    ]);
  });

  it("should treat a grant as open from its start and closed at its end, as the schedule does", () => {
    const startsNow: Grant = { start: instantText(NOW), end: "2026-12-02T11:00:00Z" };
    const endsNow: Grant = { start: "2026-12-02T09:00:00Z", end: instantText(NOW) };
    const result = revokeOpenGrants([startsNow, endsNow], NOW);
    expect(result.ended.map((e) => e.index)).toEqual([0]);
    // A grant that opened this very millisecond still needs an end after its start.
    expect(result.grants[0]?.end).toBe(instantText(NOW + 1));
    expect(result.grants[1]).toBe(endsNow);
  });

  it("should find nothing to end in no grants", () => {
    expect(revokeOpenGrants(undefined, NOW)).toEqual({ grants: [], ended: [], pending: [] });
  });

  it("should always leave a list the schema accepts and a schedule closed at now", () => {
    const instant = fc.integer({ min: NOW - 8 * DAY, max: NOW + 8 * DAY });
    const grant = fc
      .tuple(instant, fc.integer({ min: 1, max: 7 * DAY }))
      .map(([start, span]): Grant => ({ start: instantText(start), end: instantText(start + span) }));
    fc.assert(
      fc.property(fc.array(grant, { maxLength: 32 }), (grants) => {
        const result = revokeOpenGrants(grants, NOW);
        expect(schemaProblems(result.grants)).toEqual([]);
        expect(result.grants).toHaveLength(grants.length);
        const state = scheduleState({ grants: result.grants }, new Date(NOW));
        expect(state.active).toBe(false);
        expect(result.ended.length > 0).toBe(scheduleState({ grants }, new Date(NOW)).active);
      }),
    );
  });
});

describe("the lines the commands print", () => {
  it("should say what suspend and resume changed, with the reason", () => {
    expect(describeSuspend(policy, { before: false, after: true }, "incident 4711")).toBe(
      "policy shop/checkout-to-payments: suspend false -> true (incident 4711)",
    );
    expect(describeSuspend(policy, { before: true, after: false })).toBe(
      "policy shop/checkout-to-payments: suspend true -> false",
    );
  });

  it("should say when nothing changed", () => {
    expect(describeSuspend(policy, { before: true, after: true })).toBe(
      "policy shop/checkout-to-payments: already suspended; nothing changed",
    );
    expect(describeSuspend(policy, { before: false, after: false })).toBe(
      "policy shop/checkout-to-payments: already not suspended; nothing changed",
    );
  });

  it("should name the schedule and the policy it was reached through", () => {
    expect(describeSchedule(schedule)).toBe("schedule shop/on-call");
    expect(describeSchedule(schedule, policy)).toBe(
      "schedule shop/on-call (spec.scheduleRef of policy shop/checkout-to-payments)",
    );
  });

  it("should show an opened grant as start -> end with its span and reason", () => {
    expect(describeGrantOpened(schedule, openGrant([], NOW, 30 * MIN, "incident 4711"), NOW)).toBe(
      "schedule shop/on-call: grant opened 10:00:00Z -> 10:30:00Z (30m, incident 4711)",
    );
    expect(describeGrantOpened(schedule, openGrant([], NOW, 2 * DAY), NOW, policy)).toBe(
      "schedule shop/on-call (spec.scheduleRef of policy shop/checkout-to-payments): grant opened 10:00:00Z -> 2026-12-04T10:00:00Z (2d)",
    );
  });

  it("should show each revoked grant with its end before and after, and the grants left pending", () => {
    const open: Grant = {
      start: "2026-12-02T09:45:00Z",
      end: "2026-12-02T10:30:00Z",
      reason: "incident 4711",
    };
    const pending: Grant = { start: "2026-12-03T09:00:00Z", end: "2026-12-03T10:00:00Z" };
    const revoked = revokeOpenGrants([open, pending], NOW);
    expect(describeGrantsRevoked(schedule, revoked, NOW, "fixed")).toEqual([
      "schedule shop/on-call: grant 09:45:00Z -> 10:30:00Z (incident 4711) revoked, end 10:30:00Z -> 10:00:00Z (fixed)",
      "schedule shop/on-call: grant 2026-12-03T09:00:00Z -> 2026-12-03T10:00:00Z has not opened yet and stays; remove it from spec.grants to cancel it",
    ]);
  });
});
