import { describe, expect, it } from "vitest";
import { SigningKeyReason, type SigningKeyTimes, signingKeyAt, signingKeyPlan } from "./rotation.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const start = Date.parse("2026-01-01T00:00:00Z");
const at = (ms: number) => new Date(start + ms);
const key = (kid: string, createdAt: number, signingFrom = createdAt): SigningKeyTimes => ({
  kid,
  createdAt: at(createdAt),
  signingFrom: at(signingFrom),
});

/** The key created at 0, signing at once; its successor published 15 min before day 1. */
const a = key("a", 0);
const b = key("b", DAY - 15 * MIN, DAY);
const c = key("c", 2 * DAY - 15 * MIN, 2 * DAY);

describe("signingKeyPlan", () => {
  const cases: {
    name: string;
    keys: SigningKeyTimes[];
    now: number;
    want: Partial<ReturnType<typeof signingKeyPlan>>;
  }[] = [
    {
      name: "should create a key that signs at once when there is none",
      keys: [],
      now: 0,
      want: {
        create: { signingFrom: at(0) },
        drop: [],
        signing: undefined,
        reason: SigningKeyReason.CreateFirst,
      },
    },
    {
      name: "should do nothing while the key is young, and look again when the next must be published",
      keys: [a],
      now: HOUR,
      want: { create: undefined, drop: [], signing: "a", reason: "Steady", nextCheck: at(DAY - 15 * MIN) },
    },
    {
      name: "should do nothing a millisecond before the next key is due to be published",
      keys: [a],
      now: DAY - 15 * MIN - 1,
      want: { create: undefined, signing: "a", nextCheck: at(DAY - 15 * MIN) },
    },
    {
      name: "should publish the next key publishAhead before the rotation, signing from the rotation",
      keys: [a],
      now: DAY - 15 * MIN,
      want: { create: { signingFrom: at(DAY) }, signing: "a", reason: "PublishNext", nextCheck: at(DAY) },
    },
    {
      name: "should give a late next key a full publishAhead before it signs (the operator was down)",
      keys: [a],
      now: DAY + 2 * HOUR,
      want: { create: { signingFrom: at(DAY + 2 * HOUR + 15 * MIN) }, signing: "a" },
    },
    {
      name: "should keep signing with the current key while the next one is published",
      keys: [a, b],
      now: DAY - MIN,
      want: { create: undefined, drop: [], signing: "a", reason: "AwaitingNext", nextCheck: at(DAY) },
    },
    {
      name: "should sign with the next key from its signingFrom, keeping the retired one published",
      keys: [a, b],
      now: DAY,
      want: {
        create: undefined,
        drop: [],
        signing: "b",
        reason: "Steady",
        nextCheck: at(DAY + HOUR + 5 * MIN),
      },
    },
    {
      name: "should keep the retired key until its last token plus the longest ttl and skew has passed",
      keys: [a, b],
      now: DAY + HOUR + 5 * MIN - 1,
      want: { drop: [], signing: "b" },
    },
    {
      name: "should drop the retired key once every token it signed has expired",
      keys: [a, b],
      now: DAY + HOUR + 5 * MIN,
      want: { drop: ["a"], signing: "b", reason: "DropRetired", nextCheck: at(2 * DAY - 15 * MIN) },
    },
    {
      name: "should drop a long retired key and publish the next at once after a long downtime",
      keys: [a, b],
      now: 3 * DAY,
      want: { drop: ["a"], create: { signingFrom: at(3 * DAY + 15 * MIN) }, signing: "b" },
    },
    {
      name: "should keep every key whose tokens may live: two retired, one signing",
      keys: [a, b, c],
      now: 2 * DAY + MIN,
      want: { drop: ["a"], signing: "c" },
    },
    {
      name: "should create nothing while the only key has not started to sign",
      keys: [b],
      now: DAY - MIN,
      want: { create: undefined, signing: undefined, reason: "AwaitingNext", nextCheck: at(DAY) },
    },
  ];

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
    expect(signingKeyPlan(c.keys, at(c.now))).toMatchObject(c.want);
  });

  it("should follow the schedule given: a rotation every minute, published 10 s ahead", () => {
    const schedule = { rotationPeriodMs: MIN, publishAheadMs: 10_000 };
    const first = key("x", 0);
    expect(signingKeyPlan([first], at(49_999), schedule).create).toBeUndefined();
    expect(signingKeyPlan([first], at(50_000), schedule).create).toEqual({ signingFrom: at(MIN) });
  });

  it("should, step by step over three days, always have a signing key and publish each key 15 min before it signs", () => {
    let keys: SigningKeyTimes[] = [];
    let n = 0;
    const published = new Map<string, number>();
    for (let t = 0; t <= 3 * DAY; t += MIN) {
      const plan = signingKeyPlan(keys, at(t));
      keys = keys.filter((k) => !plan.drop.includes(k.kid));
      if (plan.create) {
        const kid = `k${n++}`;
        keys.push({ kid, createdAt: at(t), signingFrom: plan.create.signingFrom });
        published.set(kid, t);
      }
      const signing = signingKeyAt(keys, at(t));
      expect(signing, `at ${t}`).toBeDefined();
      if (signing && signing.kid !== "k0") {
        expect(signing.signingFrom.getTime() - (published.get(signing.kid) ?? 0)).toBeGreaterThanOrEqual(
          15 * MIN,
        );
      }
      // A token signed an hour ago (the longest ttl) by whichever key signed then still verifies.
      const before = signingKeyAt(keys, at(Math.max(0, t - HOUR)));
      expect(keys.map((k) => k.kid)).toContain(before?.kid);
      expect(keys.length).toBeLessThanOrEqual(3);
    }
    expect(n).toBe(4);
  });
});

describe("signingKeyAt", () => {
  it("should pick the latest key that has started, none before the first starts", () => {
    expect(signingKeyAt([a, b], at(DAY - 1))?.kid).toBe("a");
    expect(signingKeyAt([b, a], at(DAY))?.kid).toBe("b");
    expect(signingKeyAt([b], at(0))).toBeUndefined();
  });
});
