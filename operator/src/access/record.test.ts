import { describe, expect, it } from "vitest";
import { AccessCommandReason, accessEvent, boundedNote, eventName, NOTE_LIMIT } from "./record.ts";

const NOW = Date.parse("2026-12-02T10:00:00.250Z");
const policy = {
  kind: "AccessPolicy" as const,
  metadata: { name: "checkout-to-payments", namespace: "shop", uid: "u-1", resourceVersion: "42" },
};
const schedule = {
  kind: "AccessSchedule" as const,
  metadata: { name: "on-call", namespace: "shop", uid: "u-2", resourceVersion: "43" },
};

describe("accessEvent", () => {
  it("should be an events.k8s.io/v1 Event on the changed object, naming who asked and why", () => {
    expect(
      accessEvent({
        object: policy,
        reason: AccessCommandReason.Suspended,
        what: "suspended",
        user: "alice",
        why: "incident 4711",
        now: NOW,
        suffix: "0123abcd",
      }),
    ).toEqual({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: "checkout-to-payments.0123abcd", namespace: "shop" },
      eventTime: "2026-12-02T10:00:00.250000Z",
      type: "Normal",
      reason: "Suspended",
      action: "Suspend",
      reportingController: "signet.dev/cli",
      reportingInstance: "signet-cli",
      regarding: {
        apiVersion: "signet.dev/v1alpha1",
        kind: "AccessPolicy",
        name: "checkout-to-payments",
        namespace: "shop",
        uid: "u-1",
        resourceVersion: "42",
      },
      note: "suspended by alice: incident 4711",
    });
  });

  it.each([
    [AccessCommandReason.Suspended, "Suspend"],
    [AccessCommandReason.Resumed, "Resume"],
    [AccessCommandReason.GrantOpened, "Grant"],
    [AccessCommandReason.GrantRevoked, "Revoke"],
  ])("should give the reason %s the action %s", (reason, action) => {
    const event = accessEvent({ object: schedule, reason, what: "x", user: "alice", now: NOW, suffix: "1" });
    expect(event.action).toBe(action);
    expect(event.reason).toBe(reason);
  });

  it("should name the policy a grant went through as the related object", () => {
    const event = accessEvent({
      object: schedule,
      related: policy,
      reason: AccessCommandReason.GrantOpened,
      what: "grant 2026-12-02T10:00:00Z to 2026-12-02T10:30:00Z opened",
      user: "system:serviceaccount:ops:oncall",
      now: NOW,
      suffix: "0123abcd",
    });
    expect(event.regarding).toMatchObject({ kind: "AccessSchedule", name: "on-call" });
    expect(event.related).toMatchObject({ kind: "AccessPolicy", name: "checkout-to-payments", uid: "u-1" });
    expect(event.note).toBe(
      "grant 2026-12-02T10:00:00Z to 2026-12-02T10:30:00Z opened by system:serviceaccount:ops:oncall",
    );
  });

  it("should leave uid and resourceVersion out when they are not known", () => {
    const event = accessEvent({
      object: { kind: "MachineIdentity", metadata: { name: "checkout", namespace: "shop" } },
      reason: AccessCommandReason.Resumed,
      what: "resumed",
      user: "bob",
      now: NOW,
      suffix: "0123abcd",
    });
    expect(event.regarding).toEqual({
      apiVersion: "signet.dev/v1alpha1",
      kind: "MachineIdentity",
      name: "checkout",
      namespace: "shop",
    });
    expect(event.note).toBe("resumed by bob");
  });
});

describe("boundedNote", () => {
  it("should keep a note within the limit as it is", () => {
    const note = "x".repeat(NOTE_LIMIT);
    expect(boundedNote(note)).toBe(note);
  });

  it("should cut a longer note to the limit in bytes, multi-byte characters included, marked with an ellipsis", () => {
    for (const note of ["x".repeat(NOTE_LIMIT + 1), "ü".repeat(NOTE_LIMIT), "€".repeat(2 * NOTE_LIMIT)]) {
      const bounded = boundedNote(note);
      expect(Buffer.byteLength(bounded)).toBeLessThanOrEqual(NOTE_LIMIT);
      expect(Buffer.byteLength(bounded)).toBeGreaterThan(NOTE_LIMIT - 4);
      expect(bounded.endsWith("…")).toBe(true);
      expect(note.startsWith(bounded.slice(0, -1))).toBe(true);
    }
  });
});

describe("eventName", () => {
  it("should be the object's name, a dot and the suffix", () => {
    expect(eventName("checkout-to-payments", "0123abcd")).toBe("checkout-to-payments.0123abcd");
  });

  it("should cut a long name so that the Event's name stays within 253 characters and valid", () => {
    const name = `${"a".repeat(199)}-.b${"c".repeat(50)}`;
    const event = eventName(name, "0123456789abcdef");
    expect(event).toBe(`${"a".repeat(199)}.0123456789abcdef`);
    expect(event.length).toBeLessThanOrEqual(253);
    expect(event).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
  });
});
