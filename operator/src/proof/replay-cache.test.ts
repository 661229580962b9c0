import { describe, expect, it } from "vitest";
import { ReplayCache, replayKeyOf } from "./replay-cache.ts";

const T = 1_790_000_000_000; // a whole second, in ms
const S = T / 1000;

describe("ReplayCache", () => {
  it("should admit a key once and call it replayed after", () => {
    const cache = new ReplayCache({ maxEntries: 10, horizonSeconds: 71 });
    expect(cache.admit("a", S + 35, T)).toBe("admitted");
    expect(cache.admit("a", S + 35, T + 500)).toBe("replayed");
    expect(cache.admit("b", S + 35, T + 500)).toBe("admitted");
    expect(cache.size).toBe(2);
  });

  it("should remember a key through its expiry second's end and forget it a millisecond later", () => {
    const cache = new ReplayCache({ maxEntries: 10, horizonSeconds: 71 });
    cache.admit("a", S + 10, T);
    cache.sweep((S + 10) * 1000);
    expect(cache.size).toBe(1);
    cache.sweep((S + 10) * 1000 + 1);
    expect(cache.size).toBe(0);
    expect(cache.admit("a", S + 20, (S + 10) * 1000 + 1)).toBe("admitted");
  });

  it("should refuse new keys when full, still tell a replay, and admit again once keys expire", () => {
    const cache = new ReplayCache({ maxEntries: 2, horizonSeconds: 71 });
    expect(cache.admit("a", S + 5, T)).toBe("admitted");
    expect(cache.admit("b", S + 30, T)).toBe("admitted");
    expect(cache.admit("c", S + 30, T)).toBe("full");
    expect(cache.admit("a", S + 5, T)).toBe("replayed");
    expect(cache.admit("c", S + 30, (S + 5) * 1000 + 1)).toBe("admitted");
    expect(cache.size).toBe(2);
  });

  it("should forget nothing when the clock steps back", () => {
    const cache = new ReplayCache({ maxEntries: 10, horizonSeconds: 71 });
    cache.admit("a", S + 10, T + 9_000);
    cache.sweep(T);
    cache.sweep(T + 10_000);
    expect(cache.size).toBe(1);
    expect(cache.admit("a", S + 10, T + 5_000)).toBe("replayed");
  });

  it("should refuse an expiry already behind its latest time, which could share a bucket with a live key", () => {
    // With a ring of 73 seconds, expiry S + 57 and S + 130 share a bucket: sweeping the first
    // must never drop the second.
    const cache = new ReplayCache({ maxEntries: 10, horizonSeconds: 71 });
    cache.admit("live", S + 130, T + 100_500);
    cache.sweep(T + 50_000);
    expect(() => cache.admit("stale", S + 57, T + 50_500)).toThrow(RangeError);
    cache.sweep((S + 57) * 1000 + 1);
    expect(cache.admit("live", S + 130, T + 101_000)).toBe("replayed");
  });

  it("should forget everything after a jump longer than the ring, and reuse the ring after", () => {
    const cache = new ReplayCache({ maxEntries: 100, horizonSeconds: 71 });
    for (let i = 1; i <= 70; i++) cache.admit(`k${i}`, S + i, T);
    const later = T + 3_600_000;
    cache.sweep(later);
    expect(cache.size).toBe(0);
    expect(cache.admit("k1", later / 1000 + 71, later)).toBe("admitted");
    cache.sweep(later + 71_000);
    expect(cache.size).toBe(1);
    cache.sweep(later + 71_001);
    expect(cache.size).toBe(0);
  });

  it("should keep keys of every expiry within the horizon apart in the ring", () => {
    const cache = new ReplayCache({ maxEntries: 1000, horizonSeconds: 71 });
    for (let i = 1; i <= 71; i++) cache.admit(`k${i}`, S + i, T);
    for (let i = 1; i <= 71; i++) {
      cache.sweep((S + i) * 1000 + 1);
      expect(cache.size).toBe(71 - i);
    }
  });

  it("should refuse an expiry outside its horizon, which the verifier never asks for", () => {
    const cache = new ReplayCache({ maxEntries: 10, horizonSeconds: 71 });
    expect(() => cache.admit("a", S + 73, T)).toThrow(RangeError);
    expect(() => cache.admit("a", S - 1, T)).toThrow(RangeError);
    expect(() => new ReplayCache({ maxEntries: 0, horizonSeconds: 71 })).toThrow(/maxEntries 0/);
  });
});

describe("replayKeyOf", () => {
  it("should give the jti's 16 bytes as a 16-character string, one per jti", () => {
    const a = replayKeyOf("AAAAAAAAAAAAAAAAAAAAAA");
    const b = replayKeyOf("AAAAAAAAAAAAAAAAAAAAAQ");
    expect(a).toHaveLength(16);
    expect(a).not.toBe(b);
    expect(replayKeyOf("_____________________w")).toBe("\xff".repeat(16));
  });
});
