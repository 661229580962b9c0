/** Time and timers, injected so that tests drive a fake clock instead of sleeping. */
export interface TimerClock {
  now(): number;
  // Method syntax on purpose: it lets Node's own setTimeout/clearTimeout, whose handle type is
  // narrower than unknown, be passed in directly.
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimerClock: TimerClock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** setTimeout's largest delay; longer ones overflow and fire immediately. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface TransitionTimersOptions {
  /** Called once when a key falls due; the key is removed first, so it may schedule itself again. */
  onDue: (key: string) => void;
  /** Receives an error thrown by onDue. Without it the first error is rethrown after every due key
   *  has been called and the timer re-armed, so one faulty key never stalls the others. */
  onError?: (key: string, error: unknown) => void;
  clock?: TimerClock;
}

interface Entry {
  key: string;
  at: number;
  /** Insertion order, to fire keys due at the same instant in the order they were scheduled. */
  seq: number;
  position: number;
}

/**
 * The next due instant of every key (e.g. "shop/business-hours"), with one setTimeout armed for the
 * earliest. A min-heap keeps schedule and cancel at O(log n) for any number of schedules, and no
 * timer ticks between transitions.
 *
 * A key fires at or after its due instant, never before: a timer that wakes early (setTimeout may
 * run a millisecond ahead, and delays beyond MAX_TIMER_DELAY_MS are split) re-arms for the rest.
 */
export class TransitionTimers {
  readonly #heap: Entry[] = [];
  readonly #entries = new Map<string, Entry>();
  readonly #onDue: (key: string) => void;
  readonly #onError: ((key: string, error: unknown) => void) | undefined;
  readonly #clock: TimerClock;
  #seq = 0;
  #handle: unknown;
  #armed = false;
  /** The due instant the armed timer is for. */
  #armedFor = 0;

  constructor(options: TransitionTimersOptions) {
    this.#onDue = options.onDue;
    this.#onError = options.onError;
    this.#clock = options.clock ?? systemTimerClock;
  }

  /** Number of keys waiting. */
  get size(): number {
    return this.#heap.length;
  }

  /** When a key is due, if it is scheduled. */
  dueAt(key: string): Date | undefined {
    const entry = this.#entries.get(key);
    return entry === undefined ? undefined : new Date(entry.at);
  }

  /** Sets or replaces a key's due instant; undefined cancels it. An instant in the past fires at once. */
  schedule(key: string, at: Date | undefined): void {
    if (at === undefined) {
      this.cancel(key);
      return;
    }
    const ms = at.getTime();
    if (Number.isNaN(ms))
      throw new RangeError(`TransitionTimers.schedule(${JSON.stringify(key)}): invalid Date`);
    const existing = this.#entries.get(key);
    if (existing !== undefined) {
      if (existing.at === ms) return;
      const earlier = ms < existing.at;
      existing.at = ms;
      existing.seq = this.#seq++;
      if (earlier) this.#up(existing.position);
      else this.#down(existing.position);
    } else {
      const entry: Entry = { key, at: ms, seq: this.#seq++, position: this.#heap.length };
      this.#heap.push(entry);
      this.#entries.set(key, entry);
      this.#up(entry.position);
    }
    this.#arm();
  }

  cancel(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#removeAt(entry.position);
    this.#arm();
  }

  /** Forgets every key and disarms the timer. The instance stays usable. */
  stop(): void {
    this.#heap.length = 0;
    this.#entries.clear();
    this.#disarm();
  }

  #fire = (): void => {
    this.#armed = false;
    this.#handle = undefined;
    const now = this.#clock.now();
    // Take the whole due batch before calling out, so that a key that onDue reschedules into the
    // past fires on the next turn instead of looping here.
    const due: string[] = [];
    for (let top = this.#heap[0]; top !== undefined && top.at <= now; top = this.#heap[0]) {
      due.push(top.key);
      this.#removeAt(0);
    }
    this.#arm();
    let failure: { error: unknown } | undefined;
    for (const key of due) {
      try {
        this.#onDue(key);
      } catch (error) {
        if (this.#onError !== undefined) this.#onError(key, error);
        else failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  };

  #arm(): void {
    const top = this.#heap[0];
    if (top === undefined) {
      this.#disarm();
      return;
    }
    if (this.#armed && this.#armedFor === top.at) return;
    this.#disarm();
    const delay = Math.min(Math.max(top.at - this.#clock.now(), 0), MAX_TIMER_DELAY_MS);
    this.#armed = true;
    this.#armedFor = top.at;
    this.#handle = this.#clock.setTimeout(this.#fire, delay);
  }

  #disarm(): void {
    if (this.#armed) this.#clock.clearTimeout(this.#handle);
    this.#armed = false;
    this.#handle = undefined;
  }

  #less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #place(entry: Entry, position: number): void {
    this.#heap[position] = entry;
    entry.position = position;
  }

  #removeAt(position: number): void {
    const removed = this.#heap[position] as Entry;
    this.#entries.delete(removed.key);
    const last = this.#heap.pop() as Entry;
    if (position === this.#heap.length) return;
    this.#place(last, position);
    this.#up(position);
    this.#down(last.position);
  }

  #up(position: number): void {
    const entry = this.#heap[position] as Entry;
    while (position > 0) {
      const parentPosition = (position - 1) >> 1;
      const parent = this.#heap[parentPosition] as Entry;
      if (!this.#less(entry, parent)) break;
      this.#place(parent, position);
      position = parentPosition;
    }
    this.#place(entry, position);
  }

  #down(position: number): void {
    const entry = this.#heap[position] as Entry;
    const length = this.#heap.length;
    for (;;) {
      const left = 2 * position + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && this.#less(this.#heap[right] as Entry, this.#heap[left] as Entry)) child = right;
      const smallest = this.#heap[child] as Entry;
      if (!this.#less(smallest, entry)) break;
      this.#place(smallest, position);
      position = child;
    }
    this.#place(entry, position);
  }
}
