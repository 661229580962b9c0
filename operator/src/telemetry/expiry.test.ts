import { describe, expect, it } from "vitest";
import { type ExpiryLike, soonestExpiry } from "./expiry.ts";

const at = (iso: string): ExpiryLike => ({ status: { notAfter: iso } });

describe("soonestExpiry", () => {
  it.each<[string, ExpiryLike[], number | undefined]>([
    ["should be undefined without identities", [], undefined],
    ["should be undefined when no identity has been issued yet", [{}, { status: {} }], undefined],
    [
      "should take the soonest notAfter and skip identities without one",
      [at("2026-12-02T10:00:00Z"), {}, at("2026-12-02T09:00:00Z"), at("2026-12-02T11:00:00Z")],
      Date.parse("2026-12-02T09:00:00Z"),
    ],
    [
      "should skip a notAfter it cannot read",
      [at("not a date"), at("2026-12-02T09:00:00Z")],
      Date.parse("2026-12-02T09:00:00Z"),
    ],
  ])("%s", (_name, identities, expected) => {
    expect(soonestExpiry(identities)).toBe(expected);
  });

  it("should find the soonest of 200,000 identities without exceeding the call stack", () => {
    const base = Date.parse("2026-12-02T00:00:00Z");
    const identities = Array.from({ length: 200_000 }, (_, i) => ({
      status: { notAfter: new Date(base + ((i * 7919) % 200_000) * 1_000).toISOString() },
    }));
    expect(soonestExpiry(identities)).toBe(base);
  });
});
