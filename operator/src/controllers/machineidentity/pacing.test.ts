import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { issuerMoveAt, RekeyLimiter } from "./pacing.ts";

const MINUTE = 60_000;

describe("issuerMoveAt", () => {
  it("should place every identity inside [anchor, anchor + min(spread, time to renewal))", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 60 * MINUTE }),
        fc.integer({ min: -MINUTE, max: 120 * MINUTE }),
        fc.string(),
        fc.string(),
        (anchorMs, spreadMs, toRenewal, jitterKey, issuer) => {
          const at = issuerMoveAt({
            anchorMs,
            spreadMs,
            renewalAtMs: anchorMs + toRenewal,
            jitterKey,
            issuer,
          });
          const window = Math.max(0, Math.min(spreadMs, toRenewal));
          expect(at).toBeGreaterThanOrEqual(anchorMs);
          expect(at).toBeLessThanOrEqual(anchorMs + Math.max(0, window - 1));
          expect(Number.isInteger(at)).toBe(true);
        },
      ),
    );
  });

  it("should give one identity the same moment for one issuer, and a new one for the next issuer", () => {
    const base = { anchorMs: 1_000_000, spreadMs: 10 * MINUTE, renewalAtMs: 1_000_000 + 40 * MINUTE };
    const a = issuerMoveAt({ ...base, jitterKey: "uid-1", issuer: "B" });
    expect(issuerMoveAt({ ...base, jitterKey: "uid-1", issuer: "B" })).toBe(a);
    const moments = new Set(
      ["B", "C", "D", "E"].map((issuer) => issuerMoveAt({ ...base, jitterKey: "uid-1", issuer })),
    );
    expect(moments.size).toBeGreaterThan(1);
  });

  it("should spread 1,000 identities evenly over the window", () => {
    const spreadMs = 10 * MINUTE;
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 1000; i++) {
      const at = issuerMoveAt({
        anchorMs: 0,
        spreadMs,
        renewalAtMs: 60 * MINUTE,
        jitterKey: `uid-${i}`,
        issuer: "B",
      });
      buckets[Math.floor(at / MINUTE)] += 1;
    }
    // 100 expected per minute; a binomial spread stays well within 60..140.
    for (const count of buckets) {
      expect(count).toBeGreaterThan(60);
      expect(count).toBeLessThan(140);
    }
  });

  it("should be at once when renewal is already due", () => {
    expect(
      issuerMoveAt({ anchorMs: 500, spreadMs: MINUTE, renewalAtMs: 100, jitterKey: "k", issuer: "B" }),
    ).toBe(500);
  });
});

