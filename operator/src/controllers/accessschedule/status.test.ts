import { describe, expect, it } from "vitest";
import type { AccessSchedule, AccessScheduleSpec } from "../../api/index.ts";
import { scheduleState } from "../../schedule/index.ts";
import { accessScheduleStatus, isInvalidSchedule, scheduleEvent } from "./status.ts";

const t0 = new Date("2026-11-23T09:00:00Z"); // a Monday
const later = new Date("2026-11-23T10:00:00Z");

function schedule(spec: Partial<AccessScheduleSpec>, status?: AccessSchedule["status"]): AccessSchedule {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "AccessSchedule",
    metadata: { name: "business-hours", namespace: "shop", generation: 4 },
    spec: { timeZone: "UTC", windows: [], grants: [], suspend: false, ...spec },
    ...(status ? { status } : {}),
  };
}

const officeHours = { windows: [{ days: ["Mon" as const], start: "08:00", end: "18:00" }] };

describe("accessScheduleStatus", () => {
  it("should report an open window with its end, Active True and Ready True", () => {
    const s = schedule(officeHours);
    const status = accessScheduleStatus(s, scheduleState(s.spec, t0), t0);
    expect(status).toMatchObject({
      active: true,
      currentWindowEnd: "2026-11-23T18:00:00.000Z",
      observedGeneration: 4,
    });
    expect(status.nextWindowStart).toBeUndefined();
    expect(status.conditions).toEqual([
      expect.objectContaining({
        type: "Active",
        status: "True",
        reason: "InsideWindow",
        observedGeneration: 4,
      }),
      expect.objectContaining({ type: "Ready", status: "True", reason: "Valid" }),
    ]);
  });

  it("should report the next start and drop the old window end once the window closed", () => {
    const open = schedule(officeHours);
    const first = accessScheduleStatus(open, scheduleState(open.spec, t0), t0);
    const evening = new Date("2026-11-23T19:00:00Z");
    const closed = schedule(officeHours, first);
    const status = accessScheduleStatus(closed, scheduleState(closed.spec, evening), evening);
    expect(status.active).toBe(false);
    expect(status.currentWindowEnd).toBeUndefined();
    expect(status.nextWindowStart).toBe("2026-11-30T08:00:00.000Z");
    expect(status.conditions?.find((c) => c.type === "Active")).toMatchObject({
      status: "False",
      reason: "OutsideWindows",
      lastTransitionTime: evening.toISOString(),
    });
  });

  it("should name spec.timeZone in a False Ready and Active condition when the zone is unknown", () => {
    const s = schedule({ ...officeHours, timeZone: "Mars/Olympus_Mons" });
    const status = accessScheduleStatus(s, scheduleState(s.spec, t0), t0);
    expect(status.active).toBe(false);
    for (const type of ["Active", "Ready"]) {
      const condition = status.conditions?.find((c) => c.type === type);
      expect(condition).toMatchObject({ status: "False", reason: "InvalidTimeZone" });
      expect(condition?.message).toContain('spec.timeZone "Mars/Olympus_Mons"');
    }
  });

  it("should produce an identical status when re-evaluated later inside the same window", () => {
    const s = schedule(officeHours);
    const first = accessScheduleStatus(s, scheduleState(s.spec, t0), t0);
    const again = schedule(officeHours, first);
    expect(accessScheduleStatus(again, scheduleState(again.spec, later), later)).toEqual(first);
  });
});

describe("scheduleEvent", () => {
  const open = schedule(officeHours);
  const inside = scheduleState(open.spec, t0);
  const outside = scheduleState(open.spec, new Date("2026-11-23T19:00:00Z"));
  const invalid = scheduleState({ ...open.spec, timeZone: "Nowhere/Else" }, t0);

  it.each([
    ["should say nothing on the first evaluation of a valid schedule", undefined, inside, undefined],
    ["should say nothing when a window opens", { active: false }, inside, undefined],
    ["should say nothing when a window closes", { active: true }, outside, undefined],
    [
      "should warn about an invalid spec the first time",
      { active: true },
      invalid,
      "Warning InvalidTimeZone",
    ],
  ] as const)("%s", (_name, previous, state, expected) => {
    const event = scheduleEvent(previous, state);
    expect(event ? `${event.type} ${event.reason}` : undefined).toBe(expected);
  });

  it("should not repeat the warning while the spec stays invalid", () => {
    const status = accessScheduleStatus(open, invalid, t0);
    expect(scheduleEvent(status, invalid)).toBeUndefined();
  });

  it("should classify only spec errors as invalid", () => {
    expect([inside, outside, invalid].map(isInvalidSchedule)).toEqual([false, false, true]);
  });
});
