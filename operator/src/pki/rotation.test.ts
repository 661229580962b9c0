import { describe, expect, it } from "vitest";
import { DAY, HOUR, intermediateCa, rootCa } from "../../../testing/pki.ts";
import { splitPemCertificates } from "./certificate.ts";
import { type CaRotationInput, caRotationPlan, trustBundle } from "./rotation.ts";

describe("trustBundle", () => {
  it("should hold every distinct root once, in the same order whatever the input order", async () => {
    const a = await rootCa(undefined, "Root A");
    const b = await rootCa({ algorithm: "Ed25519" }, "Root B");
    const { ca: intermediate, root: c } = await intermediateCa();
    const forward = trustBundle([a.ca, b.ca, intermediate, undefined, a.ca]);
    const backward = trustBundle([intermediate, b.certPem, a.ca]);
    expect(forward).toBe(backward);
    const roots = splitPemCertificates(forward);
    expect(roots).toHaveLength(3);
    expect(new Set(roots)).toEqual(new Set([a.certPem, b.certPem, c.certPem]));
    expect(forward).not.toContain(intermediate.certPem);
  });

  it("should be empty without CAs", () => {
    expect(trustBundle([undefined])).toBe("");
  });
});

describe("caRotationPlan", () => {
  const start = new Date("2026-01-01T00:00:00Z").getTime();
  const life = 300 * DAY;
  const current = { notBefore: new Date(start), notAfter: new Date(start + life) };
  const at = (ms: number) => new Date(start + ms);
  const next = (preparedAt: number) => ({
    notBefore: at(preparedAt - HOUR),
    notAfter: at(preparedAt + life),
    preparedAt: at(preparedAt),
  });
  const leafMaxTtl = 25 * HOUR;

  const cases: {
    name: string;
    input: Omit<CaRotationInput, "leafMaxTtl">;
    want: Partial<ReturnType<typeof caRotationPlan>>;
  }[] = [
    {
      name: "should do nothing while the current CA is young",
      input: { current, now: at(10 * DAY) },
      want: {
        prepareNext: false,
        switchToNext: false,
        dropPrevious: false,
        bundle: ["current"],
        reason: "Steady",
        nextCheck: at(200 * DAY),
      },
    },
    {
      name: "should prepare the next CA once less than a third of the current one's life is left",
      input: { current, now: at(200 * DAY) },
      want: { prepareNext: true, switchToNext: false, bundle: ["current", "next"], reason: "PrepareNext" },
    },
    {
      name: "should keep issuing from current while the next root is new in the bundle",
      input: { current, next: next(250 * DAY), now: at(250 * DAY + HOUR) },
      want: {
        prepareNext: false,
        switchToNext: false,
        bundle: ["current", "next"],
        reason: "AwaitingTrustOverlap",
      },
    },
    {
      name: "should wait for the switch threshold even when the next root is trusted long enough",
      input: { current, next: next(200 * DAY), now: at(240 * DAY) },
      want: { switchToNext: false, reason: "Steady", nextCheck: at(250 * DAY) },
    },
    {
      name: "should switch once the next root has been trusted for a leaf lifetime and a sixth of life is left",
      input: { current, next: next(200 * DAY), now: at(250 * DAY) },
      want: { switchToNext: true, bundle: ["current", "next"], reason: "SwitchToNext" },
    },
    {
      name: "should not switch before the overlap when the next CA was prepared late",
      input: { current, next: next(260 * DAY), now: at(260 * DAY + 24 * HOUR) },
      want: { switchToNext: false, reason: "AwaitingTrustOverlap", nextCheck: at(260 * DAY + leafMaxTtl) },
    },
    {
      name: "should honour an explicit trust overlap",
      input: {
        current,
        next: next(260 * DAY),
        now: at(260 * DAY + 2 * HOUR),
        thresholds: { minTrustOverlapMs: HOUR },
      },
      want: { switchToNext: true },
    },
    {
      name: "should switch at once when the current CA has expired",
      input: { current, next: next(299 * DAY + 23 * HOUR), now: at(life + 1) },
      want: { switchToNext: true, reason: "SwitchToNext" },
    },
    {
      name: "should ask for a successor when the current CA expired without one",
      input: { current, now: at(life + 1) },
      want: { prepareNext: true, switchToNext: false, reason: "PrepareNext" },
    },
    {
      name: "should keep the previous root while leaves it signed may still live",
      input: {
        current,
        previous: { notBefore: at(-life), notAfter: at(10 * DAY) },
        currentSince: at(DAY),
        now: at(DAY + leafMaxTtl),
      },
      want: {
        dropPrevious: false,
        bundle: ["previous", "current"],
        reason: "Steady",
        nextCheck: at(DAY + leafMaxTtl + 1),
      },
    },
    {
      name: "should drop the previous root once its last leaf has expired",
      input: {
        current,
        previous: { notBefore: at(-life), notAfter: at(10 * DAY) },
        currentSince: at(DAY),
        now: at(DAY + leafMaxTtl + 1),
      },
      want: { dropPrevious: true, bundle: ["current"], reason: "DropPrevious" },
    },
    {
      name: "should drop a previous root that has expired whatever the switch time",
      input: {
        current,
        previous: { notBefore: at(-life), notAfter: at(DAY) },
        currentSince: at(DAY - HOUR),
        now: at(DAY),
      },
      want: { dropPrevious: true, bundle: ["current"] },
    },
    {
      name: "should hold a switch while a previous root is still trusted",
      input: {
        current,
        next: next(200 * DAY),
        previous: { notBefore: at(-life), notAfter: at(400 * DAY) },
        currentSince: at(250 * DAY - HOUR),
        now: at(250 * DAY),
      },
      want: {
        switchToNext: false,
        dropPrevious: false,
        bundle: ["previous", "current", "next"],
        reason: "AwaitingTrustOverlap",
      },
    },
  ];
  it.each(cases)("$name", ({ input, want }) => {
    expect(caRotationPlan({ leafMaxTtl, ...input })).toMatchObject(want);
  });

  it("should prepare earlier with a larger prepare threshold", () => {
    const plan = caRotationPlan({
      current,
      now: at(160 * DAY),
      leafMaxTtl,
      thresholds: { prepareAtRemainingFraction: 0.5 },
    });
    expect(plan.prepareNext).toBe(true);
    expect(caRotationPlan({ current, now: at(160 * DAY), leafMaxTtl }).prepareNext).toBe(false);
  });

  it("should switch early enough that a full-length leaf still fits in the current CA's life", () => {
    const short = { notBefore: at(0), notAfter: at(6 * DAY) };
    const plan = caRotationPlan({
      current: short,
      next: next(HOUR),
      now: at(5 * DAY - leafMaxTtl + DAY),
      leafMaxTtl,
    });
    expect(plan.switchToNext).toBe(true);
  });
});
