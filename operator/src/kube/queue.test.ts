import { describe, expect, it } from "vitest";
import { FakeClock, settle } from "../../../testing/fake-clock.ts";
import { MAX_TIMEOUT_MS } from "./clock.ts";
import {
  type ReconcileOutcome,
  runWorkers,
  untilIdle,
  type WorkInProgress,
  WorkQueue,
  type WorkQueueMetrics,
} from "./queue.ts";

const DAY = 86_400_000;

function newQueue(options: { baseDelayMs?: number; maxDelayMs?: number } = {}) {
  const clock = new FakeClock();
  return { clock, queue: new WorkQueue({ clock, ...options }) };
}

/** Takes every key that is ready without waiting. */
async function drainReady(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) keys.push((await queue.get()) as string);
  return keys;
}

function deferred<T = undefined>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("WorkQueue", () => {
  it("should queue a key at most once, keeping first-come order", async () => {
    const { queue } = newQueue();
    for (const key of ["ns/a", "ns/b", "ns/a", "ns/c", "ns/b"]) queue.add(key);
    expect(queue.len()).toBe(3);
    expect(await drainReady(queue)).toEqual(["ns/a", "ns/b", "ns/c"]);
  });

  it("should never hand a key being processed to a second worker", async () => {
    const { queue } = newQueue();
    queue.add("ns/a");
    expect(await queue.get()).toBe("ns/a");
    queue.add("ns/a");
    expect(queue.len()).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => {
      second = k;
    });
    await settle();
    expect(second).toBeUndefined();
    queue.done("ns/a");
    await settle();
    expect(second).toBe("ns/a");
  });

  it("should re-queue a key added during processing exactly once after done", async () => {
    const { queue } = newQueue();
    queue.add("ns/a");
    await queue.get();
    queue.add("ns/a");
    queue.add("ns/a");
    queue.add("ns/a");
    queue.done("ns/a");
    expect(await drainReady(queue)).toEqual(["ns/a"]);
  });

  it("should not re-queue a key that was not added again during processing", async () => {
    const { queue } = newQueue();
    queue.add("ns/a");
    await queue.get();
    queue.done("ns/a");
    expect(queue.len()).toBe(0);
  });

  it("should wake a waiting get as soon as a key is added", async () => {
    const { queue } = newQueue();
    const next = queue.get();
    queue.add("ns/a");
    expect(await next).toBe("ns/a");
  });

  it.each([
    { name: "a later delay does not postpone an earlier one", delays: [500, 1000], readyAt: 500 },
    { name: "an earlier delay replaces a later one", delays: [1000, 500], readyAt: 500 },
    { name: "equal delays keep one entry", delays: [700, 700], readyAt: 700 },
  ])("addAfter keeps the earliest time per key: $name", async ({ delays, readyAt }) => {
    const { clock, queue } = newQueue();
    for (const d of delays) queue.addAfter("ns/a", d);
    expect(queue.delayedLen()).toBe(1);
    await clock.advance(readyAt - 1);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(await drainReady(queue)).toEqual(["ns/a"]);
    queue.done("ns/a");
    await clock.advance(2000);
    expect(queue.len()).toBe(0);
  });

  it("should hand out delayed keys in the order their delays end, behind a single timer", async () => {
    const { clock, queue } = newQueue();
    queue.addAfter("ns/c", 300);
    queue.addAfter("ns/a", 100);
    queue.addAfter("ns/d", 400);
    queue.addAfter("ns/b", 200);
    expect(clock.pending()).toBe(1);
    const seen: string[] = [];
    for (const step of [100, 100, 100, 100]) {
      await clock.advance(step);
      seen.push(...(await drainReady(queue)));
      expect(clock.pending()).toBeLessThanOrEqual(1);
    }
    expect(seen).toEqual(["ns/a", "ns/b", "ns/c", "ns/d"]);
    expect(clock.pending()).toBe(0);
  });

  it("should add a key at once when the delay is zero or negative", () => {
    const { queue } = newQueue();
    queue.addAfter("ns/a", 0);
    queue.addAfter("ns/b", -5);
    expect(queue.len()).toBe(2);
    expect(queue.delayedLen()).toBe(0);
  });

  it.each([
    { name: "30 days", delay: 30 * DAY },
    { name: "just past the limit", delay: MAX_TIMEOUT_MS + 1 },
    { name: "three limits and a bit", delay: 3 * MAX_TIMEOUT_MS + 5 },
  ])("should wait out a delay beyond setTimeout's limit ($name), not fire it at once", async ({ delay }) => {
    const { clock, queue } = newQueue();
    queue.addAfter("ns/a", delay);
    await clock.advance(1);
    expect(queue.len()).toBe(0);
    await clock.advance(delay - 2);
    expect(queue.len()).toBe(0);
    expect(clock.pending()).toBe(1);
    await clock.advance(1);
    expect(await drainReady(queue)).toEqual(["ns/a"]);
    expect(clock.pending()).toBe(0);
  });

  it("should keep the earlier of two long delays, and let a short one overtake a long one", async () => {
    const { clock, queue } = newQueue();
    queue.addAfter("ns/a", 30 * DAY);
    queue.addAfter("ns/a", 40 * DAY);
    queue.addAfter("ns/b", 40 * DAY);
    queue.addAfter("ns/b", 1000);
    expect(clock.pending()).toBe(1);
    await clock.advance(1000);
    expect(await drainReady(queue)).toEqual(["ns/b"]);
    queue.done("ns/b");
    await clock.advance(30 * DAY - 1001);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(await drainReady(queue)).toEqual(["ns/a"]);
    queue.done("ns/a");
    await clock.advance(100 * DAY);
    expect(queue.len()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it("should never add a key after an infinite delay, nor let it postpone a finite one", async () => {
    const { clock, queue } = newQueue();
    queue.addAfter("ns/a", Number.POSITIVE_INFINITY);
    expect(queue.delayedLen()).toBe(0);
    expect(clock.pending()).toBe(0);
    queue.addAfter("ns/b", 500);
    queue.addAfter("ns/b", Number.POSITIVE_INFINITY);
    await clock.advance(500);
    expect(await drainReady(queue)).toEqual(["ns/b"]);
    await clock.advance(1000 * DAY);
    expect(queue.len()).toBe(0);
  });

  it("should refuse a NaN delay and leave the queue as it was", () => {
    const { clock, queue } = newQueue();
    queue.addAfter("ns/a", 100);
    expect(() => queue.addAfter("ns/a", Number.NaN)).toThrow(RangeError);
    expect(() => queue.addAfter("ns/b", Number.NaN)).toThrow(/ns\/b/);
    expect([queue.len(), queue.delayedLen(), clock.pending()]).toEqual([0, 1, 1]);
  });

  it("should drop a long delay and its timer at shutdown", async () => {
    const { clock, queue } = newQueue();
    queue.addAfter("ns/a", 60 * DAY);
    await clock.advance(MAX_TIMEOUT_MS + 1);
    queue.shutDown();
    expect(clock.pending()).toBe(0);
    await clock.advance(60 * DAY);
    expect(queue.len()).toBe(0);
  });

  it("should de-duplicate a delayed key that is already queued when its delay ends", async () => {
    const { clock, queue } = newQueue();
    queue.addAfter("ns/a", 100);
    queue.add("ns/a");
    await clock.advance(100);
    expect(await drainReady(queue)).toEqual(["ns/a"]);
  });

  it.each([
    { failures: 0, delay: 100 },
    { failures: 1, delay: 200 },
    { failures: 2, delay: 400 },
    { failures: 8, delay: 25_600 },
    { failures: 9, delay: 30_000 },
    { failures: 60, delay: 30_000 },
    { failures: 5000, delay: 30_000 },
  ])("should back off $delay ms after $failures earlier failures", ({ failures, delay }) => {
    expect(newQueue().queue.backoffDelay(failures)).toBe(delay);
  });

  it("should honour a configured base and cap", () => {
    const { queue } = newQueue({ baseDelayMs: 5, maxDelayMs: 12 });
    expect([0, 1, 2, 3].map((f) => queue.backoffDelay(f))).toEqual([5, 10, 12, 12]);
  });

  it("should refuse a cap below the base", () => {
    expect(() => new WorkQueue({ baseDelayMs: 100, maxDelayMs: 50 })).toThrow(/baseDelayMs <= maxDelayMs/);
  });

  it("should grow a key's backoff with each rate-limited add until forget resets it", async () => {
    const { clock, queue } = newQueue();
    const arrivals: number[] = [];
    const start = clock.now();
    for (let i = 0; i < 4; i++) {
      queue.addRateLimited("ns/a");
      while (queue.len() === 0) await clock.advance(10);
      arrivals.push(clock.now() - start);
      await queue.get();
      queue.done("ns/a");
    }
    // Each wait is measured from the previous arrival: 100, then 200, 400, 800.
    expect(arrivals).toEqual([100, 300, 700, 1500]);
    expect(queue.numRequeues("ns/a")).toBe(4);

    queue.forget("ns/a");
    expect(queue.numRequeues("ns/a")).toBe(0);
    queue.addRateLimited("ns/a");
    await clock.advance(99);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
  });

  it("should keep backoff per key", async () => {
    const { clock, queue } = newQueue();
    queue.addRateLimited("ns/a");
    queue.addRateLimited("ns/a");
    queue.addRateLimited("ns/b");
    await clock.advance(100);
    expect(await drainReady(queue)).toEqual(["ns/a", "ns/b"]);
    expect([queue.numRequeues("ns/a"), queue.numRequeues("ns/b")]).toEqual([2, 1]);
  });

  it("should resolve waiting gets with undefined, drop pending keys and ignore adds once shut down", async () => {
    const { clock, queue } = newQueue();
    const waiting = queue.get();
    queue.shutDown();
    expect(await waiting).toBeUndefined();

    const other = newQueue();
    other.queue.add("ns/a");
    other.queue.addAfter("ns/b", 100);
    other.queue.shutDown();
    other.queue.add("ns/c");
    await other.clock.advance(1000);
    expect(other.queue.len()).toBe(0);
    expect(await other.queue.get()).toBeUndefined();
    expect(other.clock.pending()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it("should finish draining only when the keys being processed are done", async () => {
    const { queue } = newQueue();
    queue.add("ns/a");
    queue.add("ns/b");
    await queue.get();
    let drained = false;
    const drain = queue.shutDownWithDrain().then(() => {
      drained = true;
    });
    queue.add("ns/a");
    await settle();
    expect(drained).toBe(false);
    queue.done("ns/a");
    await drain;
    expect(drained).toBe(true);
    expect(queue.len()).toBe(0);
  });
});

describe("WorkQueue idle", () => {
  it("should call an idle listener once, when the last key being processed is done with nothing ready", async () => {
    const { queue } = newQueue();
    queue.add("a");
    queue.add("b");
    const calls: string[] = [];
    queue.onIdle(() => calls.push("idle"));
    const a = (await queue.get()) as string;
    const b = (await queue.get()) as string;
    expect(queue.idle).toBe(false);
    queue.done(a);
    expect(calls).toEqual([]);
    queue.done(b);
    expect(calls).toEqual(["idle"]);
    expect(queue.idle).toBe(true);
    queue.add("c");
    queue.done((await queue.get()) as string);
    expect(calls).toEqual(["idle"]);
  });

  it("should not count delayed keys as work in flight", async () => {
    const { queue } = newQueue();
    queue.addAfter("later", 1_000);
    expect(queue.idle).toBe(true);
    queue.add("now");
    const calls: number[] = [];
    queue.onIdle(() => calls.push(1));
    queue.done((await queue.get()) as string);
    expect(calls).toEqual([1]);
  });

  it("should call idle listeners on shutdown and not after their cancel", async () => {
    const { queue } = newQueue();
    queue.add("a");
    await queue.get();
    const calls: string[] = [];
    const off = queue.onIdle(() => calls.push("cancelled"));
    queue.onIdle(() => calls.push("kept"));
    off();
    queue.shutDown();
    expect(calls).toEqual(["kept"]);
  });

  it("should resolve untilIdle on the drain, or at its timeout, leaving no listener or timer behind", async () => {
    const { clock, queue } = newQueue();
    queue.add("a");
    await queue.get();
    let first = false;
    void untilIdle(queue, clock, 500).then(() => {
      first = true;
    });
    await clock.advance(499);
    expect(first).toBe(false);
    await clock.advance(1);
    expect(first).toBe(true);

    let second = false;
    void untilIdle(queue, clock, 500).then(() => {
      second = true;
    });
    expect(clock.pending()).toBe(1);
    queue.done("a");
    await settle();
    expect(second).toBe(true);
    expect(clock.pending()).toBe(0);
  });
});

describe("runWorkers", () => {
  it("should never run more reconciles at once than its concurrency, nor one key twice at once", async () => {
    const { queue } = newQueue();
    const gates = new Map<string, ReturnType<typeof deferred<undefined>>>();
    let running = 0;
    let maxRunning = 0;
    const runningKeys = new Set<string>();
    let overlap = false;
    const reconciled: string[] = [];
    const workers = runWorkers({
      queue,
      concurrency: 3,
      reconcile: async (key) => {
        if (runningKeys.has(key)) overlap = true;
        runningKeys.add(key);
        running++;
        maxRunning = Math.max(maxRunning, running);
        const gate = deferred();
        gates.set(key, gate);
        await gate.promise;
        running--;
        runningKeys.delete(key);
        reconciled.push(key);
      },
    });
    for (let i = 0; i < 10; i++) queue.add(`ns/k${i}`);
    await settle();
    expect(running).toBe(3);
    // Adding a key that is being reconciled must not start a second reconcile of it.
    queue.add("ns/k0");
    while (reconciled.length < 11) {
      for (const [key, gate] of [...gates]) {
        gates.delete(key);
        gate.resolve(undefined);
      }
      await settle();
    }
    queue.shutDown();
    await workers;
    expect(maxRunning).toBe(3);
    expect(overlap).toBe(false);
    expect(reconciled.filter((k) => k === "ns/k0")).toHaveLength(2);
  });

  it("should retry an error with backoff, forget it on success, and requeue when asked", async () => {
    const { clock, queue } = newQueue();
    const script: Record<string, ("fail" | "ok" | number)[]> = {
      "ns/flaky": ["fail", "fail", "ok"],
      "ns/timer": [5_000, "ok"],
    };
    const results: [string, ReconcileOutcome, number][] = [];
    const errors: string[] = [];
    const workers = runWorkers({
      queue,
      concurrency: 2,
      now: () => clock.now(),
      reconcile: async (key) => {
        const step = script[key]?.shift();
        if (step === "fail") throw new Error(`${key} failed`);
        if (typeof step === "number") return { requeueAfterMs: step };
        return undefined;
      },
      onResult: (key, outcome) => results.push([key, outcome, clock.now()]),
      onError: (key, error) => errors.push(`${key}: ${(error as Error).message}`),
    });
    const t0 = clock.now();
    queue.add("ns/flaky");
    queue.add("ns/timer");
    await clock.advance(10_000);
    queue.shutDown();
    await workers;
    expect(results.map(([k, o, t]) => [k, o, t - t0])).toEqual([
      ["ns/flaky", "error", 0],
      ["ns/timer", "requeue", 0],
      ["ns/flaky", "error", 100],
      ["ns/flaky", "success", 300],
      ["ns/timer", "success", 5_000],
    ]);
    expect(errors).toEqual(["ns/flaky: ns/flaky failed", "ns/flaky: ns/flaky failed"]);
    expect(queue.numRequeues("ns/flaky")).toBe(0);
  });

  it("should requeue after a requeueAfterMs beyond setTimeout's limit, when it falls due", async () => {
    const { clock, queue } = newQueue();
    const reconciledAt: number[] = [];
    const t0 = clock.now();
    const workers = runWorkers({
      queue,
      concurrency: 1,
      reconcile: async () => {
        reconciledAt.push(clock.now() - t0);
        return reconciledAt.length === 1 ? { requeueAfterMs: 40 * DAY } : undefined;
      },
    });
    queue.add("ns/a");
    await clock.advance(40 * DAY - 1);
    expect(reconciledAt).toEqual([0]);
    await clock.advance(1);
    expect(reconciledAt).toEqual([0, 40 * DAY]);
    queue.shutDown();
    await workers;
  });

  it("should report a NaN requeueAfterMs as an error and retry the key with backoff", async () => {
    const { clock, queue } = newQueue();
    const outcomes: ReconcileOutcome[] = [];
    const errors: unknown[] = [];
    let calls = 0;
    const workers = runWorkers({
      queue,
      concurrency: 1,
      reconcile: async () => (++calls === 1 ? { requeueAfterMs: Number.NaN } : undefined),
      onResult: (_key, outcome) => outcomes.push(outcome),
      onError: (_key, error) => errors.push(error),
    });
    queue.add("ns/a");
    await clock.advance(100);
    queue.shutDown();
    await workers;
    expect(outcomes).toEqual(["error", "success"]);
    expect(errors[0]).toBeInstanceOf(RangeError);
  });

  it("should resolve only after shutdown and after the reconciles in flight have finished", async () => {
    const { queue } = newQueue();
    const gate = deferred();
    let finished = false;
    const workers = runWorkers({ queue, concurrency: 2, reconcile: () => gate.promise }).then(() => {
      finished = true;
    });
    queue.add("ns/a");
    await settle();
    queue.shutDown();
    await settle();
    expect(finished).toBe(false);
    gate.resolve(undefined);
    await workers;
    expect(finished).toBe(true);
  });

  it("should report the duration of each reconcile", async () => {
    const { clock, queue } = newQueue();
    const durations: number[] = [];
    const workers = runWorkers({
      queue,
      concurrency: 1,
      now: () => clock.now(),
      reconcile: () => new Promise((resolve) => clock.setTimeout(() => resolve(undefined), 250)),
      onResult: (_key, _outcome, ms) => durations.push(ms),
    });
    queue.add("ns/a");
    await clock.advance(1000);
    queue.shutDown();
    await workers;
    expect(durations).toEqual([250]);
  });

  it("should refuse a concurrency below one", async () => {
    const { queue } = newQueue();
    await expect(runWorkers({ queue, concurrency: 0, reconcile: async () => undefined })).rejects.toThrow(
      /positive integer concurrency/,
    );
  });
});

/** Records what a queue tells its metrics sink. */
function recordingMetrics() {
  const calls: string[] = [];
  let read: (() => WorkInProgress) | undefined;
  let depth = Number.NaN;
  const sink: WorkQueueMetrics = {
    depth: (keys) => {
      depth = keys;
    },
    added: () => calls.push("added"),
    started: (ms) => calls.push(`started after ${ms}`),
    finished: (ms) => calls.push(`finished after ${ms}`),
    retried: () => calls.push("retried"),
    inProgress: (r) => {
      read = r;
    },
  };
  const names: string[] = [];
  return {
    provider: {
      workQueue: (name: string) => {
        names.push(name);
        return sink;
      },
    },
    names,
    calls,
    depth: () => depth,
    inProgress: () => read?.(),
  };
}

describe("WorkQueue metrics", () => {
  it("should need a name to record metrics under", () => {
    const { provider } = recordingMetrics();
    expect(() => new WorkQueue({ metrics: provider })).toThrow(/needs a name/);
  });

  it("should report adds, waits, work, retries, depth and the work in progress on its clock", async () => {
    const clock = new FakeClock();
    const m = recordingMetrics();
    const queue = new WorkQueue({ clock, name: "things", metrics: m.provider });
    expect(m.names).toEqual(["things"]);
    expect(m.depth()).toBe(0);

    queue.add("ns/a");
    queue.add("ns/a"); // a duplicate: neither added nor deeper
    queue.add("ns/b");
    expect(m.depth()).toBe(2);
    await clock.advance(30);
    await queue.get(); // ns/a, after 30 ms
    expect(m.depth()).toBe(1);
    await clock.advance(20);
    await queue.get(); // ns/b, after 50 ms
    expect(m.inProgress()).toEqual({ unfinishedMs: 20 + 0, longestMs: 20 });
    await clock.advance(10);
    expect(m.inProgress()).toEqual({ unfinishedMs: 30 + 10, longestMs: 30 });

    queue.add("ns/a"); // while it is processed: waiting again, so counted in the depth
    expect(m.depth()).toBe(1);
    queue.done("ns/b"); // after 10 ms
    await clock.advance(5);
    queue.done("ns/a"); // after 35 ms, then handed out again
    expect(m.depth()).toBe(1);
    await queue.get(); // ns/a, 5 ms after its add
    expect(m.depth()).toBe(0);
    queue.addRateLimited("ns/a"); // still processed: waits for the backoff, then for done
    queue.done("ns/a");
    queue.addAfter("ns/c", 1000);
    expect(m.depth()).toBe(0);
    await clock.advance(1000);
    expect(m.depth()).toBe(2);
    expect(m.inProgress()).toEqual({ unfinishedMs: 0, longestMs: 0 });
    queue.shutDown();
    expect(m.depth()).toBe(0);

    expect(m.calls).toEqual([
      "added",
      "added",
      "started after 30",
      "started after 50",
      "added",
      "finished after 10",
      "finished after 35",
      "started after 5",
      "retried",
      "finished after 0",
      "added",
      "added",
    ]);
  });
});