describe("RekeyLimiter", () => {
  /** Drives N paced requesters through the limiter by its own retry answers; returns grant times. */
  function drive(
    perSecond: number,
    readyAt: number[],
    forcedAt: number[] = [],
  ): { paced: number[]; all: number[]; asked: number } {
    const limiter = new RekeyLimiter(perSecond);
    type Ev = { t: number; i: number; forced: boolean };
    const queue: Ev[] = [
      ...readyAt.map((t, i) => ({ t, i, forced: false })),
      ...forcedAt.map((t, i) => ({ t, i, forced: true })),
    ];
    const paced: number[] = [];
    const all: number[] = [];
    let asked = 0;
    while (queue.length > 0) {
      queue.sort((a, b) => a.t - b.t || Number(b.forced) - Number(a.forced) || a.i - b.i);
      const ev = queue.shift() as Ev;
      if (ev.forced) {
        limiter.force(ev.t);
        all.push(ev.t);
        continue;
      }
      asked++;
      const grant = limiter.tryAcquire(ev.t, String(ev.i));
      if (grant.granted) {
        paced.push(ev.t);
        all.push(ev.t);
      } else {
        expect(grant.retryAfterMs).toBeGreaterThan(0);
        queue.push({ ...ev, t: ev.t + grant.retryAfterMs });
      }
    }
    return { paced, all, asked };
  }

  const maxInAnySecond = (times: number[]) => {
    const sorted = [...times].sort((a, b) => a - b);
    let max = 0;
    let start = 0;
    for (let end = 0; end < sorted.length; end++) {
      while ((sorted[end] as number) - (sorted[start] as number) >= 1000) start++;
      max = Math.max(max, end - start + 1);
    }
    return max;
  };

  it("should never grant more than the limit in any second, and grant every requester in the end", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 200 }),
        (perSecond, readyAt) => {
          const { paced } = drive(perSecond, readyAt);
          expect(paced).toHaveLength(readyAt.length);
          expect(maxInAnySecond(paced)).toBeLessThanOrEqual(perSecond);
        },
      ),
    );
  });

  it("should count urgent re-keys: paced ones fill only what they left in each second", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 100 }),
        fc.array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 20 }),
        (perSecond, readyAt, forcedAt) => {
          const { paced, all } = drive(perSecond, readyAt, forcedAt);
          expect(paced).toHaveLength(readyAt.length);
          // Urgent ones are never held back; a paced one goes only into a second with room left.
          for (const t of paced) {
            expect(all.filter((u) => u > t - 1000 && u <= t).length).toBeLessThanOrEqual(perSecond);
          }
        },
      ),
    );
  });

  it("should space paced re-keys 1/limit apart rather than bunch them", () => {
    const { paced } = drive(20, new Array(100).fill(0));
    for (let i = 1; i < paced.length; i++) {
      expect((paced[i] as number) - (paced[i - 1] as number)).toBeGreaterThanOrEqual(50);
    }
    expect(paced.at(-1)).toBe(99 * 50);
  });

  it("should give each waiting requester its turn: it asks twice, not at every freed slot", () => {
    const { paced, asked } = drive(20, new Array(1000).fill(0));
    expect(paced).toHaveLength(1000);
    expect(asked).toBe(1 + 999 * 2);
    expect(paced.at(-1)).toBe(999 * 50);
  });

  it("should keep asking cheap when urgent re-keys take the room", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.integer({ min: 0, max: 2_000 }), { maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 2_000 }), { maxLength: 60 }),
        (perSecond, readyAt, forcedAt) => {
          const { paced, asked } = drive(perSecond, readyAt, forcedAt);
          expect(paced).toHaveLength(readyAt.length);
          // Asked once, then at most once per urgent re-key that pushed its slot, plus its slot.
          expect(asked).toBeLessThanOrEqual(readyAt.length * 2 + readyAt.length * forcedAt.length);
        },
      ),
    );
  });

  it("should let the next comer use the room of one late for its turn", () => {
    const limiter = new RekeyLimiter(20);
    expect(limiter.tryAcquire(0, "a").granted).toBe(true);
    expect(limiter.tryAcquire(0, "b")).toEqual({ granted: false, retryAfterMs: 50 });
    // b is busy elsewhere and comes back late; c, new, takes the room b left unused.
    expect(limiter.tryAcquire(120, "c").granted).toBe(true);
    // b then waits one spacing after c, not behind every slot given since.
    expect(limiter.tryAcquire(130, "b")).toEqual({ granted: false, retryAfterMs: 40 });
    expect(limiter.tryAcquire(170, "b").granted).toBe(true);
  });

  it("should not send a holder to the back of the line because the one before it was late", () => {
    const limiter = new RekeyLimiter(20);
    const queue = Array.from({ length: 100 }, (_, i) => ({ t: 0, i }));
    const granted: number[] = [];
    while (queue.length > 0) {
      queue.sort((a, b) => a.t - b.t || a.i - b.i);
      const ev = queue.shift() as (typeof queue)[number];
      const grant = limiter.tryAcquire(ev.t, String(ev.i));
      if (grant.granted) granted.push(ev.t);
      // Holders come back up to 10 ms after their slot, as a busy work queue brings them.
      else queue.push({ ...ev, t: ev.t + grant.retryAfterMs + (ev.i % 3) * 5 });
    }
    expect(granted).toHaveLength(100);
    // One spacing and a little lateness per grant, not the whole line again for each late one.
    expect(granted.at(-1)).toBeLessThanOrEqual(99 * (50 + 10) + 10);
  });

  it("should keep the limit and grant everyone when holders come back late", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 400 })), {
          maxLength: 120,
        }),
        (perSecond, requesters) => {
          const limiter = new RekeyLimiter(perSecond);
          const queue = requesters.map(([t, late], i) => ({ t, late, i }));
          const granted: number[] = [];
          while (queue.length > 0) {
            queue.sort((a, b) => a.t - b.t || a.i - b.i);
            const ev = queue.shift() as (typeof queue)[number];
            const grant = limiter.tryAcquire(ev.t, String(ev.i));
            if (grant.granted) granted.push(ev.t);
            else queue.push({ ...ev, t: ev.t + grant.retryAfterMs + ev.late });
          }
          expect(granted).toHaveLength(requesters.length);
          const sorted = [...granted].sort((a, b) => a - b);
          for (let i = perSecond; i < sorted.length; i++) {
            expect((sorted[i] as number) - (sorted[i - perSecond] as number)).toBeGreaterThanOrEqual(1000);
          }
        },
      ),
    );
  });

  it("should forget a place in line nobody came back for", () => {
    const limiter = new RekeyLimiter(1);
    limiter.tryAcquire(0, "a");
    expect(limiter.tryAcquire(0, "b")).toEqual({ granted: false, retryAfterMs: 1000 });
    expect(limiter.waiting).toBe(1);
    limiter.tryAcquire(120_000, "c");
    expect(limiter.waiting).toBe(0);
  });

  it("should refuse a limit that is not positive", () => {
    expect(() => new RekeyLimiter(0)).toThrow(/positive/);
  });
});
