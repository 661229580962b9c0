import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MachineIdentityStatus } from "../../api/index.ts";
import { jsonEqual } from "../shared/conditions.ts";
import { type Credential, type IdentityFacts, type IdentityState, Reason, statusFor } from "./status.ts";

const MINUTE = 60_000;
const NOW = new Date("2026-03-02T09:30:00.000Z");
const at = (minutes: number) => new Date(NOW.getTime() + minutes * MINUTE);
const SPIFFE_ID = "spiffe://cluster.local/ns/shop/id/api";

type Active = Extract<IdentityState, { kind: "Active" }>;

/** A 1h certificate minted `minutes` from NOW (backdated a minute), renewed after 40 minutes. */
function credential(serialNumber: string, minutes = 0, extra: Partial<Credential> = {}): Credential {
  return {
    spiffeID: SPIFFE_ID,
    serialNumber,
    notBefore: at(minutes - 1),
    notAfter: at(minutes + 60),
    renewalTime: at(minutes + 40),
    ...extra,
  };
}

const facts = (state: IdentityState, generation = 2): IdentityFacts => ({ generation, consumers: 3, state });
const active = (fields: Partial<Omit<Active, "kind">>): IdentityFacts =>
  facts({ kind: "Active", credential: undefined, ...fields });
const condition = (status: MachineIdentityStatus, type: string) =>
  status.conditions?.find((c) => c.type === type);

/** The status right after the first certificate, serial "a0", was issued at NOW. */
const issued = statusFor(
  active({ credential: credential("a0"), minted: { replaced: false } }),
  undefined,
  NOW,
);

