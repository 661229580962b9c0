import type { V1NetworkPolicy } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { AccessPolicy, AccessPolicySpec } from "../../api/index.ts";
import { type AccessPolicyDecision, networkPoliciesFor } from "../../policy/index.ts";
import {
  accessEvent,
  accessPolicyStatus,
  hasUnobservedSpec,
  isLive,
  isSuspended,
  namespacesNaming,
  networkPolicyWrites,
  policyInput,
  referencesSchedule,
  sameOwners,
  withOwnerReferences,
} from "./desired.ts";

const now = new Date("2026-11-23T09:00:00Z");

function policy(name: string, spec: Partial<AccessPolicySpec> = {}, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "AccessPolicy",
    metadata: { name, namespace: "shop", generation: 2, uid: `uid-${name}`, ...extra },
    spec: {
      target: { identity: "payments" },
      allowFrom: [{ identity: "checkout" }],
      suspend: false,
      ...spec,
    },
  } as AccessPolicy;
}

function desiredFor(policies: AccessPolicy[]) {
  const out = networkPoliciesFor(
    policies.map((p) => policyInput(p, "shop")),
    () => undefined,
  );
  const byName = new Map(policies.map((p) => [p.metadata.name, p]));
  return { ...out, owned: withOwnerReferences(out.networkPolicies, out.owners, (_ns, n) => byName.get(n)) };
}

/** What the API server hands back for a written object: server fields added, `_from` as `from`. */
function stored(np: V1NetworkPolicy, resourceVersion: string): V1NetworkPolicy {
  const copy = JSON.parse(JSON.stringify(np)) as V1NetworkPolicy;
  for (const rule of copy.spec?.ingress ?? []) delete (rule as { _from?: unknown })._from;
  copy.metadata = { ...copy.metadata, resourceVersion, uid: `np-${resourceVersion}` };
  return copy;
}

describe("withOwnerReferences", () => {
  it("should give a shared deny one non-controller reference per policy naming its target", () => {
    const { owned } = desiredFor([policy("a"), policy("b")]);
    const deny = owned.find((np) => np.metadata?.name === "signet-deny-payments");
    expect(deny?.metadata?.ownerReferences).toEqual([
      { apiVersion: "signet.dev/v1alpha1", kind: "AccessPolicy", name: "a", uid: "uid-a" },
      { apiVersion: "signet.dev/v1alpha1", kind: "AccessPolicy", name: "b", uid: "uid-b" },
    ]);
    const allow = owned.find((np) => np.metadata?.name === "signet-allow-a");
    expect(allow?.metadata?.ownerReferences?.map((o) => o.name)).toEqual(["a"]);
    expect(owned.flatMap((np) => np.metadata?.ownerReferences ?? []).some((o) => o.controller)).toBe(false);
  });

  it("should leave out an owner whose uid is not known yet", () => {
    const { owned } = desiredFor([policy("a", {}, { uid: undefined })]);
    expect(owned.every((np) => np.metadata?.ownerReferences?.length === 0)).toBe(true);
  });
});

