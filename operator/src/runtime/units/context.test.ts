import { describe, expect, it } from "vitest";
import { FakeClock, settle } from "../../../../testing/fake-clock.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { pause, retryUntil } from "./context.ts";

const log = createLogger({ level: "silent" });

describe("pause", () => {
  it("should wait on the clock it is given, and only that long", async () => {
    const clock = new FakeClock();
    let done = false;
    void pause(1_000, new AbortController().signal, clock).then(() => {
      done = true;
    });
    await clock.advance(999);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
    expect(clock.pending()).toBe(0);
  });

  it("should reject with the abort reason and leave no timer behind", async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    const waiting = pause(60_000, abort.signal, clock);
    abort.abort(new Error("stopped"));
    await expect(waiting).rejects.toThrow("stopped");
    expect(clock.pending()).toBe(0);
  });

  it("should hold a delay past setTimeout's limit instead of firing it at once", async () => {
    const clock = new FakeClock();
    let done = false;
    void pause(30 * 86_400_000, new AbortController().signal, clock).then(() => {
      done = true;
    });
    await clock.advance(25 * 86_400_000);
    expect(done).toBe(false);
    await clock.advance(5 * 86_400_000);
    expect(done).toBe(true);
  });
});

describe("retryUntil", () => {
  it("should back off from 0.5 s, doubling up to 30 s, on the clock it is given", async () => {
    const clock = new FakeClock();
    let calls = 0;
    const result = retryUntil(
      async () => {
        calls++;
        if (calls < 9) throw new Error("not yet");
        return "ready";
      },
      new AbortController().signal,
      log,
      "thing",
      // The top of each jitter range: waits of 0.5, 1, 2, 4, 8, 16, 30, 30 s.
      { timers: clock, random: () => 1 },
    );
    const waits = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    for (const [i, wait] of waits.entries()) {
      await settle();
      expect(calls).toBe(i + 1);
      await clock.advance(wait - 1);
      expect(calls).toBe(i + 1);
      await clock.advance(1);
    }
    await expect(result).resolves.toBe("ready");
    expect(calls).toBe(9);
  });

  it("should give up when the signal aborts while it waits", async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    const result = retryUntil(
      async () => {
        throw new Error("never");
      },
      abort.signal,
      log,
      "thing",
      { timers: clock },
    );
    await settle();
    abort.abort(new Error("lost the lease"));
    await expect(result).rejects.toThrow("lost the lease");
    expect(clock.pending()).toBe(0);
  });
});
