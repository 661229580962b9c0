import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeClock, settle } from "../../../testing/fake-clock.ts";
import { WorkQueue } from "../kube/queue.ts";
import { accessSettled } from "./access-controllers.ts";

/** Starts a key the way a worker does, so the queue has work in flight. */
async function startWork(queue: WorkQueue, key: string): Promise<void> {
  queue.add(key);
  expect(await queue.get()).toBe(key);
}

function tracked(promise: Promise<void>): { done: () => boolean } {
  let resolved = false;
  void promise.then(() => {
    resolved = true;
  });
  return { done: () => resolved };
}

describe("accessSettled", () => {
  afterEach(() => vi.restoreAllMocks());

  it("should let a status write go at once when no NetworkPolicy write is queued or running", async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const wait = tracked(accessSettled(queue, clock)());
    await settle();
    expect(wait.done()).toBe(true);
    expect(clock.pending()).toBe(0);
  });

  it("should hold a status write until the NetworkPolicy writes drain, and release it on the drain", async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    await startWork(queue, "shop");
    queue.add("finance");
    const wait = tracked(accessSettled(queue, clock)());
    await settle();
    expect(wait.done()).toBe(false);

    queue.done("shop");
    expect(await queue.get()).toBe("finance");
    await settle();
    expect(wait.done()).toBe(false);

    // No time passes on any clock: the drain itself releases the write.
    queue.done("finance");
    await settle();
    expect(wait.done()).toBe(true);
    expect(clock.pending()).toBe(0);
  });

  it("should not count a key added again while it is processed as drained", async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    await startWork(queue, "shop");
    const wait = tracked(accessSettled(queue, clock)());
    queue.add("shop");
    queue.done("shop");
    await settle();
    expect(wait.done()).toBe(false);
    expect(await queue.get()).toBe("shop");
    queue.done("shop");
    await settle();
    expect(wait.done()).toBe(true);
  });

  it("should wait on one timer of the injected clock and never poll while it waits", async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    await startWork(queue, "shop");
    const systemTimers = vi.spyOn(globalThis, "setTimeout");
    const wait = tracked(accessSettled(queue, clock, 2_000)());
    for (let turn = 0; turn < 20; turn++) await settle();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(systemTimers).not.toHaveBeenCalled();
    expect(clock.pending()).toBe(1);
    expect(wait.done()).toBe(false);
  });

  it("should give up holding after the hold time of the injected clock when the writes never drain", async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    await startWork(queue, "shop");
    const wait = tracked(accessSettled(queue, clock, 2_000)());
    await clock.advance(1_999);
    expect(wait.done()).toBe(false);
    await clock.advance(1);
    expect(wait.done()).toBe(true);
    expect(clock.pending()).toBe(0);
  });

  it("should release a waiting status write when the queue shuts down", async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    await startWork(queue, "shop");
    const wait = tracked(accessSettled(queue, clock)());
    queue.shutDown();
    await settle();
    expect(wait.done()).toBe(true);
    expect(clock.pending()).toBe(0);
  });
});