describe("networkPolicyWrites", () => {
  it("should create everything in an empty namespace", () => {
    const { owned } = desiredFor([policy("a")]);
    const writes = networkPolicyWrites(owned, []);
    expect(writes.create.map((np) => np.metadata?.name)).toEqual(["signet-allow-a", "signet-deny-payments"]);
    expect(writes.update).toEqual([]);
    expect(writes.delete).toEqual([]);
  });

  it("should write nothing when the server holds exactly what is desired", () => {
    const { owned } = desiredFor([policy("a")]);
    expect(
      networkPolicyWrites(
        owned,
        owned.map((np, i) => stored(np, String(i))),
      ),
    ).toEqual({
      create: [],
      update: [],
      delete: [],
    });
  });

  it("should update a deny whose owners alone changed, guarded by its resourceVersion", () => {
    const before = desiredFor([policy("a")]).owned.map((np, i) => stored(np, `7${i}`));
    const { owned } = desiredFor([policy("a"), policy("b")]);
    const writes = networkPolicyWrites(owned, before);
    const deny = writes.update.find((np) => np.metadata?.name === "signet-deny-payments");
    expect(deny?.metadata?.resourceVersion).toBe("71");
    expect(deny?.metadata?.ownerReferences?.map((o) => o.name)).toEqual(["a", "b"]);
    expect(writes.create.map((np) => np.metadata?.name)).toEqual(["signet-allow-b"]);
  });

  it("should restore an ingress rule changed by hand and keep labels and annotations others added", () => {
    const { owned } = desiredFor([policy("a")]);
    const actual = owned.map((np, i) => stored(np, String(i)));
    const allow = actual[0] as V1NetworkPolicy;
    (allow.spec?.ingress?.[0] as { from?: unknown }).from = [];
    allow.metadata = {
      ...allow.metadata,
      labels: { ...allow.metadata?.labels, team: "payments" },
      annotations: { note: "kept" },
    };
    const writes = networkPolicyWrites(owned, actual);
    expect(writes.update).toHaveLength(1);
    const update = writes.update[0] as V1NetworkPolicy;
    expect(update.spec).toEqual(owned[0]?.spec);
    expect(update.metadata?.labels?.team).toBe("payments");
    expect(update.metadata?.annotations).toEqual({ note: "kept" });
    expect(update.metadata?.resourceVersion).toBe("0");
  });

  it("should delete a Signet-labelled stray and the allow of a policy that became inactive", () => {
    const before = desiredFor([policy("a")]).owned.map((np, i) => stored(np, String(i)));
    const { owned } = desiredFor([policy("a", { suspend: true })]);
    const writes = networkPolicyWrites(owned, before);
    expect(writes.delete.map((np) => np.metadata?.name)).toEqual(["signet-allow-a"]);
    expect(writes.create).toEqual([]);
  });
});

describe("sameOwners", () => {
  it("should ignore order but not a changed uid", () => {
    const ref = (name: string, uid: string) => ({ apiVersion: "v", kind: "k", name, uid });
    const np = (refs: ReturnType<typeof ref>[]): V1NetworkPolicy => ({ metadata: { ownerReferences: refs } });
    expect(sameOwners(np([ref("a", "1"), ref("b", "2")]), np([ref("b", "2"), ref("a", "1")]))).toBe(true);
    expect(sameOwners(np([ref("a", "1")]), np([ref("a", "9")]))).toBe(false);
  });
});

describe("accessPolicyStatus", () => {
  const open: AccessPolicyDecision = {
    active: true,
    reason: "ScheduleActive",
    message: 'AccessSchedule "hours" is active: ingress allowed',
    nextTransition: new Date("2026-11-23T18:00:00Z"),
    networkPolicies: ["signet-allow-a", "signet-deny-payments"],
  };

  it("should carry the decision, the next transition as RFC 3339 and a True Ready once applied", () => {
    expect(accessPolicyStatus(policy("a"), open, true, now)).toEqual({
      active: true,
      reason: "ScheduleActive",
      nextTransition: "2026-11-23T18:00:00.000Z",
      networkPolicies: ["signet-allow-a", "signet-deny-payments"],
      observedGeneration: 2,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "ScheduleActive",
          message: open.message,
          lastTransitionTime: now.toISOString(),
          observedGeneration: 2,
        },
      ],
    });
  });

  it("should say Ready False while writes are pending", () => {
    const status = accessPolicyStatus(policy("a"), open, false, now);
    expect(status.conditions?.[0]).toMatchObject({ status: "False", reason: "NetworkPoliciesPending" });
  });

  it("should say Ready False with ScheduleNotFound when the schedule is missing", () => {
    const decision: AccessPolicyDecision = {
      active: false,
      reason: "ScheduleNotFound",
      message: 'spec.scheduleRef.name "gone": no AccessSchedule of that name',
      networkPolicies: ["signet-deny-payments"],
    };
    const status = accessPolicyStatus(policy("a"), decision, true, now);
    expect(status.nextTransition).toBeUndefined();
    expect(status.conditions?.[0]).toMatchObject({ status: "False", reason: "ScheduleNotFound" });
  });
});

