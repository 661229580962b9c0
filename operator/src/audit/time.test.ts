import { describe, expect, it } from "vitest";
import { daysUntil, formatSpan, relativeExpiry } from "./time.ts";

const now = new Date("2026-03-02T12:00:00Z");
const at = (ms: number) => new Date(now.getTime() + ms);
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe("relativeExpiry", () => {
  it.each([
    ["should say seconds under a minute", 42 * S, "in 42s"],
    ["should truncate 59.9 seconds to 59s rather than round up to a minute", 59_900, "in 59s"],
    ["should switch to minutes at one minute", M, "in 1m"],
    ["should show whole minutes under an hour", 42 * M + 30 * S, "in 42m"],
    ["should show a whole hour without minutes", H, "in 1h"],
    ["should show hours and minutes under two days", 25 * H + 5 * M, "in 25h5m"],
    ["should show whole days from two days on", 2 * D + 3 * H, "in 2d"],
    ["should show a ten-year certificate in days", 3650 * D, "in 3650d"],
    ["should call an instant equal to now expired", 0, "expired 0s ago"],
    ["should say how long ago an expiry was", -3 * M - 10 * S, "expired 3m ago"],
    ["should say days for an expiry long past", -40 * D, "expired 40d ago"],
  ])("%s", (_name, offset, expected) => {
    expect(relativeExpiry(at(offset), now)).toBe(expected);
  });

  it("should format spans the same in both directions", () => {
    expect(formatSpan(-90 * M)).toBe(formatSpan(90 * M));
  });
});

describe("daysUntil", () => {
  it.each([
    ["should count whole days ahead", 30 * D + 5 * H, 30],
    ["should count less than a day as zero", 23 * H, 0],
    ["should count past instants as negative days", -2 * D - H, -2],
  ])("%s", (_name, offset, expected) => {
    expect(daysUntil(at(offset), now)).toBe(expected);
  });
});
