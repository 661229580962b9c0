import { type Clock, clampedTimeout, systemClock, type Timeout, type TimerSource } from "./clock.ts";

export interface BackoffOptions {
  /** Delay after the first failure of a key; doubles with each further failure. Default 100 ms. */
  baseDelayMs?: number;
  /** Upper bound of the delay. Default 30 s: credentials live minutes, so retries must stay close. */
  maxDelayMs?: number;
}

/**
 * Where a WorkQueue records client-go's work-queue metrics. Durations are in milliseconds of the
 * queue's clock.
 */
export interface WorkQueueMetrics {
  /** Keys waiting to be handed out, counting keys added again while they are being processed. */
  depth(keys: number): void;
  /** A key was added that was not already waiting (a duplicate add is not counted). */
  added(): void;
  /** A key was handed to a worker `waitedMs` after it was added. */
  started(waitedMs: number): void;
  /** A worker marked a key done `workedMs` after it was handed out. */
  finished(workedMs: number): void;
  /** A key was added again with backoff (`addRateLimited`). */
  retried(): void;
  /** Gives the sink a way to read the work in progress whenever it needs it (at scrape time). */
  inProgress(read: () => WorkInProgress): void;
}

export interface WorkInProgress {
  /** Summed over the keys being processed: how long each has been. */
  unfinishedMs: number;
  /** How long the key processed longest so far has been. */
  longestMs: number;
}

/** Hands out the metrics sink of a named queue; SignetMetrics is one. */
export interface WorkQueueMetricsProvider {
  workQueue(name: string): WorkQueueMetrics;
}

export interface WorkQueueOptions extends BackoffOptions {
  clock?: Clock;
  /** The queue's name, as its metrics are labelled; needed with `metrics`. */
  name?: string;
  /** Records the queue's metrics under `name`, e.g. `new WorkQueue({ name: "machineidentity", metrics })`. */
  metrics?: WorkQueueMetricsProvider;
}

interface Delayed {
  key: string;
  readyAt: number;
}

/**
 * A de-duplicating work queue with client-go's semantics. A key is queued at most once; a key that is
 * being processed is never handed to a second worker, and adding it meanwhile re-queues it once
 * `done(key)` is called. Delayed keys sit in one min-heap behind one timer, whatever their number,
 * and a delay may be of any length (see `clampedTimeout`).
 */
export class WorkQueue {
  readonly #clock: Clock;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;

  /** Keys ready to be handed out, in FIFO order, each at most once. */
  #queue: string[] = [];
  /** Keys that need processing: queued, or to be re-queued when their current processing ends. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #failures = new Map<string, number>();

  readonly #heap: Delayed[] = [];
  readonly #heapIndex = new Map<string, number>();
  #timer: Timeout | undefined;
  #timerAt: number | undefined;

  readonly #metrics: WorkQueueMetrics | undefined;
  /** With metrics: when each waiting key was added, and when each key being processed was handed out. */
  readonly #addedAt = new Map<string, number>();
  readonly #startedAt = new Map<string, number>();

  #shuttingDown = false;
  readonly #idleWaiters: (() => void)[] = [];
  /** Called once at the next moment no key is ready or being processed (see `onIdle`). */
  readonly #idleListeners = new Set<() => void>();