describe("accessEvent", () => {
  const decision = (active: boolean, reason = active ? "Active" : "Suspended") =>
    ({ active, reason, message: "m", networkPolicies: [] }) as AccessPolicyDecision;

  it.each([
    ["should grant a new policy that opens access", undefined, decision(true), "Normal AccessGranted"],
    ["should stay silent for a new policy that starts closed", undefined, decision(false), undefined],
    ["should revoke when an active policy closes", { active: true }, decision(false), "Normal AccessRevoked"],
    ["should grant when a closed policy opens", { active: false }, decision(true), "Normal AccessGranted"],
    ["should stay silent while nothing changes", { active: true }, decision(true), undefined],
    [
      "should warn when the schedule is missing",
      { active: true },
      decision(false, "ScheduleNotFound"),
      "Warning ScheduleNotFound",
    ],
    [
      "should not repeat the missing-schedule warning",
      { active: false, reason: "ScheduleNotFound" },
      decision(false, "ScheduleNotFound"),
      undefined,
    ],
  ] as const)("%s", (_name, previous, next, expected) => {
    const event = accessEvent(previous, next);
    expect(event ? `${event.type} ${event.reason}` : undefined).toBe(expected);
  });
});

describe("event filters", () => {
  it.each([
    [
      "a spec the status has not seen",
      { metadata: { generation: 3 }, status: { observedGeneration: 2 } },
      true,
    ],
    ["an object without status", { metadata: { generation: 1 } }, true],
    ["a status-only write", { metadata: { generation: 3 }, status: { observedGeneration: 3 } }, false],
  ] as const)("hasUnobservedSpec should be right for %s", (_name, object, expected) => {
    expect(hasUnobservedSpec(object)).toBe(expected);
  });

  it("should see a policy being deleted as no longer live", () => {
    expect(isLive(policy("a"))).toBe(true);
    expect(isLive(policy("a", {}, { deletionTimestamp: "2026-11-23T09:00:00Z" }))).toBe(false);
  });

  it("should find the policies that name a schedule", () => {
    const policies = [policy("a", { scheduleRef: { name: "hours" } }), policy("b")];
    expect(referencesSchedule(policies, "hours")).toBe(true);
    expect(referencesSchedule(policies, "nights")).toBe(false);
  });
});

describe("namespacesNaming", () => {
  const inNamespace = (namespace: string, name: string, spec: Partial<AccessPolicySpec>) => {
    const p = policy(name, spec);
    return { ...p, metadata: { ...p.metadata, namespace } } as AccessPolicy;
  };
  const policies = [
    inNamespace("shop", "to-payments", {
      target: { identity: "payments" },
      allowFrom: [{ identity: "checkout" }],
    }),
    inNamespace("finance", "to-ledger", {
      target: { identity: "ledger" },
      allowFrom: [{ identity: "payments", namespace: "shop" }],
    }),
    inNamespace("staging", "to-payments", {
      target: { identity: "payments" },
      allowFrom: [{ identity: "web" }],
    }),
    inNamespace("audit", "from-checkout", {
      target: { identity: "reader" },
      allowFrom: [{ identity: "checkout", namespace: "shop" }],
    }),
  ];

  it.each([
    {
      name: "should find the target's own namespace and every namespace that lists it as a source",
      identity: ["shop", "payments"],
      expected: ["finance", "shop"],
    },
    {
      name: "should read a source without namespace as the policy's own namespace",
      identity: ["shop", "checkout"],
      expected: ["audit", "shop"],
    },
    {
      name: "should not match a target of the same name in another namespace",
      identity: ["staging", "payments"],
      expected: ["staging"],
    },
    { name: "should find nothing for an identity no policy names", identity: ["shop", "web"], expected: [] },
  ])("$name", ({ identity, expected }) => {
    const [namespace, name] = identity as [string, string];
    expect(namespacesNaming(policies, namespace, name)).toEqual(expected);
  });
});

describe("isSuspended", () => {
  it.each([
    { name: "should be true for spec.suspend true", identity: { spec: { suspend: true } }, expected: true },
    {
      name: "should be false for spec.suspend false",
      identity: { spec: { suspend: false } },
      expected: false,
    },
    { name: "should be false for a missing field", identity: { spec: {} }, expected: false },
    { name: "should be false for an identity that does not exist", identity: undefined, expected: false },
  ])("$name", ({ identity, expected }) => {
    expect(isSuspended(identity as Parameters<typeof isSuspended>[0])).toBe(expected);
  });
});