describe("statusFor: Ready", () => {
  it("should be True with Issued, the credential's fields and rotations 0 after the first issuance", () => {
    expect(issued).toEqual({
      spiffeID: SPIFFE_ID,
      serialNumber: "a0",
      notBefore: at(-1).toISOString(),
      notAfter: at(60).toISOString(),
      renewalTime: at(40).toISOString(),
      rotations: 0,
      consumers: 3,
      observedGeneration: 2,
      conditions: [
        {
          type: "Issuing",
          status: "False",
          reason: Reason.UpToDate,
          message: "the credential is current",
          lastTransitionTime: NOW.toISOString(),
          observedGeneration: 2,
        },
        {
          type: "Ready",
          status: "True",
          reason: Reason.Issued,
          message: `${SPIFFE_ID} valid until ${at(60).toISOString()}`,
          lastTransitionTime: NOW.toISOString(),
          observedGeneration: 2,
        },
        {
          type: "Suspended",
          status: "False",
          reason: Reason.Active,
          message: "spec.suspend is false",
          lastTransitionTime: NOW.toISOString(),
          observedGeneration: 2,
        },
      ],
    });
  });

  it("should name the end of the access window when there is one", () => {
    const status = statusFor(
      active({ credential: credential("a0"), minted: { replaced: false }, windowEnd: at(90) }),
      undefined,
      NOW,
    );
    expect(condition(status, "Ready")?.message).toBe(
      `${SPIFFE_ID} valid until ${at(60).toISOString()} (access window ends ${at(90).toISOString()})`,
    );
  });

  it("should be False with IssuanceFailed and the error when a reissue of an expired Secret fails", () => {
    const later = at(70);
    const status = statusFor(
      active({
        credential: credential("a0", 0, {
          unfit: { reason: "Expired", message: `the certificate expired at ${at(60).toISOString()}` },
        }),
        issuanceError: "the issuing CA expired at 2026-03-02T10:35:00.000Z",
      }),
      issued,
      later,
    );
    expect(condition(status, "Ready")).toMatchObject({
      status: "False",
      reason: Reason.IssuanceFailed,
      lastTransitionTime: later.toISOString(),
    });
    expect(condition(status, "Ready")?.message).toContain(
      "the issuing CA expired at 2026-03-02T10:35:00.000Z",
    );
    expect(condition(status, "Ready")?.message).toContain(`expired at ${at(60).toISOString()}`);
    expect(condition(status, "Issuing")).toMatchObject({
      status: "True",
      reason: Reason.IssuanceFailed,
      message: "the issuing CA expired at 2026-03-02T10:35:00.000Z",
      lastTransitionTime: later.toISOString(),
    });
  });

  it("should be False when the reissue of an expired Secret fails even if the chain did not say Expired", () => {
    const status = statusFor(
      active({ credential: credential("a0"), issuanceError: "mint failed" }),
      issued,
      at(61),
    );
    expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: Reason.IssuanceFailed });
  });

  it("should be False with IssuanceFailed when the Secret holds nothing usable and issuing fails", () => {
    const status = statusFor(active({ credential: undefined, issuanceError: "mint failed" }), issued, at(5));
    expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: Reason.IssuanceFailed });
    expect(condition(status, "Ready")?.message).toContain("mint failed");
    // The last credential issued stays named, so the next mint counts as the rotation it is.
    expect(status).toMatchObject({ serialNumber: "a0", rotations: 0 });
  });

  it("should be False with IssuanceFailed when a reissue for a changed spec fails, though the old certificate is in date", () => {
    const unfit = {
      reason: "SpiffeIdChanged",
      message: "the certificate's URI SANs are not exactly the spec's",
    };
    const status = statusFor(
      active({ credential: credential("a0", 0, { unfit }), issuanceError: "mint failed" }),
      issued,
      at(5),
    );
    expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: Reason.IssuanceFailed });
    expect(condition(status, "Ready")?.message).toBe(`mint failed; ${unfit.message}`);
  });

  it("should stay True, reason and transition time kept, when a renewal fails while the certificate is valid", () => {
    const status = statusFor(
      active({ credential: credential("a0"), issuanceError: "mint failed" }),
      issued,
      at(45),
    );
    expect(condition(status, "Ready")).toEqual(condition(issued, "Ready"));
    expect(condition(status, "Issuing")).toMatchObject({
      status: "True",
      reason: Reason.IssuanceFailed,
      message: "mint failed",
      lastTransitionTime: at(45).toISOString(),
    });
  });

  it("should be True again, with Rotated, once a reissue after a failure succeeds", () => {
    const failed = statusFor(
      active({ credential: credential("a0"), issuanceError: "mint failed" }),
      issued,
      at(61),
    );
    const status = statusFor(
      active({ credential: credential("a1", 62), minted: { replaced: true } }),
      failed,
      at(62),
    );
    expect(condition(status, "Ready")).toMatchObject({
      status: "True",
      reason: Reason.Rotated,
      lastTransitionTime: at(62).toISOString(),
    });
    expect(condition(status, "Issuing")).toMatchObject({ status: "False", reason: Reason.UpToDate });
    expect(status.rotations).toBe(1);
  });

  it.each([
    ["expired", credential("a0"), at(60), Reason.Expired],
    ["not valid yet", credential("a0", 10), NOW, Reason.NotYetValid],
    ["missing", undefined, NOW, Reason.SecretMissing],
  ])("should be False, without a failure, when the credential is %s", (_name, held, now, reason) => {
    const status = statusFor(active({ credential: held }), issued, now);
    expect(condition(status, "Ready")).toMatchObject({ status: "False", reason });
    expect(condition(status, "Issuing")).toMatchObject({ status: "False", reason });
  });

  it("should keep Issued while the same credential stays in place, and say UpToDate once it serves again", () => {
    expect(statusFor(active({ credential: credential("a0") }), issued, at(10))).toEqual(issued);
    const unfit = { reason: "SpiffeIdChanged", message: "the SPIFFE ID changed" };
    const drifted = statusFor(active({ credential: credential("a0", 0, { unfit }) }), issued, at(10));
    expect(condition(drifted, "Ready")).toMatchObject({ status: "False", reason: "SpiffeIdChanged" });
    // The spec went back before the reissue: the same certificate serves again.
    const reverted = statusFor(active({ credential: credential("a0") }), drifted, at(11));
    expect(condition(reverted, "Ready")).toMatchObject({
      status: "True",
      reason: Reason.UpToDate,
      lastTransitionTime: at(11).toISOString(),
    });
  });
});

