import { describe, expect, it } from "vitest";
import type { AccessSchedule, Enrollment, MachineIdentity } from "../api/index.ts";
import {
  decideEnrollment,
  decideRenewal,
  EnrollReason,
  externalIssuance,
  externalValidity,
  RENEWAL_GRACE_MS,
  tokenExpiry,
} from "./decide.ts";

const NOW = new Date("2026-12-02T10:00:00Z");
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);
const MIN = 60_000;

function identity(spec: Partial<MachineIdentity["spec"]> = {}, name = "agent"): MachineIdentity {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: { name, namespace: "shop" },
    spec: {
      delivery: "External",
      ttl: "1h",
      privateKey: { algorithm: "ECDSA", size: 256 },
      usages: ["client", "server"],
      suspend: false,
      ...spec,
    },
  } as MachineIdentity;
}

function enrollment(
  status: Enrollment["status"] = {},
  createdAt = at(-MIN),
  spec: Partial<Enrollment["spec"]> = {},
): Enrollment {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "Enrollment",
    metadata: { name: "agent-1", namespace: "shop", creationTimestamp: createdAt.toISOString() },
    spec: { identity: "agent", tokenHash: `sha256:${"0".repeat(64)}`, ttl: "10m", ...spec },
    status,
  } as Enrollment;
}

function schedule(spec: Partial<AccessSchedule["spec"]>): AccessSchedule {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "AccessSchedule",
    metadata: { name: "hours", namespace: "shop" },
    spec: { timeZone: "UTC", windows: [], grants: [], suspend: false, ...spec },
  } as AccessSchedule;
}

const enroll = (over: Partial<Parameters<typeof decideEnrollment>[0]> = {}) =>
  decideEnrollment({
    enrollment: enrollment(),
    requested: "shop/agent",
    identity: identity(),
    schedule: undefined,
    claimRefusal: undefined,
    now: NOW,
    ...over,
  });

describe("decideEnrollment", () => {
  it("should let a fresh token enroll as its identity, with its expiry", () => {
    expect(enroll()).toEqual({ ok: true, windowEnd: undefined, expiresAt: at(9 * MIN) });
  });

  it.each([
    [
      "no Enrollment (unknown or a hash that differs)",
      { enrollment: undefined },
      401,
      EnrollReason.UnknownToken,
      false,
    ],
    [
      "a used token",
      { enrollment: enrollment({ phase: "Enrolled", enrolledAt: at(-30_000).toISOString() }) },
      401,
      EnrollReason.TokenReplayed,
      true,
    ],
    [
      "a used token whose status lost its phase",
      { enrollment: enrollment({ enrolledAt: at(-30_000).toISOString() }) },
      401,
      EnrollReason.TokenReplayed,
      true,
    ],
    [
      "a used token that is also expired and for another identity",
      {
        enrollment: enrollment({ phase: "Enrolled", enrolledAt: "2026-01-01T00:00:00Z" }, at(-60 * MIN)),
        requested: "shop/other",
      },
      401,
      EnrollReason.TokenReplayed,
      true,
    ],
    [
      "a token past its ttl",
      { enrollment: enrollment({}, at(-10 * MIN)) },
      401,
      EnrollReason.TokenExpired,
      false,
    ],
    [
      "a token marked Expired",
      { enrollment: enrollment({ phase: "Expired" }) },
      401,
      EnrollReason.TokenExpired,
      false,
    ],
    [
      "a token past its identity's shorter ttl",
      { identity: identity({ ttl: "30s" }) },
      401,
      EnrollReason.TokenExpired,
      false,
    ],
    ["another identity", { requested: "shop/other" }, 403, EnrollReason.WrongIdentity, false],
    [
      "the same name in another namespace",
      { requested: "bank/agent" },
      403,
      EnrollReason.WrongIdentity,
      false,
    ],
    ["an identity that is gone", { identity: undefined }, 403, EnrollReason.IdentityNotFound, false],
    [
      "an identity delivered by Secret",
      { identity: identity({ delivery: "Secret", serviceAccounts: ["x"] }) },
      403,
      EnrollReason.DeliveryNotExternal,
      false,
    ],
    ["a suspended identity", { identity: identity({ suspend: true }) }, 403, EnrollReason.Suspended, false],
    [
      "an identity whose schedule is missing",
      { identity: identity({ scheduleRef: { name: "hours" } }) },
      403,
      EnrollReason.ScheduleNotFound,
      false,
    ],
    [
      "an identity outside its window",
      { identity: identity({ scheduleRef: { name: "hours" } }), schedule: schedule({ suspend: true }) },
      403,
      EnrollReason.OutsideWindow,
      false,
    ],
    [
      "an identity the issuance rules refuse",
      { claimRefusal: { reason: "ClaimNotAllowed", message: "the namespace may not claim this SPIFFE ID" } },
      403,
      "ClaimNotAllowed",
      false,
    ],
  ] as const)("should refuse %s", (_what, over, status, reason, alarm) => {
    const decision = enroll(over as Partial<Parameters<typeof decideEnrollment>[0]>);
    expect(decision).toMatchObject({ ok: false, status, reason });
    expect(decision.ok === false && decision.alarm === true).toBe(alarm);
    expect(decision.ok ? "" : decision.message.length).toBeGreaterThan(10);
  });

  it("should expire exactly at creation + ttl", () => {
    const created = at(-10 * MIN);
    expect(enroll({ enrollment: enrollment({}, created), now: at(-1) }).ok).toBe(true);
    expect(enroll({ enrollment: enrollment({}, created), now: NOW })).toMatchObject({
      reason: EnrollReason.TokenExpired,
    });
  });

  it("should bound the certificate by the open window's end", () => {
    const grant = { start: at(-MIN).toISOString(), end: at(30 * MIN).toISOString() };
    const decision = enroll({
      identity: identity({ scheduleRef: { name: "hours" } }),
      schedule: schedule({ grants: [grant] }),
    });
    expect(decision).toMatchObject({ ok: true, windowEnd: at(30 * MIN) });
  });
});

