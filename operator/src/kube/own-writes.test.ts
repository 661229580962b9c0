import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { OwnWrites } from "./own-writes.ts";

const obj = (name: string, resourceVersion?: string, namespace = "shop"): KubernetesObject => ({
  metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
});

describe("OwnWrites", () => {
  it.each([
    {
      name: "should recognise the event of our own write",
      wrote: obj("a", "10"),
      seen: obj("a", "10"),
      own: true,
    },
    {
      name: "should queue a later change by someone else",
      wrote: obj("a", "10"),
      seen: obj("a", "11"),
      own: false,
    },
    {
      name: "should queue an earlier event still in flight",
      wrote: obj("a", "10"),
      seen: obj("a", "9"),
      own: false,
    },
    {
      name: "should not confuse two objects of one name in two namespaces",
      wrote: obj("a", "10", "shop"),
      seen: obj("a", "10", "bank"),
      own: false,
    },
    {
      name: "should queue an object seen without a resourceVersion",
      wrote: obj("a", "10"),
      seen: obj("a"),
      own: false,
    },
  ])("$name", ({ wrote, seen, own }) => {
    const writes = new OwnWrites();
    writes.record("Secret", wrote);
    expect(writes.isOwn("Secret", seen)).toBe(own);
  });

  it("should recognise our own write once only, so a relist of the same version is queued", () => {
    const writes = new OwnWrites();
    writes.record("Secret", obj("a", "10"));
    expect(writes.isOwn("Secret", obj("a", "10"))).toBe(true);
    expect(writes.isOwn("Secret", obj("a", "10"))).toBe(false);
    expect(writes.size).toBe(0);
  });

  it("should keep kinds apart", () => {
    const writes = new OwnWrites();
    writes.record("MachineIdentity", obj("a", "10"));
    expect(writes.isOwn("Secret", obj("a", "10"))).toBe(false);
    expect(writes.isOwn("MachineIdentity", obj("a", "10"))).toBe(true);
  });

  it("should remember only the last write of an object", () => {
    const writes = new OwnWrites();
    writes.record("Secret", obj("a", "10"));
    writes.record("Secret", obj("a", "12"));
    expect(writes.size).toBe(1);
    expect(writes.isOwn("Secret", obj("a", "10"))).toBe(false);
    expect(writes.isOwn("Secret", obj("a", "12"))).toBe(true);
  });

  it("should drop what it knows of a deleted object and ignore writes that returned nothing", () => {
    const writes = new OwnWrites();
    writes.record("Secret", obj("a", "10"));
    writes.record("Secret", undefined);
    writes.record("Secret", obj("b"));
    writes.forget("Secret", obj("a", "10"));
    expect(writes.size).toBe(0);
    expect(writes.isOwn("Secret", obj("a", "10"))).toBe(false);
  });
});

describe("OwnWrites as an expectation of what the cache shows", () => {
  const written = (clock: { now: number }) => {
    const writes = new OwnWrites({ now: () => clock.now, timeoutMs: 30_000 });
    writes.record("Secret", obj("a", "10"));
    return writes;
  };

  it.each([
    { name: "should wait for a cache that lacks our write", cached: undefined, unobserved: true },
    { name: "should wait for a cache that shows an older version", cached: obj("a", "9"), unobserved: true },
    { name: "should believe a cache that shows our write", cached: obj("a", "10"), unobserved: false },
    {
      name: "should believe at once a cache that shows a newer version, someone else's change",
      cached: obj("a", "11"),
      unobserved: false,
    },
    {
      name: "should compare versions as numbers, not as strings",
      cached: obj("a", "100"),
      unobserved: false,
    },
  ])("$name", ({ cached, unobserved }) => {
    expect(written({ now: 0 }).unobserved("Secret", "shop", "a", cached)).toBe(unobserved);
  });

  it("should expect nothing of an object it never wrote, or of another kind or namespace", () => {
    const writes = written({ now: 0 });
    expect(writes.unobserved("Secret", "shop", "b", undefined)).toBe(false);
    expect(writes.unobserved("MachineIdentity", "shop", "a", undefined)).toBe(false);
    expect(writes.unobserved("Secret", "bank", "a", undefined)).toBe(false);
  });

  it("should stop waiting once the watch event of our write arrived, or the object was deleted", () => {
    const seen = written({ now: 0 });
    expect(seen.isOwn("Secret", obj("a", "10"))).toBe(true);
    expect(seen.unobserved("Secret", "shop", "a", obj("a", "9"))).toBe(false);
    const deleted = written({ now: 0 });
    deleted.forget("Secret", obj("a", "10"));
    expect(deleted.unobserved("Secret", "shop", "a", undefined)).toBe(false);
  });

  it("should believe the cache again after the timeout, and forget the write", () => {
    const clock = { now: 0 };
    const writes = written(clock);
    clock.now = 29_999;
    expect(writes.unobserved("Secret", "shop", "a", undefined)).toBe(true);
    clock.now = 30_000;
    expect(writes.unobserved("Secret", "shop", "a", undefined)).toBe(false);
    expect(writes.size).toBe(0);
  });

  it("should take another form of version, seen before ours arrived, for an older one", () => {
    const writes = new OwnWrites({ now: () => 0 });
    writes.record("Secret", obj("a", "b2"));
    expect(writes.unobserved("Secret", "shop", "a", obj("a", "a1"))).toBe(true);
    expect(writes.unobserved("Secret", "shop", "a", obj("a", "b2"))).toBe(false);
  });
});