describe("statusFor: rotations", () => {
  it("should count a rotation, starting from the previous count", () => {
    const previous = { ...issued, rotations: 7 };
    const status = statusFor(
      active({ credential: credential("a1", 40), minted: { replaced: true } }),
      previous,
      at(40),
    );
    expect(status).toMatchObject({ rotations: 8, serialNumber: "a1" });
    expect(condition(status, "Ready")).toMatchObject({
      reason: Reason.Rotated,
      lastTransitionTime: NOW.toISOString(),
    });
  });

  it("should keep and grow the count across reconciles: issue, rotate, idle, rotate", () => {
    let status = issued;
    status = statusFor(
      active({ credential: credential("a1", 40), minted: { replaced: true } }),
      status,
      at(40),
    );
    status = statusFor(active({ credential: credential("a1", 40) }), status, at(41));
    status = statusFor(active({ credential: credential("a1", 40) }), status, at(50));
    status = statusFor(
      active({ credential: credential("a2", 80), minted: { replaced: true } }),
      status,
      at(80),
    );
    status = statusFor(active({ credential: credential("a2", 80) }), status, at(81));
    expect(status.rotations).toBe(2);
  });

  it("should count, once, a rotation whose status write was lost", () => {
    // The Secret holds a1, minted after a0; the status still names a0 because its write failed.
    const recovered = statusFor(active({ credential: credential("a1", 40) }), issued, at(41));
    expect(recovered).toMatchObject({ rotations: 1, serialNumber: "a1" });
    expect(condition(recovered, "Ready")?.reason).toBe(Reason.Rotated);
    expect(statusFor(active({ credential: credential("a1", 40) }), recovered, at(42))).toEqual(recovered);
  });

  it("should not count an older certificate that a lagging Secret cache still shows", () => {
    const rotated = statusFor(
      active({ credential: credential("a1", 40), minted: { replaced: true } }),
      issued,
      at(40),
    );
    const stale = statusFor(active({ credential: credential("a0") }), rotated, at(40));
    expect(stale.rotations).toBe(1);
    expect(condition(stale, "Ready")?.reason).toBe(Reason.UpToDate);
  });

  it("should not count the first credential, nor one minted after a revocation cleared the status", () => {
    expect(issued.rotations).toBe(0);
    const suspended = statusFor(facts({ kind: "Suspended" }), { ...issued, rotations: 4 }, at(10));
    const again = statusFor(
      active({ credential: credential("a1", 20), minted: { replaced: false } }),
      suspended,
      at(20),
    );
    expect(again.rotations).toBe(4);
    expect(condition(again, "Ready")?.reason).toBe(Reason.Issued);
  });

  it("should count a mint that replaced a credential the status had lost track of", () => {
    const { serialNumber: _s, notBefore: _b, ...untracked } = issued;
    const status = statusFor(
      active({ credential: credential("a1", 40), minted: { replaced: true } }),
      untracked,
      at(40),
    );
    expect(status.rotations).toBe(1);
    expect(condition(status, "Ready")?.reason).toBe(Reason.Rotated);
  });

  it("should not count a failed issuance, and then count the successful one", () => {
    const failed = statusFor(active({ credential: undefined, issuanceError: "mint failed" }), issued, at(5));
    expect(failed.rotations).toBe(0);
    const status = statusFor(
      active({ credential: credential("a1", 6), minted: { replaced: true } }),
      failed,
      at(6),
    );
    expect(status.rotations).toBe(1);
  });
});

describe("statusFor: identities that hold no credential", () => {
  const rotated: MachineIdentityStatus = { ...issued, rotations: 5 };
  it.each<[string, IdentityState, string, boolean]>([
    ["an invalid spec", { kind: "InvalidSpec", message: "spec.ttl: too long" }, Reason.InvalidSpec, true],
    [
      "a refused claim",
      { kind: "Refused", reason: Reason.SecretConflict, message: "Secret shop/x is another's" },
      Reason.SecretConflict,
      false,
    ],
    ["a suspension", { kind: "Suspended" }, Reason.Suspended, false],
    [
      "a closed window",
      { kind: "Inactive", reason: Reason.OutsideWindow, message: "outside the windows" },
      Reason.OutsideWindow,
      false,
    ],
    [
      "a missing schedule",
      { kind: "Inactive", reason: Reason.ScheduleNotFound, message: "no such schedule" },
      Reason.ScheduleNotFound,
      false,
    ],
  ])("should keep the count through %s, with Ready False", (_name, state, reason, keepsFields) => {
    const status = statusFor(facts(state), rotated, at(10));
    expect(status.rotations).toBe(5);
    expect(status.consumers).toBe(3);
    expect(condition(status, "Ready")).toMatchObject({
      status: "False",
      reason,
      lastTransitionTime: at(10).toISOString(),
    });
    expect(condition(status, "Issuing")).toMatchObject({ status: "False", reason });
    // Only an invalid spec leaves the Secret in place, so only then does the status still name it.
    expect(status.serialNumber).toBe(keepsFields ? "a0" : undefined);
    expect(status.notAfter).toBe(keepsFields ? rotated.notAfter : undefined);
  });

  it("should say Suspended True only while suspended, and move its transition time only on the change", () => {
    const suspended = statusFor(facts({ kind: "Suspended" }), issued, at(10));
    expect(condition(suspended, "Suspended")).toMatchObject({
      status: "True",
      lastTransitionTime: at(10).toISOString(),
    });
    expect(statusFor(facts({ kind: "Suspended" }), suspended, at(20))).toEqual(suspended);
    const resumed = statusFor(
      active({ credential: credential("a1", 30), minted: { replaced: false } }),
      suspended,
      at(30),
    );
    expect(condition(resumed, "Suspended")).toMatchObject({
      status: "False",
      lastTransitionTime: at(30).toISOString(),
    });
  });

  it("should leave the Suspended condition as it was for an invalid spec", () => {
    const status = statusFor(facts({ kind: "InvalidSpec", message: "bad" }), issued, at(10));
    expect(condition(status, "Suspended")).toEqual(condition(issued, "Suspended"));
  });
});

