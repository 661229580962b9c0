import { type Clock, MAX_TIMEOUT_MS } from "../operator/src/kube/clock.ts";

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/** Lets the pending promise callbacks and I/O completions that a timer started run to their end. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A clock for tests: time stands still until `advance` moves it, firing due timers in order and
 * letting the async work each one starts settle before the next fires.
 *
 * Its setTimeout overflows as Node's does: a delay above MAX_TIMEOUT_MS, or NaN, fires after 1 ms,
 * so that a test catches a long timer that did not go through `clampedTimeout`.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: Timer[] = [];

  constructor(start = Date.parse("2026-01-01T00:00:00Z")) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const delay = delayMs > MAX_TIMEOUT_MS || Number.isNaN(delayMs) ? 1 : Math.max(0, delayMs);
    const timer = { id: this.#nextId++, at: this.#now + delay, callback };
    this.#timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Timers not yet fired. */
  pending(): number {
    return this.#timers.length;
  }

  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.callback();
      await settle();
    }
    this.#now = target;
  }
}
