import { describe, expect, it } from "vitest";
import { MAX_TIMER_DELAY_MS, type TimerClock, TransitionTimers } from "./timers.ts";

/**
 * A fake clock whose timers run only when the test advances time. `earlyByMs` makes every timer
 * wake that much before its delay has elapsed, as real timers sometimes do (but never without
 * time passing at all).
 */
interface FakeTimer {
  id: number;
  wakeAt: number;
  callback: () => void;
}

class FakeClock implements TimerClock {
  current: number;
  readonly earlyByMs: number;
  readonly delays: number[] = [];
  #pending: FakeTimer[] = [];
  #nextId = 1;

  constructor(start: number, earlyByMs = 0) {
    this.current = start;
    this.earlyByMs = earlyByMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    if (delayMs > MAX_TIMER_DELAY_MS) throw new Error(`delay ${delayMs} would overflow setTimeout`);
    this.delays.push(delayMs);
    const id = this.#nextId++;
    this.#pending.push({
      id,
      wakeAt: this.current + Math.max(delayMs - this.earlyByMs, Math.min(delayMs, 1)),
      callback,
    });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending = this.#pending.filter((timer) => timer.id !== handle);
  }

  get pendingTimers(): number {
    return this.#pending.length;
  }

  /** Runs every timer due up to `until`, each at its own wake-up time, then sets the clock to `until`. */
  advanceTo(until: number): void {
    for (;;) {
      const next = this.#pending.reduce<FakeTimer | undefined>(
        (earliest, timer) => (earliest === undefined || timer.wakeAt < earliest.wakeAt ? timer : earliest),
        undefined,
      );
      if (next === undefined || next.wakeAt > until) break;
      this.#pending = this.#pending.filter((timer) => timer !== next);
      this.current = Math.max(this.current, next.wakeAt);
      next.callback();
    }
    this.current = until;
  }
}

const T0 = Date.parse("2026-11-16T08:00:00Z");
const SECOND = 1000;
const DAY = 86_400_000;

function setup(earlyByMs = 0) {
  const clock = new FakeClock(T0, earlyByMs);
  const fired: { key: string; at: number }[] = [];
  const timers = new TransitionTimers({ clock, onDue: (key) => fired.push({ key, at: clock.now() }) });
  return { clock, fired, timers };
}