describe("tokenExpiry", () => {
  const created = new Date("2026-12-02T09:00:00Z");
  it.each([
    ["spec.ttl alone", "10m", undefined, undefined, "2026-12-02T09:10:00.000Z"],
    ["the identity's shorter ttl", "10m", "30s", undefined, "2026-12-02T09:00:30.000Z"],
    ["the identity's longer ttl", "10m", "24h", undefined, "2026-12-02T09:10:00.000Z"],
    ["an earlier window end", "1h", "24h", new Date("2026-12-02T09:05:00Z"), "2026-12-02T09:05:00.000Z"],
    ["a later window end", "1m", undefined, new Date("2026-12-02T10:00:00Z"), "2026-12-02T09:01:00.000Z"],
  ])("should follow %s", (_what, ttl, identityTtl, windowEnd, expected) => {
    expect(tokenExpiry({ createdAt: created, ttl, identityTtl, windowEnd }).toISOString()).toBe(expected);
  });
});

describe("externalValidity", () => {
  const ca = { caNotBefore: new Date("2026-01-01T00:00:00Z"), caNotAfter: new Date("2027-01-01T00:00:00Z") };
  it("should backdate a minute and last the ttl, in whole seconds", () => {
    expect(
      externalValidity({ now: new Date("2026-12-02T10:00:00.750Z"), ttl: "1h", windowEnd: undefined, ...ca }),
    ).toEqual({
      notBefore: new Date("2026-12-02T09:59:00Z"),
      notAfter: new Date("2026-12-02T11:00:00Z"),
    });
  });
  it("should end at the window's end and at the CA's", () => {
    expect(externalValidity({ now: NOW, ttl: "1h", windowEnd: at(10 * MIN), ...ca })?.notAfter).toEqual(
      at(10 * MIN),
    );
    expect(
      externalValidity({
        now: NOW,
        ttl: "1h",
        windowEnd: undefined,
        caNotBefore: ca.caNotBefore,
        caNotAfter: at(5 * MIN),
      })?.notAfter,
    ).toEqual(at(5 * MIN));
  });
  it("should never start before the CA", () => {
    expect(
      externalValidity({
        now: NOW,
        ttl: "1h",
        windowEnd: undefined,
        caNotBefore: at(-10_000),
        caNotAfter: ca.caNotAfter,
      })?.notBefore,
    ).toEqual(at(-10_000));
  });
  it("should give nothing when the window or the CA ends now", () => {
    expect(externalValidity({ now: NOW, ttl: "1h", windowEnd: NOW, ...ca })).toBeUndefined();
    expect(
      externalValidity({
        now: NOW,
        ttl: "1h",
        windowEnd: undefined,
        caNotBefore: ca.caNotBefore,
        caNotAfter: at(500),
      }),
    ).toBeUndefined();
  });
});

