import type { V1Lease, V1LeaseSpec } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { FakeClock, settle } from "../../../testing/fake-clock.ts";
import {
  LeaderElector,
  type LeaderElectorOptions,
  type LeaseClient,
  leaseExpired,
  microTime,
} from "./leader.ts";

/** client-node types MicroTimes as Date, but reads hand back the server's strings. */
type WireLeaseSpec = Omit<V1LeaseSpec, "acquireTime" | "renewTime"> & {
  acquireTime?: string;
  renewTime?: string;
};

const conflict = () => Object.assign(new Error("Conflict"), { code: 409 });

/**
 * A Lease with the API server's write rules: create fails when it exists, replace fails unless the
 * resourceVersion matches, and values travel as JSON (so MicroTimes come back as strings).
 */
class MemoryLease implements LeaseClient {
  stored: V1Lease | undefined;
  #rv = 0;
  down = false;
  /** The JSON bodies written, in order. */
  readonly written: string[] = [];

  async get(): Promise<V1Lease | undefined> {
    if (this.down) throw new Error("connect ECONNREFUSED");
    return this.stored && structuredClone(this.stored);
  }

  async create(lease: V1Lease): Promise<V1Lease> {
    if (this.down) throw new Error("connect ECONNREFUSED");
    if (this.stored) throw conflict();
    return this.#store(lease);
  }

  async replace(lease: V1Lease): Promise<V1Lease> {
    if (this.down) throw new Error("connect ECONNREFUSED");
    if (lease.metadata?.resourceVersion !== this.stored?.metadata?.resourceVersion) throw conflict();
    return this.#store(lease);
  }

  /** Another party writes the Lease directly, with times as the server sends them. */
  put(spec: WireLeaseSpec): void {
    this.#store({ metadata: { name: "lease", namespace: "ns" }, spec: spec as V1LeaseSpec });
  }

  #store(lease: V1Lease): V1Lease {
    const json = JSON.stringify(lease);
    this.written.push(json);
    const parsed = JSON.parse(json) as V1Lease;
    parsed.metadata = { ...parsed.metadata, resourceVersion: String(++this.#rv) };
    this.stored = parsed;
    return structuredClone(parsed);
  }
}

const timings = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 };

function candidate(
  identity: string,
  lease: MemoryLease,
  clock: FakeClock,
  extra: Partial<LeaderElectorOptions> = {},
) {
  const log: string[] = [];
  let signal: AbortSignal | undefined;
  const elector = new LeaderElector({
    namespace: "ns",
    name: "lease",
    identity,
    ...timings,
    clock,
    random: () => 0,
    leaseClient: lease,
    onStartedLeading: (s) => {
      signal = s;
      log.push(`started@${clock.now()}`);
    },
    onStoppedLeading: () => {
      log.push(`stopped@${clock.now()}`);
    },
    ...extra,
  });
  let ended = false;
  const run = () => {
    void elector.run().then(() => {
      ended = true;
    });
  };
  return { elector, log, run, signal: () => signal, ended: () => ended };
}

const T0 = Date.parse("2026-01-01T00:00:00Z");