  constructor(options: WorkQueueOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#baseDelayMs = options.baseDelayMs ?? 100;
    this.#maxDelayMs = options.maxDelayMs ?? 30_000;
    if (!(this.#baseDelayMs > 0) || !(this.#maxDelayMs >= this.#baseDelayMs)) {
      throw new Error(
        `work queue backoff needs 0 < baseDelayMs <= maxDelayMs, got ${this.#baseDelayMs} and ${this.#maxDelayMs}`,
      );
    }
    if (options.metrics !== undefined) {
      if (!options.name) throw new Error("a work queue with metrics needs a name");
      this.#metrics = options.metrics.workQueue(options.name);
      this.#metrics.inProgress(() => this.#inProgress());
      this.#metrics.depth(0);
    }
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#metrics) {
      this.#addedAt.set(key, this.#clock.now());
      this.#metrics.added();
      this.#metrics.depth(this.#dirty.size);
    }
    if (this.#processing.has(key)) return;
    this.#enqueue(key);
  }

  /**
   * Adds `key` after `delayMs`; of several pending delays for one key, the earliest wins (a later call
   * never postpones it). Zero or negative adds at once; `Infinity` never adds; NaN throws a RangeError.
   */
  addAfter(key: string, delayMs: number): void {
    if (Number.isNaN(delayMs)) throw new RangeError(`addAfter(${JSON.stringify(key)}): the delay is NaN`);
    if (this.#shuttingDown || delayMs === Number.POSITIVE_INFINITY) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + delayMs;
    const at = this.#heapIndex.get(key);
    if (at === undefined) {
      this.#heap.push({ key, readyAt });
      this.#heapIndex.set(key, this.#heap.length - 1);
      this.#siftUp(this.#heap.length - 1);
    } else {
      const entry = this.#heap[at] as Delayed;
      if (entry.readyAt <= readyAt) return;
      entry.readyAt = readyAt;
      this.#siftUp(at);
    }
    this.#armTimer();
  }

  /** Adds `key` after its per-key exponential backoff, which grows with each call until `forget`. */
  addRateLimited(key: string): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    if (!this.#shuttingDown) this.#metrics?.retried();
    this.addAfter(key, this.backoffDelay(failures));
  }

  /** The delay `addRateLimited` uses after `failures` earlier failures. */
  backoffDelay(failures: number): number {
    // Past 2^52 the doubling can only be the cap; stop before the float overflows.
    if (failures >= 52) return this.#maxDelayMs;
    return Math.min(this.#baseDelayMs * 2 ** failures, this.#maxDelayMs);
  }

  /** Resets the backoff of `key` (after a success). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** How many times `key` has been rate-limited since its last `forget`. */
  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * The next key to process, waiting until there is one; undefined once the queue is shut down.
   * Every key returned must be passed to `done` when its processing ends.
   */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) return Promise.resolve(this.#take(key));
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: string): void {
    if (!this.#processing.delete(key)) return;
    if (this.#metrics) {
      this.#metrics.finished(this.#clock.now() - (this.#startedAt.get(key) as number));
      this.#startedAt.delete(key);
    }
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#enqueue(key);
    if (this.#processing.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    if (this.idle) this.#notifyIdle();
  }

  /**
   * Whether no key is ready or being processed. Delayed keys do not count: they are future work,
   * not work in flight.
   */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#processing.size === 0;
  }

  /**
   * Calls `callback` once, the next time the queue becomes idle (the last key being processed is
   * done with nothing ready behind it) or shuts down, from within that `done` or `shutDown`. The
   * returned function cancels it.
   */
  onIdle(callback: () => void): () => void {
    const once = () => callback();
    this.#idleListeners.add(once);
    return () => {
      this.#idleListeners.delete(once);
    };
  }

  #notifyIdle(): void {
    const listeners = [...this.#idleListeners];
    this.#idleListeners.clear();
    for (const listener of listeners) listener();
  }

  /**
   * Stops the queue: adds are ignored, pending and delayed keys are dropped (reconciles are level-based,
   * so whoever runs next lists everything anew), and every waiting `get` resolves undefined.
   */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#queue = [];
    this.#dirty.clear();
    this.#addedAt.clear();
    this.#metrics?.depth(0);
    this.#heap.length = 0;
    this.#heapIndex.clear();
    this.#disarmTimer();
    for (const resolve of this.#waiters.splice(0)) resolve(undefined);
    this.#notifyIdle();
  }

  /** Shuts down, then resolves once every key being processed has been marked done. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Keys ready to be processed (not counting delayed keys or keys being processed). */
  len(): number {
    return this.#queue.length;
  }

  /** Keys waiting for a delay to pass. */
  delayedLen(): number {
    return this.#heap.length;
  }

  /** Keys being processed right now. */
  processingLen(): number {
    return this.#processing.size;
  }

  #enqueue(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(this.#take(key));
    else this.#queue.push(key);
  }

  #take(key: string): string {
    this.#dirty.delete(key);
    this.#processing.add(key);
    if (this.#metrics) {
      const now = this.#clock.now();
      this.#metrics.depth(this.#dirty.size);
      this.#metrics.started(now - (this.#addedAt.get(key) as number));
      this.#addedAt.delete(key);
      this.#startedAt.set(key, now);
    }
    return key;
  }

  #inProgress(): WorkInProgress {
    const now = this.#clock.now();
    let unfinishedMs = 0;
    let longestMs = 0;
    for (const startedAt of this.#startedAt.values()) {
      unfinishedMs += now - startedAt;
      longestMs = Math.max(longestMs, now - startedAt);
    }
    return { unfinishedMs, longestMs };
  }