describe("externalIssuance", () => {
  it("should name the identity in every refusal", () => {
    const refused = externalIssuance({
      ref: "shop/agent",
      identity: identity({ suspend: true }),
      schedule: undefined,
      claimRefusal: undefined,
      now: NOW,
    });
    expect(refused).toMatchObject({ ok: false, reason: EnrollReason.Suspended });
    expect(refused.ok ? "" : refused.message).toContain("shop/agent");
  });
});

describe("decideRenewal", () => {
  const SERIAL = "0a0b";
  const renew = (over: Partial<Parameters<typeof decideRenewal>[0]> = {}) =>
    decideRenewal({
      enrollment: enrollment({
        phase: "Enrolled",
        enrolledAt: at(-MIN).toISOString(),
        certificate: { serialNumber: SERIAL, notAfter: at(MIN).toISOString() },
      }),
      serialNumber: SERIAL,
      spiffeId: "spiffe://cluster.local/ns/shop/id/agent",
      identitySpiffeId: "spiffe://cluster.local/ns/shop/id/agent",
      identity: identity(),
      schedule: undefined,
      claimRefusal: undefined,
      now: NOW,
      ...over,
    });
  const renewed = (supersededAgoMs: number) =>
    enrollment({
      phase: "Enrolled",
      certificate: { serialNumber: "0c0d", notAfter: at(MIN).toISOString() },
      previous: { serialNumber: SERIAL, supersededAt: at(-supersededAgoMs).toISOString() },
    });

  it("should renew the certificate the Enrollment records", () => {
    expect(renew()).toEqual({ ok: true, windowEnd: undefined });
  });

  it("should let the certificate renewed last renew again within the grace, for a lost answer", () => {
    expect(renew({ enrollment: renewed(RENEWAL_GRACE_MS) }).ok).toBe(true);
  });

  it.each([
    [
      "no Enrollment (deleted: the machine is removed)",
      { enrollment: undefined },
      EnrollReason.UnknownCertificate,
      false,
    ],
    [
      "a superseded certificate after the grace",
      { enrollment: renewed(RENEWAL_GRACE_MS + 1) },
      EnrollReason.SupersededCertificate,
      true,
    ],
    [
      "a certificate the Enrollment never recorded",
      { serialNumber: "ffff" },
      EnrollReason.SupersededCertificate,
      true,
    ],
    ["a suspended identity", { identity: identity({ suspend: true }) }, EnrollReason.Suspended, false],
    [
      "a closed window",
      { identity: identity({ scheduleRef: { name: "hours" } }), schedule: schedule({ suspend: true }) },
      EnrollReason.OutsideWindow,
      false,
    ],
    [
      "an identity now delivered by Secret",
      { identity: identity({ delivery: "Secret", serviceAccounts: ["x"] }) },
      EnrollReason.DeliveryNotExternal,
      false,
    ],
    ["an identity that is gone", { identity: undefined }, EnrollReason.IdentityNotFound, false],
    [
      "an identity that now holds another SPIFFE ID",
      { identitySpiffeId: "spiffe://cluster.local/ns/shop/id/renamed" },
      EnrollReason.SpiffeIdMismatch,
      false,
    ],
  ] as const)("should refuse %s", (_what, over, reason, alarm) => {
    const decision = renew(over as Partial<Parameters<typeof decideRenewal>[0]>);
    expect(decision).toMatchObject({ ok: false, status: 403, reason });
    expect(decision.ok === false && decision.alarm === true).toBe(alarm);
  });
});
