import { describe, expect, it } from "vitest";
import { type Condition, jsonEqual, setConditions } from "./conditions.ts";

const t0 = new Date("2026-11-21T10:00:00Z");
const t1 = new Date("2026-11-21T11:00:00Z");

describe("setConditions", () => {
  it("should stamp a new condition with now and the observed generation", () => {
    const out = setConditions(
      undefined,
      [{ type: "Ready", status: "True", reason: "Issued", message: "ok" }],
      t0,
      3,
    );
    expect(out).toEqual([
      {
        type: "Ready",
        status: "True",
        reason: "Issued",
        message: "ok",
        lastTransitionTime: t0.toISOString(),
        observedGeneration: 3,
      },
    ]);
  });

  it("should keep lastTransitionTime when the status is unchanged, even if reason and message change", () => {
    const first = setConditions(
      undefined,
      [{ type: "Ready", status: "True", reason: "Issued", message: "a" }],
      t0,
      1,
    );
    const second = setConditions(
      first,
      [{ type: "Ready", status: "True", reason: "Renewed", message: "b" }],
      t1,
      2,
    );
    expect(second[0]).toMatchObject({
      reason: "Renewed",
      message: "b",
      lastTransitionTime: t0.toISOString(),
    });
    expect(second[0]?.observedGeneration).toBe(2);
  });

  it("should move lastTransitionTime when the status flips", () => {
    const first = setConditions(
      undefined,
      [{ type: "Ready", status: "True", reason: "Issued", message: "" }],
      t0,
      1,
    );
    const second = setConditions(
      first,
      [{ type: "Ready", status: "False", reason: "Suspended", message: "" }],
      t1,
      1,
    );
    expect(second[0]?.lastTransitionTime).toBe(t1.toISOString());
  });

  it("should keep conditions of other types and sort by type", () => {
    const existing: Condition[] = [
      {
        type: "Suspended",
        status: "False",
        reason: "Active",
        message: "",
        lastTransitionTime: t0.toISOString(),
      },
    ];
    const out = setConditions(
      existing,
      [{ type: "Issuing", status: "False", reason: "Idle", message: "" }],
      t1,
      1,
    );
    expect(out.map((c) => c.type)).toEqual(["Issuing", "Suspended"]);
  });
});

describe("jsonEqual", () => {
  it("should ignore key order and undefined members", () => {
    expect(jsonEqual({ a: 1, b: { c: [1, 2], d: undefined } }, { b: { c: [1, 2] }, a: 1 })).toBe(true);
  });
  it("should see a changed array order and a changed value", () => {
    expect(jsonEqual({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(jsonEqual({ a: "x" }, { a: "y" })).toBe(false);
  });
});
