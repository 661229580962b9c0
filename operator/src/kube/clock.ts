/**
 * Time and timers as one seam, so that the queue and the leader elector can be driven by a fake
 * clock in tests instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The timer half of a Clock: what `clampedTimeout` arms its timers on. */
export type TimerSource = Pick<Clock, "setTimeout" | "clearTimeout">;

/**
 * setTimeout's largest delay, 2^31-1 ms (about 24.8 days). Node fires a longer delay after 1 ms
 * (with a TimeoutOverflowWarning), so every timer goes through `clampedTimeout`.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A timer armed by `clampedTimeout`. */
export interface Timeout {
  /** Stops the timer; harmless once it has fired or been cancelled. */
  cancel(): void;
  /** Lets the process exit while this timer is pending; holds across the re-arms of a long delay. */
  unref(): void;
}

class ClampedTimeout implements Timeout {
  readonly #timers: TimerSource;
  readonly #callback: () => void;
  /** What is left of the delay once the armed timer has fired. */
  #rest: number;
  #handle: unknown;
  #armed = false;
  #done = false;
  #unref = false;

  constructor(timers: TimerSource, callback: () => void, delayMs: number) {
    this.#timers = timers;
    this.#callback = callback;
    this.#rest = Math.max(0, delayMs);
    if (delayMs === Number.POSITIVE_INFINITY) this.#done = true;
    else this.#arm();
  }

  cancel(): void {
    this.#done = true;
    if (this.#armed) this.#timers.clearTimeout(this.#handle);
    this.#armed = false;
    this.#handle = undefined;
  }

  unref(): void {
    this.#unref = true;
    if (this.#armed) unref(this.#handle);
  }

  #arm(): void {
    // Counting the delay down chunk by chunk, rather than against now(), keeps the timer a duration:
    // a wall clock stepped back by NTP neither stretches nor shortens it.
    const chunk = Math.min(this.#rest, MAX_TIMEOUT_MS);
    this.#rest -= chunk;
    this.#handle = this.#timers.setTimeout(this.#wake, chunk);
    this.#armed = true;
    if (this.#unref) unref(this.#handle);
  }

  #wake = (): void => {
    this.#armed = false;
    this.#handle = undefined;
    if (this.#done) return;
    if (this.#rest > 0) {
      this.#arm();
      return;
    }
    this.#done = true;
    this.#callback();
  };
}

/**
 * Calls `callback` once, `delayMs` after now, on `timers` (a Clock, or the system's timers), for any
 * delay: one above MAX_TIMEOUT_MS waits MAX_TIMEOUT_MS and re-arms for the rest, as often as needed.
 *
 * - `Infinity` never fires (no timer is armed at all);
 * - zero, negative and `-Infinity` fire at once, on a later turn of the event loop, never synchronously;
 * - `NaN` throws a RangeError: it is always a computation gone wrong (an invalid Date, an undefined
 *   option), and firing it at once, as Node does, would turn it into a hot loop nobody sees.
 */
export function clampedTimeout(timers: TimerSource, callback: () => void, delayMs: number): Timeout {
  if (Number.isNaN(delayMs)) throw new RangeError("timer delay is NaN");
  return new ClampedTimeout(timers, callback, delayMs);
}

const nodeTimers: TimerSource = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The system's clock; its timers are clamped (see `clampedTimeout`) and their handles can be unref'd. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => clampedTimeout(nodeTimers, callback, delayMs),
  clearTimeout: (handle) => {
    if (handle instanceof ClampedTimeout) handle.cancel();
  },
};

/** A timer that must not keep the process alive on its own (watch restarts, lease retries). */
export function unref(handle: unknown): void {
  (handle as { unref?: () => void } | undefined)?.unref?.();
}