describe("LeaderElector", () => {
  it("should create an absent Lease and lead, stamping MicroTimes with six fractional digits", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    const a = candidate("a", lease, clock);
    a.run();
    await clock.advance(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual([`started@${T0}`]);
    expect(lease.stored?.spec).toEqual({
      holderIdentity: "a",
      leaseDurationSeconds: 2,
      acquireTime: "2026-01-01T00:00:00.000000Z",
      renewTime: "2026-01-01T00:00:00.000000Z",
      leaseTransitions: 0,
    });
    expect(lease.written[0]).toContain('"renewTime":"2026-01-01T00:00:00.000000Z"');
  });

  it("should renew every retry period, keeping acquireTime and the transition count", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    const a = candidate("a", lease, clock);
    a.run();
    await clock.advance(0);
    const renewals: string[] = [];
    for (let i = 0; i < 3; i++) {
      await clock.advance(300);
      renewals.push(String(lease.stored?.spec?.renewTime));
      expect(lease.stored?.spec?.acquireTime).toBe("2026-01-01T00:00:00.000000Z");
      expect(lease.stored?.spec?.leaseTransitions).toBe(0);
    }
    expect(renewals).toEqual([
      "2026-01-01T00:00:00.300000Z",
      "2026-01-01T00:00:00.600000Z",
      "2026-01-01T00:00:00.900000Z",
    ]);
    expect(a.elector.isLeader()).toBe(true);
  });

  it("should never take a Lease whose holder keeps renewing it", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    lease.put({ holderIdentity: "other", leaseDurationSeconds: 2, renewTime: "2000-01-01T00:00:00.000000Z" });
    const a = candidate("a", lease, clock);
    a.run();
    for (let t = 0; t < 10_000; t += 500) {
      await clock.advance(500);
      lease.put({ holderIdentity: "other", leaseDurationSeconds: 2, renewTime: microTime(new Date(t)) });
      expect(a.elector.isLeader()).toBe(false);
    }
    expect(a.log).toEqual([]);
  });

  it.each([
    { name: "a renewTime long past", renewTime: "2000-01-01T00:00:00.000000Z" },
    { name: "a renewTime in the future (a clock ahead of ours)", renewTime: "2030-01-01T00:00:00.000000Z" },
  ])(
    "should take an abandoned Lease a full lease duration after first seeing it, with $name",
    async ({ renewTime }) => {
      const clock = new FakeClock(T0);
      const lease = new MemoryLease();
      lease.put({ holderIdentity: "gone", leaseDurationSeconds: 2, renewTime, leaseTransitions: 4 });
      const a = candidate("a", lease, clock);
      a.run();
      await clock.advance(1_999);
      expect(a.elector.isLeader()).toBe(false);
      await clock.advance(301);
      expect(a.elector.isLeader()).toBe(true);
      expect(a.log).toEqual([`started@${T0 + 2_100}`]);
      expect(lease.stored?.spec).toMatchObject({
        holderIdentity: "a",
        leaseTransitions: 5,
        acquireTime: "2026-01-01T00:00:02.100000Z",
      });
    },
  );

  it("should take a released Lease at its first attempt", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    lease.put({ leaseDurationSeconds: 1, renewTime: "2026-01-01T00:00:00.000000Z", leaseTransitions: 2 });
    const a = candidate("a", lease, clock);
    a.run();
    await clock.advance(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(lease.stored?.spec?.leaseTransitions).toBe(3);
  });

  it("should take back at once a Lease it holds itself, as after a restart", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    lease.put({
      holderIdentity: "a",
      leaseDurationSeconds: 2,
      acquireTime: "2025-12-31T23:00:00.000000Z",
      renewTime: "2025-12-31T23:59:59.000000Z",
      leaseTransitions: 7,
    });
    const a = candidate("a", lease, clock);
    a.run();
    await clock.advance(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(lease.stored?.spec).toMatchObject({
      acquireTime: "2025-12-31T23:00:00.000000Z",
      leaseTransitions: 7,
    });
  });

  it("should let exactly one of two candidates lead", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    const a = candidate("a", lease, clock);
    const b = candidate("b", lease, clock);
    a.run();
    b.run();
    for (let i = 0; i < 40; i++) {
      await clock.advance(100);
      expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    }
    expect(a.log.length + b.log.length).toBe(1);
  });

  it("should give up leadership exactly at the renew deadline when renewals fail, then compete again", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    const errors: unknown[] = [];
    const a = candidate("a", lease, clock, { onError: (e) => errors.push(e) });
    a.run();
    await clock.advance(0);
    await clock.advance(300);
    // The last successful renewal was sent at T0 + 300; from now on every call fails.
    lease.down = true;
    await clock.advance(1_499);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.signal()?.aborted).toBe(false);
    await clock.advance(1);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.signal()?.aborted).toBe(true);
    expect(a.log).toEqual([`started@${T0}`, `stopped@${T0 + 1_800}`]);
    expect(errors.length).toBeGreaterThanOrEqual(4);
    await clock.advance(10_000);
    expect(a.log).toHaveLength(2);
    // The Lease still names this replica: once the API answers again, it takes it back at once.
    lease.down = false;
    await clock.advance(300);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toHaveLength(3);
    expect(a.signal()?.aborted).toBe(false);
    expect(a.ended()).toBe(false);
  });

  it("should give up leadership at once when it finds another holder in the Lease", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    const a = candidate("a", lease, clock);
    a.run();
    await clock.advance(0);
    lease.put({
      holderIdentity: "usurper",
      leaseDurationSeconds: 15,
      renewTime: "2026-01-01T00:00:00.000000Z",
    });
    await clock.advance(300);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toEqual([`started@${T0}`, `stopped@${T0 + 300}`]);
    expect(lease.stored?.spec?.holderIdentity).toBe("usurper");
    // It keeps competing, and takes over once the usurper lets its 15 s Lease expire.
    await clock.advance(14_600);
    expect(a.elector.isLeader()).toBe(false);
    await clock.advance(400);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.ended()).toBe(false);
  });

  it("should release the Lease on stop so that a waiting candidate leads at its next attempt", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    const a = candidate("a", lease, clock);
    const b = candidate("b", lease, clock);
    a.run();
    await clock.advance(0);
    b.run();
    await clock.advance(1_000);
    await a.elector.stop();
    expect(a.log).toEqual([`started@${T0}`, `stopped@${T0 + 1_000}`]);
    expect(lease.stored?.spec?.holderIdentity).toBeUndefined();
    expect(lease.stored?.spec?.leaseDurationSeconds).toBe(1);
    await clock.advance(300);
    expect(b.elector.isLeader()).toBe(true);
    expect(lease.stored?.spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
  });

  it("should leave the Lease to expire when stopped without release", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    const a = candidate("a", lease, clock);
    const b = candidate("b", lease, clock);
    a.run();
    await clock.advance(0);
    b.run();
    await clock.advance(1_000);
    await a.elector.stop({ release: false });
    expect(lease.stored?.spec?.holderIdentity).toBe("a");
    // b last saw the Lease change at T0 + 900 (a's renewal); it may take it from T0 + 2_900 on.
    await clock.advance(1_800);
    expect(b.elector.isLeader()).toBe(false);
    await clock.advance(300);
    expect(b.elector.isLeader()).toBe(true);
  });

  it("should wait for a renewal in flight before releasing, so the release is not lost to a 409", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    let holdReplace: (() => void) | undefined;
    const slow: LeaseClient = {
      get: () => lease.get(),
      create: (l) => lease.create(l),
      // The server applies the renewal at once; only its answer is slow.
      replace: async (l) => {
        const renewing = l.spec?.holderIdentity === "a" && lease.stored?.spec?.holderIdentity === "a";
        const written = await lease.replace(l);
        if (renewing) {
          await new Promise<void>((resolve) => {
            holdReplace = resolve;
          });
        }
        return written;
      },
    };
    const a = candidate("a", lease, clock, { leaseClient: slow });
    a.run();
    await clock.advance(300);
    expect(holdReplace).toBeDefined();
    const stopped = a.elector.stop();
    await settle();
    holdReplace?.();
    await stopped;
    expect(lease.stored?.spec?.holderIdentity).toBeUndefined();
  });

  it("should stop reporting leadership at the renew deadline even when its timers run late", async () => {
    const fake = new FakeClock(T0);
    let lagMs = 0;
    const lagging = {
      now: () => fake.now() + lagMs,
      setTimeout: (cb: () => void, ms: number) => fake.setTimeout(cb, ms),
      clearTimeout: (h: unknown) => fake.clearTimeout(h),
    };
    const a = candidate("a", new MemoryLease(), fake, { clock: lagging });
    a.run();
    await fake.advance(0);
    expect(a.elector.isLeader()).toBe(true);
    lagMs = 1_499;
    expect(a.elector.isLeader()).toBe(true);
    lagMs = 1_500;
    expect(a.elector.isLeader()).toBe(false);
  });

  it("should release the Lease only after onStoppedLeading has finished", async () => {
    const clock = new FakeClock(T0);
    const lease = new MemoryLease();
    let finishStopping!: () => void;
    const a = candidate("a", lease, clock, {
      onStoppedLeading: () =>
        new Promise<void>((resolve) => {
          finishStopping = resolve;
        }),
    });
    a.run();
    await clock.advance(0);
    const stopped = a.elector.stop();
    await settle();
    expect(lease.stored?.spec?.holderIdentity).toBe("a");
    expect(a.ended()).toBe(false);
    finishStopping();
    await stopped;
    await settle();
    expect(lease.stored?.spec?.holderIdentity).toBeUndefined();
    expect(a.ended()).toBe(true);
  });

  it("should refuse to run again once stopped", async () => {
    const clock = new FakeClock(T0);
    const a = candidate("a", new MemoryLease(), clock);
    await a.elector.stop();
    await expect(a.elector.run()).rejects.toThrow(/stopped/);
  });

  it.each([
    {
      name: "a renew deadline not below the lease duration",
      o: { leaseDurationMs: 2_000, renewDeadlineMs: 2_000 },
    },
    {
      name: "a retry period not below the renew deadline",
      o: { renewDeadlineMs: 1_000, retryPeriodMs: 1_000 },
    },
    { name: "a zero retry period", o: { retryPeriodMs: 0 } },
    { name: "an empty identity", o: { identity: "" } },
  ])("should refuse $name", ({ o }) => {
    expect(
      () =>
        new LeaderElector({
          namespace: "ns",
          name: "lease",
          identity: "a",
          leaseClient: new MemoryLease(),
          onStartedLeading: () => {},
          onStoppedLeading: () => {},
          ...o,
        }),
    ).toThrow(/leader election needs/);
  });
});

describe("leaseExpired", () => {
  it.each([
    {
      name: "is valid just before the duration has passed",
      observedAt: 0,
      seconds: 15,
      now: 14_999,
      expired: false,
    },
    {
      name: "has expired once the duration has passed",
      observedAt: 0,
      seconds: 15,
      now: 15_000,
      expired: true,
    },
    {
      name: "expires after one second when released",
      observedAt: 1_000,
      seconds: 1,
      now: 2_000,
      expired: true,
    },
    {
      name: "has expired at once without a duration",
      observedAt: 5_000,
      seconds: 0,
      now: 5_000,
      expired: true,
    },
  ])("a Lease $name", ({ observedAt, seconds, now, expired }) => {
    expect(leaseExpired(observedAt, seconds, now)).toBe(expired);
  });
});

describe("microTime", () => {
  it.each([
    { value: new Date("2026-03-04T05:06:07.089Z"), text: "2026-03-04T05:06:07.089000Z" },
    { value: "2026-03-04T05:06:07.123456Z", text: "2026-03-04T05:06:07.123456Z" },
  ])("should write $value as $text", ({ value, text }) => {
    expect(microTime(value)).toBe(text);
  });
});