describe("TransitionTimers", () => {
  it("fires keys in due order, each at its due instant", () => {
    const { clock, fired, timers } = setup();
    timers.schedule("shop/late", new Date(T0 + 30 * SECOND));
    timers.schedule("shop/early", new Date(T0 + 10 * SECOND));
    timers.schedule("shop/middle", new Date(T0 + 20 * SECOND));
    clock.advanceTo(T0 + 60 * SECOND);
    expect(fired).toEqual([
      { key: "shop/early", at: T0 + 10 * SECOND },
      { key: "shop/middle", at: T0 + 20 * SECOND },
      { key: "shop/late", at: T0 + 30 * SECOND },
    ]);
    expect(timers.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it("arms a single timer however many keys are scheduled", () => {
    const { clock, timers } = setup();
    for (let i = 0; i < 1000; i++) timers.schedule(`ns/s${i}`, new Date(T0 + (1000 - i) * SECOND));
    expect(timers.size).toBe(1000);
    expect(clock.pendingTimers).toBe(1);
  });

  it("keeps the armed timer when a later key is added", () => {
    const { clock, timers } = setup();
    timers.schedule("a", new Date(T0 + 10 * SECOND));
    timers.schedule("b", new Date(T0 + 20 * SECOND));
    timers.schedule("c", new Date(T0 + 30 * SECOND));
    expect(clock.delays).toEqual([10 * SECOND]);
  });

  it("moves a rescheduled key to its new instant, earlier or later", () => {
    const { clock, fired, timers } = setup();
    timers.schedule("a", new Date(T0 + 10 * SECOND));
    timers.schedule("b", new Date(T0 + 20 * SECOND));
    timers.schedule("a", new Date(T0 + 30 * SECOND));
    timers.schedule("b", new Date(T0 + 5 * SECOND));
    expect(timers.dueAt("a")).toEqual(new Date(T0 + 30 * SECOND));
    clock.advanceTo(T0 + 60 * SECOND);
    expect(fired).toEqual([
      { key: "b", at: T0 + 5 * SECOND },
      { key: "a", at: T0 + 30 * SECOND },
    ]);
  });

  it("does not fire a cancelled key, nor one scheduled to undefined", () => {
    const { clock, fired, timers } = setup();
    timers.schedule("a", new Date(T0 + 10 * SECOND));
    timers.schedule("b", new Date(T0 + 20 * SECOND));
    timers.schedule("c", new Date(T0 + 30 * SECOND));
    timers.cancel("a");
    timers.schedule("c", undefined);
    timers.cancel("never-scheduled");
    expect(timers.size).toBe(1);
    clock.advanceTo(T0 + 60 * SECOND);
    expect(fired).toEqual([{ key: "b", at: T0 + 20 * SECOND }]);
  });

  it("disarms when the last key is cancelled", () => {
    const { clock, timers } = setup();
    timers.schedule("a", new Date(T0 + 10 * SECOND));
    timers.cancel("a");
    expect(clock.pendingTimers).toBe(0);
  });

  it("fires every key due at the same instant, in scheduling order", () => {
    const { clock, fired, timers } = setup();
    const at = new Date(T0 + 10 * SECOND);
    const keys = Array.from({ length: 50 }, (_, i) => `ns${i}/business-hours`);
    for (const key of keys) timers.schedule(key, at);
    clock.advanceTo(T0 + 11 * SECOND);
    expect(fired.map((f) => f.key)).toEqual(keys);
    expect(new Set(fired.map((f) => f.at))).toEqual(new Set([at.getTime()]));
  });

  it("fires a key scheduled in the past on the next turn", () => {
    const { clock, fired, timers } = setup();
    timers.schedule("overdue", new Date(T0 - DAY));
    expect(clock.delays).toEqual([0]);
    clock.advanceTo(T0);
    expect(fired).toEqual([{ key: "overdue", at: T0 }]);
  });

  it("re-arms instead of firing early when the timer wakes before the due instant", () => {
    const { clock, fired, timers } = setup(3);
    timers.schedule("a", new Date(T0 + 10 * SECOND));
    clock.advanceTo(T0 + 10 * SECOND - 1);
    expect(fired).toEqual([]);
    clock.advanceTo(T0 + 10 * SECOND);
    expect(fired).toEqual([{ key: "a", at: T0 + 10 * SECOND }]);
    expect(clock.delays[0]).toBe(10 * SECOND);
    expect(clock.delays.length).toBeGreaterThan(1);
  });

  it("splits delays beyond 2^31-1 ms and fires at the due instant", () => {
    const { clock, fired, timers } = setup();
    const due = T0 + 60 * DAY;
    timers.schedule("far", new Date(due));
    expect(clock.delays).toEqual([MAX_TIMER_DELAY_MS]);
    clock.advanceTo(due - 1);
    expect(fired).toEqual([]);
    clock.advanceTo(due);
    expect(fired).toEqual([{ key: "far", at: due }]);
    expect(clock.delays.every((delay) => delay <= MAX_TIMER_DELAY_MS)).toBe(true);
    expect(clock.delays.length).toBe(Math.ceil((60 * DAY) / MAX_TIMER_DELAY_MS));
  });

  it("lets onDue schedule its own key again", () => {
    const clock = new FakeClock(T0);
    const fired: number[] = [];
    const timers: TransitionTimers = new TransitionTimers({
      clock,
      onDue: (key) => {
        fired.push(clock.now());
        if (fired.length < 3) timers.schedule(key, new Date(clock.now() + 10 * SECOND));
      },
    });
    timers.schedule("self", new Date(T0 + 10 * SECOND));
    clock.advanceTo(T0 + 60 * SECOND);
    expect(fired).toEqual([T0 + 10 * SECOND, T0 + 20 * SECOND, T0 + 30 * SECOND]);
  });

  it("a key that onDue reschedules into the past fires on the next turn, not in a loop", () => {
    const clock = new FakeClock(T0);
    let calls = 0;
    const timers: TransitionTimers = new TransitionTimers({
      clock,
      onDue: (key) => {
        calls++;
        if (calls === 1) timers.schedule(key, new Date(T0));
      },
    });
    timers.schedule("k", new Date(T0 + SECOND));
    clock.advanceTo(T0 + SECOND);
    expect(calls).toBe(2);
  });

  it("passes errors from onDue to onError and still fires the other due keys", () => {
    const clock = new FakeClock(T0);
    const fired: string[] = [];
    const errors: string[] = [];
    const timers = new TransitionTimers({
      clock,
      onDue: (key) => {
        if (key === "bad") throw new Error("boom");
        fired.push(key);
      },
      onError: (key, error) => errors.push(`${key}: ${(error as Error).message}`),
    });
    timers.schedule("bad", new Date(T0 + SECOND));
    timers.schedule("good", new Date(T0 + SECOND));
    timers.schedule("later", new Date(T0 + 2 * SECOND));
    clock.advanceTo(T0 + 3 * SECOND);
    expect(errors).toEqual(["bad: boom"]);
    expect(fired).toEqual(["good", "later"]);
  });

  it("rethrows an onDue error without onError only after the timer is re-armed", () => {
    const clock = new FakeClock(T0);
    const fired: string[] = [];
    const timers = new TransitionTimers({
      clock,
      onDue: (key) => {
        fired.push(key);
        if (key === "bad") throw new Error("boom");
      },
    });
    timers.schedule("bad", new Date(T0 + SECOND));
    timers.schedule("later", new Date(T0 + 2 * SECOND));
    expect(() => clock.advanceTo(T0 + SECOND)).toThrow("boom");
    clock.advanceTo(T0 + 2 * SECOND);
    expect(fired).toEqual(["bad", "later"]);
  });

  it("stop forgets every key and disarms", () => {
    const { clock, fired, timers } = setup();
    timers.schedule("a", new Date(T0 + SECOND));
    timers.schedule("b", new Date(T0 + 2 * SECOND));
    timers.stop();
    expect(timers.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    clock.advanceTo(T0 + DAY);
    expect(fired).toEqual([]);
  });

  it("refuses an invalid Date", () => {
    const { timers } = setup();
    expect(() => timers.schedule("a", new Date(Number.NaN))).toThrow(RangeError);
  });

  it("keeps heap order through random schedules and cancels", () => {
    const { clock, fired, timers } = setup();
    const expected = new Map<string, number>();
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 2000; i++) {
      const key = `k${Math.floor(random() * 300)}`;
      if (random() < 0.2) {
        timers.cancel(key);
        expected.delete(key);
      } else {
        const at = T0 + 1 + Math.floor(random() * DAY);
        timers.schedule(key, new Date(at));
        expected.set(key, at);
      }
    }
    expect(timers.size).toBe(expected.size);
    clock.advanceTo(T0 + DAY + 1);
    const firedAt = new Map(fired.map((f) => [f.key, f.at]));
    expect(firedAt).toEqual(expected);
    expect(fired.map((f) => f.at)).toEqual([...fired.map((f) => f.at)].sort((a, b) => a - b));
  });
});
