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