describe("statusFor: generations and transition times", () => {
  it("should report the generation reconciled, on the status and on every condition it sets", () => {
    const status = statusFor(active({ credential: credential("a0") }), issued, at(1));
    const next = statusFor({ ...active({ credential: credential("a0") }), generation: 5 }, status, at(2));
    expect(next.observedGeneration).toBe(5);
    for (const c of next.conditions ?? []) expect(c.observedGeneration).toBe(5);
  });

  it("should keep lastTransitionTime when only reason or message change", () => {
    const status = statusFor(
      active({ credential: credential("a1", 40), minted: { replaced: true } }),
      issued,
      at(40),
    );
    expect(condition(status, "Ready")?.reason).toBe(Reason.Rotated);
    expect(condition(status, "Ready")?.lastTransitionTime).toBe(NOW.toISOString());
  });
});

// Properties over random runs of reconciles.

const SERIALS = ["a0", "a1", "a2", "a3"];

const credentialArb: fc.Arbitrary<Credential> = fc
  .record({
    serial: fc.constantFrom(...SERIALS),
    start: fc.integer({ min: -120, max: 120 }),
    life: fc.integer({ min: 1, max: 120 }),
    unfit: fc.option(fc.constantFrom("SpiffeIdChanged", "IssuerChanged", "TtlChanged"), { nil: undefined }),
  })
  .map(({ serial, start, life, unfit }) => ({
    spiffeID: SPIFFE_ID,
    serialNumber: serial,
    notBefore: at(start),
    notAfter: at(start + life),
    renewalTime: at(start + (2 * life) / 3),
    unfit: unfit && { reason: unfit, message: `${unfit} message` },
  }));

const stateArb: fc.Arbitrary<IdentityState> = fc.oneof(
  fc.constant<IdentityState>({ kind: "InvalidSpec", message: "bad spec" }),
  fc.constant<IdentityState>({ kind: "Refused", reason: Reason.SecretConflict, message: "held by another" }),
  fc.constant<IdentityState>({ kind: "Suspended" }),
  fc.constant<IdentityState>({ kind: "Inactive", reason: Reason.OutsideWindow, message: "closed" }),
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("Active" as const),
      credential: fc.option(credentialArb, { nil: undefined }),
      minted: fc.option(fc.record({ replaced: fc.boolean() }), { nil: undefined }),
      issuanceError: fc.option(fc.constant("mint failed"), { nil: undefined }),
      windowEnd: fc.option(fc.constant(at(200)), { nil: undefined }),
    }),
  },
);

const stepArb = fc.record({
  state: stateArb,
  generation: fc.integer({ min: 1, max: 3 }),
  consumers: fc.integer({ min: 0, max: 4 }),
  minute: fc.integer({ min: -120, max: 240 }),
});

type Step = { state: IdentityState; generation: number; consumers: number; minute: number };

/** The statuses a run of reconciles leaves behind, each from the one before. */
function run(
  steps: Step[],
): { step: Step; previous: MachineIdentityStatus | undefined; next: MachineIdentityStatus }[] {
  let previous: MachineIdentityStatus | undefined;
  return steps.map((step) => {
    const next = statusFor(
      { generation: step.generation, consumers: step.consumers, state: step.state },
      previous,
      at(step.minute),
    );
    const out = { step, previous, next };
    previous = next;
    return out;
  });
}

