import { describe, expect, it } from "vitest";
import { FakeClock } from "../../../testing/fake-clock.ts";
import { clampedTimeout, MAX_TIMEOUT_MS, systemClock, type TimerSource, unref } from "./clock.ts";

const DAY = 86_400_000;

describe("FakeClock", () => {
  it("should overflow a raw delay beyond the limit as Node does, firing after 1 ms", async () => {
    const clock = new FakeClock();
    let fired = 0;
    clock.setTimeout(() => fired++, MAX_TIMEOUT_MS + 1);
    clock.setTimeout(() => fired++, Number.NaN);
    await clock.advance(1);
    expect(fired).toBe(2);
  });
});

describe("clampedTimeout", () => {
  it.each([
    { name: "the limit itself", delay: MAX_TIMEOUT_MS, chunks: 1 },
    { name: "one past the limit", delay: MAX_TIMEOUT_MS + 1, chunks: 2 },
    { name: "30 days", delay: 30 * DAY, chunks: 2 },
    { name: "three limits and a bit", delay: 3 * MAX_TIMEOUT_MS + 7, chunks: 4 },
  ])("should fire $name after exactly that long, one timer at a time", async ({ delay, chunks }) => {
    const clock = new FakeClock();
    const armed: number[] = [];
    const timers: TimerSource = {
      setTimeout: (callback, ms) => {
        armed.push(ms);
        return clock.setTimeout(callback, ms);
      },
      clearTimeout: (handle) => clock.clearTimeout(handle),
    };
    const start = clock.now();
    let firedAt: number | undefined;
    clampedTimeout(
      timers,
      () => {
        firedAt = clock.now();
      },
      delay,
    );
    while (clock.now() - start < delay - 1) {
      await clock.advance(Math.min(MAX_TIMEOUT_MS, delay - 1 - (clock.now() - start)));
      expect(firedAt).toBeUndefined();
      expect(clock.pending()).toBe(1);
    }
    await clock.advance(1);
    expect(firedAt).toBe(start + delay);
    expect(clock.pending()).toBe(0);
    expect(armed).toHaveLength(chunks);
    expect(armed.every((ms) => ms <= MAX_TIMEOUT_MS)).toBe(true);
    expect(armed.reduce((a, b) => a + b, 0)).toBe(delay);
  });

  it("should never fire an infinite delay, and arm no timer for it", async () => {
    const clock = new FakeClock();
    let fired = false;
    const timeout = clampedTimeout(
      clock,
      () => {
        fired = true;
      },
      Number.POSITIVE_INFINITY,
    );
    expect(clock.pending()).toBe(0);
    await clock.advance(100 * DAY);
    expect(fired).toBe(false);
    timeout.cancel();
    timeout.unref();
  });

  it.each([0, -5, Number.NEGATIVE_INFINITY])(
    "should fire a delay of %d at once, but not synchronously",
    async (delay) => {
      const clock = new FakeClock();
      let fired = false;
      clampedTimeout(
        clock,
        () => {
          fired = true;
        },
        delay,
      );
      expect(fired).toBe(false);
      await clock.advance(0);
      expect(fired).toBe(true);
    },
  );

  it("should refuse a NaN delay", () => {
    const clock = new FakeClock();
    expect(() => clampedTimeout(clock, () => {}, Number.NaN)).toThrow(RangeError);
    expect(clock.pending()).toBe(0);
  });

  it.each([
    { name: "before its first timer fires", after: DAY },
    { name: "after it has re-armed", after: MAX_TIMEOUT_MS + DAY },
  ])("should not fire once cancelled $name", async ({ after }) => {
    const clock = new FakeClock();
    let fired = false;
    const timeout = clampedTimeout(
      clock,
      () => {
        fired = true;
      },
      60 * DAY,
    );
    await clock.advance(after);
    timeout.cancel();
    expect(clock.pending()).toBe(0);
    await clock.advance(100 * DAY);
    expect(fired).toBe(false);
    timeout.cancel();
  });

  it("should fire once only", async () => {
    const clock = new FakeClock();
    let fired = 0;
    const timeout = clampedTimeout(clock, () => fired++, 10);
    await clock.advance(100);
    timeout.cancel();
    await clock.advance(100);
    expect(fired).toBe(1);
  });

  it("should unref every timer it arms once unref'd, including the re-armed ones", async () => {
    const clock = new FakeClock();
    const handles: { unrefd: boolean }[] = [];
    const timers: TimerSource = {
      setTimeout: (callback, ms) => {
        const id = clock.setTimeout(callback, ms);
        const handle = { id, unrefd: false, unref: () => (handle.unrefd = true) };
        handles.push(handle);
        return handle;
      },
      clearTimeout: (handle) => clock.clearTimeout((handle as { id: unknown }).id),
    };
    const timeout = clampedTimeout(timers, () => {}, 2 * MAX_TIMEOUT_MS);
    unref(timeout);
    await clock.advance(MAX_TIMEOUT_MS);
    expect(handles.map((h) => h.unrefd)).toEqual([true, true]);
    timeout.cancel();
  });
});

describe("systemClock", () => {
  it("should fire a short timer, and cancel one through clearTimeout", async () => {
    const fired: string[] = [];
    await new Promise<void>((resolve) => {
      const cancelled = systemClock.setTimeout(() => fired.push("cancelled"), 1);
      systemClock.clearTimeout(cancelled);
      systemClock.setTimeout(() => {
        fired.push("short");
        resolve();
      }, 5);
    });
    expect(fired).toEqual(["short"]);
    systemClock.clearTimeout(undefined);
  });

  it("should not fire a delay beyond the limit at once", async () => {
    let fired = false;
    const handle = systemClock.setTimeout(() => {
      fired = true;
    }, 40 * DAY);
    unref(handle);
    await new Promise((resolve) => setTimeout(resolve, 20));
    systemClock.clearTimeout(handle);
    expect(fired).toBe(false);
  });
});