  #armTimer(): void {
    const next = this.#heap[0];
    if (next === undefined) {
      this.#disarmTimer();
      return;
    }
    if (this.#timerAt === next.readyAt) return;
    this.#disarmTimer();
    this.#timerAt = next.readyAt;
    this.#timer = clampedTimeout(
      this.#clock,
      () => this.#fireDue(),
      Math.max(0, next.readyAt - this.#clock.now()),
    );
  }

  #disarmTimer(): void {
    if (this.#timerAt === undefined) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = undefined;
  }

  #fireDue(): void {
    this.#timer = undefined;
    this.#timerAt = undefined;
    const now = this.#clock.now();
    for (let next = this.#heap[0]; next !== undefined && next.readyAt <= now; next = this.#heap[0]) {
      this.#popMin();
      this.add(next.key);
    }
    this.#armTimer();
  }

  #popMin(): void {
    const last = this.#heap.pop() as Delayed;
    const first = this.#heap[0];
    if (first === undefined) {
      this.#heapIndex.delete(last.key);
      return;
    }
    this.#heapIndex.delete(first.key);
    this.#heap[0] = last;
    this.#heapIndex.set(last.key, 0);
    this.#siftDown(0);
  }

  #siftUp(index: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#at(parent).readyAt <= this.#at(i).readyAt) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(index: number): void {
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < this.#heap.length && this.#at(left).readyAt < this.#at(smallest).readyAt) smallest = left;
      if (right < this.#heap.length && this.#at(right).readyAt < this.#at(smallest).readyAt) smallest = right;
      if (smallest === i) return;
      this.#swap(i, smallest);
      i = smallest;
    }
  }

  #at(i: number): Delayed {
    return this.#heap[i] as Delayed;
  }

  #swap(i: number, j: number): void {
    const a = this.#at(i);
    const b = this.#at(j);
    this.#heap[i] = b;
    this.#heap[j] = a;
    this.#heapIndex.set(b.key, i);
    this.#heapIndex.set(a.key, j);
  }
}

/**
 * Resolves once `queue` is idle or shut down, or after `timeoutMs` on `timers`, whichever comes
 * first; at once when it is idle already. Event-driven: while it waits, one timer (the timeout) is
 * armed and nothing polls.
 */
export function untilIdle(queue: WorkQueue, timers: TimerSource, timeoutMs: number): Promise<void> {
  if (queue.shuttingDown || queue.idle) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      off();
      timeout.cancel();
      resolve();
    };
    const off = queue.onIdle(finish);
    const timeout = clampedTimeout(timers, finish, timeoutMs);
  });
}

export interface ReconcileResult {
  /** Reconcile this key again after this long (renewals, window boundaries). */
  requeueAfterMs?: number;
}

export type ReconcileOutcome = "success" | "error" | "requeue";

export interface RunWorkersOptions {
  queue: WorkQueue;
  /** How many keys are reconciled at once; each key is only ever reconciled by one worker. */
  concurrency: number;
  // biome-ignore lint/suspicious/noConfusingVoidType: lets reconcilers be `async (key) => { ... }` without a final return.
  reconcile: (key: string) => Promise<ReconcileResult | void>;
  /** Called after each reconcile, for metrics. */
  onResult?: (key: string, outcome: ReconcileOutcome, durationMs: number) => void;
  /** Called with the error of a failed reconcile (it is retried with backoff), for logs and events. */
  onError?: (key: string, error: unknown) => void;
  /** Measures durations; defaults to the monotonic `performance.now()`. */
  now?: () => number;
}

/**
 * Runs `concurrency` workers that take keys from the queue and reconcile them: an error retries the key
 * with backoff, a success resets its backoff and honours `requeueAfterMs`. Resolves when the queue has
 * been shut down and every worker has finished its current key.
 */
export async function runWorkers(options: RunWorkersOptions): Promise<void> {
  const { queue, reconcile, onResult, onError } = options;
  const now = options.now ?? (() => performance.now());
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new Error(`runWorkers needs a positive integer concurrency, got ${options.concurrency}`);
  }

  const worker = async (): Promise<void> => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      const started = now();
      let outcome: ReconcileOutcome;
      try {
        const result = await reconcile(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) {
          queue.addAfter(key, result.requeueAfterMs);
          outcome = "requeue";
        } else {
          outcome = "success";
        }
      } catch (error) {
        queue.addRateLimited(key);
        outcome = "error";
        onError?.(key, error);
      } finally {
        queue.done(key);
      }
      onResult?.(key, outcome, now() - started);
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, worker));
}