describe("statusFor: properties", () => {
  it("should never lower the rotation count, and raise it by at most one per reconcile", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 12 }), (steps) => {
        for (const { previous, next } of run(steps)) {
          const grown = (next.rotations ?? 0) - (previous?.rotations ?? 0);
          expect(grown === 0 || grown === 1).toBe(true);
        }
      }),
    );
  });

  it("should say Ready True only when the Secret holds a fit credential valid at now", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 12 }), (steps) => {
        for (const { step, next } of run(steps)) {
          if (condition(next, "Ready")?.status !== "True") continue;
          const now = at(step.minute).getTime();
          expect(step.state.kind).toBe("Active");
          const held = step.state.kind === "Active" ? step.state.credential : undefined;
          expect(held).toBeDefined();
          expect(held?.unfit).toBeUndefined();
          expect(held && held.notBefore.getTime() <= now && now < held.notAfter.getTime()).toBe(true);
          expect(next.serialNumber).toBe(held?.serialNumber);
        }
      }),
    );
  });

  it("should move a condition's lastTransitionTime exactly when its status changes", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 12 }), (steps) => {
        for (const { step, previous, next } of run(steps)) {
          for (const c of next.conditions ?? []) {
            const before = previous?.conditions?.find((p) => p.type === c.type);
            if (before?.status === c.status) expect(c.lastTransitionTime).toBe(before.lastTransitionTime);
            else expect(c.lastTransitionTime).toBe(at(step.minute).toISOString());
          }
        }
      }),
    );
  });

  it("should write nothing new when the next reconcile finds the same facts and mints nothing", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), (steps) => {
        const last = run(steps).at(-1);
        if (!last) return;
        const { step, next } = last;
        const state = step.state.kind === "Active" ? { ...step.state, minted: undefined } : step.state;
        const again = statusFor(
          { generation: step.generation, consumers: step.consumers, state },
          next,
          at(step.minute),
        );
        expect(jsonEqual(again, next)).toBe(true);
      }),
    );
  });

  it("should count every rotation exactly once, status writes lost or not", () => {
    // A model of an identity: each reconcile may mint (a new serial, later than the last) and its
    // status write may be lost. After a lost write the Secret is current, so the retry mints nothing.
    const plan = fc.array(fc.record({ mint: fc.boolean(), lost: fc.boolean() }), { maxLength: 15 });
    fc.assert(
      fc.property(plan, (steps) => {
        let stored: MachineIdentityStatus | undefined;
        let held: Credential | undefined;
        let rotations = 0;
        let lastLost = false;
        steps.forEach(({ mint, lost }, i) => {
          const now = at(i * 10);
          let minted: { replaced: boolean } | undefined;
          if (mint && !lastLost) {
            minted = { replaced: held !== undefined || stored?.serialNumber !== undefined };
            if (minted.replaced) rotations += 1;
            held = credential(`s${i}`, i * 10);
          }
          const next = statusFor(active({ credential: held, minted }), stored, now);
          if (!lost) stored = next;
          lastLost = lost;
        });
        const settled = statusFor(active({ credential: held }), stored, at(steps.length * 10));
        expect(settled.rotations ?? 0).toBe(rotations);
      }),
    );
  });
});

describe("statusFor: delivery PodCertificate", () => {
  const signing = (extra: Partial<Extract<IdentityState, { kind: "Signing" }>> = {}): IdentityState => ({
    kind: "Signing",
    spiffeID: SPIFFE_ID,
    ...extra,
  });

  it("should be Ready with SignerReady and the SPIFFE ID only, no certificate fields, rotations kept", () => {
    const status = statusFor(facts(signing()), issued, NOW);
    expect(condition(status, "Ready")).toMatchObject({ status: "True", reason: Reason.SignerReady });
    expect(condition(status, "Ready")?.message).toContain(
      `pods receive ${SPIFFE_ID} from the kubelet's podCertificate volume`,
    );
    expect(condition(status, "Issuing")).toMatchObject({ status: "False", reason: Reason.PodCertificate });
    expect(condition(status, "Suspended")?.status).toBe("False");
    expect(status.spiffeID).toBe(SPIFFE_ID);
    expect(status.serialNumber).toBeUndefined();
    expect(status.notAfter).toBeUndefined();
    expect(status.rotations).toBe(0);
  });

  it("should name the end of the access window", () => {
    const status = statusFor(facts(signing({ windowEnd: at(30) })), undefined, NOW);
    expect(condition(status, "Ready")?.message).toContain(
      `until the access window ends at ${at(30).toISOString()}`,
    );
  });

  it("should report the signer's counts, and keep the recorded ones when this process has none", () => {
    const counts = { issued: 3, denied: 1, lastIssueTime: "2026-03-02T09:29:00Z" };
    const reported = statusFor({ ...facts(signing()), podCertificates: counts }, issued, NOW);
    expect(reported.podCertificates).toEqual(counts);
    const kept = statusFor(facts(signing()), reported, NOW);
    expect(kept.podCertificates).toEqual(counts);
    expect(statusFor(facts(signing()), issued, NOW).podCertificates).toBeUndefined();
  });
});
