import { describe, expect, it } from "vitest";
import {
  type AuditIdentityObject,
  type AuditInput,
  type AuditPodObject,
  type AuditPolicyObject,
  type AuditScheduleObject,
  accessEdges,
  buildAuditReport,
  policyState,
} from "./report.ts";

// Monday 2026-03-02, 12:00 UTC.
const now = new Date("2026-03-02T12:00:00Z");

function identity(
  namespace: string,
  name: string,
  extra: Partial<AuditIdentityObject> = {},
): AuditIdentityObject {
  return { metadata: { name, namespace }, spec: {}, ...extra };
}

function issued(namespace: string, name: string, notAfter: string, rotations = 1): AuditIdentityObject {
  return identity(namespace, name, {
    status: {
      spiffeID: `spiffe://example.org/ns/${namespace}/id/${name}`,
      notAfter,
      rotations,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Issued",
          message: "",
          lastTransitionTime: "2026-03-02T11:00:00Z",
        },
      ],
    },
  });
}

function policy(
  namespace: string,
  name: string,
  target: string,
  from: { identity: string; namespace?: string }[],
  extra: Partial<AuditPolicyObject["spec"]> = {},
  status?: AuditPolicyObject["status"],
  generation?: number,
): AuditPolicyObject {
  return {
    metadata: { name, namespace, ...(generation === undefined ? {} : { generation }) },
    spec: { target: { identity: target }, allowFrom: from, ...extra },
    ...(status === undefined ? {} : { status }),
  };
}

function pod(namespace: string, name: string, identityLabel?: string): AuditPodObject {
  return {
    metadata: {
      name,
      namespace,
      labels: identityLabel === undefined ? {} : { "signet.dev/identity": identityLabel },
    },
  };
}

const businessHours: AuditScheduleObject = {
  metadata: { name: "business-hours", namespace: "shop" },
  spec: {
    timeZone: "UTC",
    windows: [{ days: ["Mon", "Tue", "Wed", "Thu", "Fri"], start: "08:00", end: "18:00" }],
  },
};
const nights: AuditScheduleObject = {
  metadata: { name: "nights", namespace: "shop" },
  spec: { timeZone: "UTC", windows: [{ days: ["Mon"], start: "22:00", end: "06:00" }] },
};

function input(partial: Partial<AuditInput>): AuditInput {
  return {
    now,
    trustDomain: "cluster.local",
    identities: [],
    policies: [],
    schedules: [],
    pods: [],
    ...partial,
  };
}

describe("policyState", () => {
  it.each<[string, AuditPolicyObject, { active: boolean; reason: string; activeFrom: string }]>([
    [
      "should trust the operator's status when it is about the current generation",
      policy(
        "shop",
        "p",
        "a",
        [{ identity: "b" }],
        { scheduleRef: { name: "nights" } },
        {
          active: true,
          reason: "ScheduleActive",
          observedGeneration: 2,
        },
        2,
      ),
      { active: true, reason: "ScheduleActive", activeFrom: "status" },
    ],
    [
      "should trust a status without observedGeneration",
      policy("shop", "p", "a", [{ identity: "b" }], {}, { active: false, reason: "Suspended" }),
      { active: false, reason: "Suspended", activeFrom: "status" },
    ],
    [
      "should compute the state when the status was written for an older generation",
      policy(
        "shop",
        "p",
        "a",
        [{ identity: "b" }],
        { suspend: true },
        {
          active: true,
          reason: "Active",
          observedGeneration: 1,
        },
        2,
      ),
      { active: false, reason: "Suspended", activeFrom: "computed" },
    ],
    [
      "should compute a policy without a schedule as active",
      policy("shop", "p", "a", [{ identity: "b" }]),
      { active: true, reason: "Active", activeFrom: "computed" },
    ],
    [
      "should compute a suspended policy as inactive",
      policy("shop", "p", "a", [{ identity: "b" }], { suspend: true }),
      { active: false, reason: "Suspended", activeFrom: "computed" },
    ],
    [
      "should compute a policy inside its schedule's window as active",
      policy("shop", "p", "a", [{ identity: "b" }], { scheduleRef: { name: "business-hours" } }),
      { active: true, reason: "ScheduleActive", activeFrom: "computed" },
    ],
    [
      "should compute a policy outside its schedule's window as inactive",
      policy("shop", "p", "a", [{ identity: "b" }], { scheduleRef: { name: "nights" } }),
      { active: false, reason: "ScheduleInactive", activeFrom: "computed" },
    ],
    [
      "should compute a policy whose schedule is missing as inactive",
      policy("shop", "p", "a", [{ identity: "b" }], { scheduleRef: { name: "gone" } }),
      { active: false, reason: "ScheduleNotFound", activeFrom: "computed" },
    ],
    [
      "should not use a schedule of the same name from another namespace",
      policy("other", "p", "a", [{ identity: "b" }], { scheduleRef: { name: "business-hours" } }),
      { active: false, reason: "ScheduleNotFound", activeFrom: "computed" },
    ],
  ])("%s", (_name, p, expected) => {
    expect(policyState(p, [businessHours, nights], now)).toEqual(expected);
  });
});

describe("accessEdges", () => {
  it("should give one edge per distinct source, defaulting the namespace to the policy's", () => {
    const edges = accessEdges(
      [
        policy("shop", "to-payments", "payments", [
          { identity: "checkout" },
          { identity: "checkout", namespace: "shop" },
          { identity: "ledger", namespace: "finance" },
        ]),
      ],
      [],
      now,
    );
    expect(edges.map((e) => `${e.from} -> ${e.to} via ${e.policy}`)).toEqual([
      "finance/ledger -> shop/payments via shop/to-payments",
      "shop/checkout -> shop/payments via shop/to-payments",
    ]);
  });

  it("should show a suspended identity's edges inactive, as source or as target, whatever the status says", () => {
    const suspendedId = (namespace: string, name: string) => ({
      metadata: { name, namespace },
      spec: { suspend: true },
    });
    const active = {
      ...policy("shop", "to-payments", "payments", [{ identity: "checkout" }, { identity: "orders" }]),
      status: { active: true, reason: "Active" },
    };
    const toLedger = policy("finance", "to-ledger", "ledger", [{ identity: "checkout", namespace: "shop" }]);
    const edges = accessEdges([active, toLedger], [], now, [suspendedId("shop", "checkout")]);
    expect(edges.map((e) => `${e.from} -> ${e.to}: ${e.active} ${e.reason}`)).toEqual([
      "shop/checkout -> finance/ledger: false SourceSuspended",
      "shop/checkout -> shop/payments: false SourceSuspended",
      "shop/orders -> shop/payments: true Active",
    ]);
    const target = accessEdges([active], [], now, [suspendedId("shop", "payments")]);
    expect(target.map((e) => `${e.from}: ${e.active} ${e.reason}`)).toEqual([
      "shop/checkout: false TargetSuspended",
      "shop/orders: false TargetSuspended",
    ]);
  });

  it("should list ports numerically with the protocol defaulted to TCP", () => {
    const [edge] = accessEdges(
      [
        policy("shop", "p", "a", [{ identity: "b" }], {
          target: { identity: "a", ports: [{ port: 9090, protocol: "UDP" }, { port: 443 }, { port: 8443 }] },
        }),
      ],
      [],
      now,
    );
    expect(edge?.ports).toEqual(["443/TCP", "8443/TCP", "9090/UDP"]);
  });

  it("should leave ports empty when the policy allows every port", () => {
    expect(accessEdges([policy("shop", "p", "a", [{ identity: "b" }])], [], now)[0]?.ports).toEqual([]);
  });

  it("should order edges by source, then target, then policy whatever the input order", () => {
    const policies = [
      policy("shop", "z", "a", [{ identity: "c" }]),
      policy("shop", "y", "a", [{ identity: "c" }]),
      policy("shop", "x", "b", [{ identity: "a" }]),
    ];
    const forward = accessEdges(policies, [], now);
    expect(forward.map((e) => `${e.from}>${e.to}:${e.policy}`)).toEqual([
      "shop/a>shop/b:shop/x",
      "shop/c>shop/a:shop/y",
      "shop/c>shop/a:shop/z",
    ]);
    expect(accessEdges([...policies].reverse(), [], now)).toEqual(forward);
  });
});

describe("buildAuditReport", () => {
  const world = input({
    identities: [
      issued("shop", "payments", "2026-03-02T12:42:00Z", 7),
      issued("shop", "checkout", "2026-03-02T11:57:00Z", 2),
      identity("finance", "ledger", { spec: { spiffeID: "spiffe://corp.example/ledger" } }),
      identity("shop", "batch", { spec: { suspend: true } }),
    ],
    policies: [
      policy("shop", "checkout-to-payments", "payments", [{ identity: "checkout" }], {
        target: { identity: "payments", ports: [{ port: 8443, protocol: "TCP" }] },
      }),
      policy("shop", "ledger-to-payments", "payments", [{ identity: "ledger", namespace: "finance" }], {
        scheduleRef: { name: "nights" },
      }),
      policy(
        "finance",
        "shop-to-ledger",
        "ledger",
        [{ identity: "payments", namespace: "shop" }],
        {},
        {
          active: true,
          reason: "Active",
        },
      ),
    ],
    schedules: [businessHours, nights],
    pods: [
      pod("shop", "payments-7d9f-b", "payments"),
      pod("shop", "payments-7d9f-a", "payments"),
      pod("shop", "checkout-1", "checkout"),
      pod("shop", "unlabelled"),
      pod("finance", "impostor", "payments"),
    ],
  });
  const report = buildAuditReport(world);
  const byName = (namespace: string, name: string) => {
    const found = report.identities.find((i) => i.namespace === namespace && i.name === name);
    if (found === undefined) throw new Error(`no ${namespace}/${name} in the report`);
    return found;
  };

  it("should stamp the report with the injected clock", () => {
    expect(report.generatedAt).toBe("2026-03-02T12:00:00.000Z");
  });

  it("should list identities by namespace, then name", () => {
    expect(report.identities.map((i) => `${i.namespace}/${i.name}`)).toEqual([
      "finance/ledger",
      "shop/batch",
      "shop/checkout",
      "shop/payments",
    ]);
  });

  it("should list as consumers only the pods labelled with the identity in its own namespace, sorted", () => {
    expect(byName("shop", "payments").consumers).toEqual(["payments-7d9f-a", "payments-7d9f-b"]);
    expect(byName("shop", "checkout").consumers).toEqual(["checkout-1"]);
    expect(byName("finance", "ledger").consumers).toEqual([]);
  });

  it("should take the SPIFFE ID from status, then spec, then the default form", () => {
    expect(byName("shop", "payments").spiffeID).toBe("spiffe://example.org/ns/shop/id/payments");
    expect(byName("finance", "ledger").spiffeID).toBe("spiffe://corp.example/ledger");
    expect(byName("shop", "batch").spiffeID).toBe("spiffe://cluster.local/ns/shop/id/batch");
  });

  it("should report expiry relative to now, past or future, and none before issuance", () => {
    expect(byName("shop", "payments")).toMatchObject({
      notAfter: "2026-03-02T12:42:00.000Z",
      expiry: "in 42m",
    });
    expect(byName("shop", "checkout")).toMatchObject({ expiry: "expired 3m ago" });
    expect(byName("finance", "ledger")).toMatchObject({ notAfter: null, expiry: null, rotations: 0 });
  });

  it("should report readiness from the Ready condition, Unknown without one, and suspension from the spec", () => {
    expect(byName("shop", "payments")).toMatchObject({
      ready: true,
      readyReason: "Issued",
      suspended: false,
    });
    expect(byName("shop", "batch")).toMatchObject({ ready: false, readyReason: "Unknown", suspended: true });
  });

  it("should carry rotations from status", () => {
    expect(byName("shop", "payments").rotations).toBe(7);
  });

  it("should list the policies that let an identity in, with their sources and state", () => {
    expect(byName("shop", "payments").inbound).toEqual([
      {
        policy: "shop/checkout-to-payments",
        peer: "shop/checkout",
        active: true,
        reason: "Active",
        activeFrom: "computed",
      },
      {
        policy: "shop/ledger-to-payments",
        peer: "finance/ledger",
        active: false,
        reason: "ScheduleInactive",
        activeFrom: "computed",
      },
    ]);
  });

  it("should list the policies that let an identity out, including ones in other namespaces", () => {
    expect(byName("shop", "payments").outbound).toEqual([
      {
        policy: "finance/shop-to-ledger",
        peer: "finance/ledger",
        active: true,
        reason: "Active",
        activeFrom: "status",
      },
    ]);
    expect(byName("finance", "ledger").outbound.map((l) => l.policy)).toEqual(["shop/ledger-to-payments"]);
  });

  it("should give every edge with its ports and active flag", () => {
    expect(report.edges).toEqual([
      {
        from: "finance/ledger",
        to: "shop/payments",
        policy: "shop/ledger-to-payments",
        active: false,
        activeFrom: "computed",
        reason: "ScheduleInactive",
        ports: [],
      },
      {
        from: "shop/checkout",
        to: "shop/payments",
        policy: "shop/checkout-to-payments",
        active: true,
        activeFrom: "computed",
        reason: "Active",
        ports: ["8443/TCP"],
      },
      {
        from: "shop/payments",
        to: "finance/ledger",
        policy: "finance/shop-to-ledger",
        active: true,
        activeFrom: "status",
        reason: "Active",
        ports: [],
      },
    ]);
  });

  it("should give the same report for the same cluster read in any order", () => {
    const shuffled = input({
      identities: [...world.identities].reverse(),
      policies: [...world.policies].reverse(),
      schedules: [...world.schedules].reverse(),
      pods: [...world.pods].reverse(),
    });
    expect(buildAuditReport(shuffled)).toEqual(report);
  });

  it("should keep to one namespace: its identities and the edges with an end in it", () => {
    const finance = buildAuditReport({ ...world, namespace: "finance" });
    expect(finance.identities.map((i) => i.name)).toEqual(["ledger"]);
    expect(finance.edges.map((e) => e.policy)).toEqual(["shop/ledger-to-payments", "finance/shop-to-ledger"]);
  });

  it("should drop edges with neither end in the chosen namespace", () => {
    expect(buildAuditReport({ ...world, namespace: "elsewhere" })).toEqual({
      generatedAt: report.generatedAt,
      identities: [],
      edges: [],
    });
  });

  it("should report an empty cluster as empty lists", () => {
    expect(buildAuditReport(input({}))).toEqual({
      generatedAt: "2026-03-02T12:00:00.000Z",
      identities: [],
      edges: [],
    });
  });

  it("should ignore a notAfter that is not a date rather than print Invalid Date", () => {
    const broken = identity("shop", "x", { status: { notAfter: "yesterday" } });
    expect(buildAuditReport(input({ identities: [broken] })).identities[0]).toMatchObject({
      notAfter: null,
      expiry: null,
    });
  });
});

describe("buildAuditReport, pod certificates", () => {
  const base = { now, trustDomain: "example.org", policies: [], schedules: [], pods: [] };

  it("should report the delivery and what the signer did for a PodCertificate identity", () => {
    const denial = {
      time: "2026-03-02T11:59:00Z",
      pod: "shop/api-1",
      reason: "Suspended",
      message: "suspended",
    };
    const report = buildAuditReport({
      ...base,
      identities: [
        identity("shop", "api", {
          spec: { delivery: "PodCertificate" },
          status: {
            podCertificates: {
              issued: 7,
              denied: 2,
              lastIssueTime: "2026-03-02T11:58:00Z",
              lastDenial: denial,
            },
          },
        }),
        identity("shop", "legacy"),
      ],
    });
    const [api, legacy] = report.identities;
    expect(api?.delivery).toBe("PodCertificate");
    expect(api?.podCertificates).toEqual({
      issued: 7,
      denied: 2,
      lastIssueTime: "2026-03-02T11:58:00Z",
      lastDenial: denial,
    });
    expect(legacy?.delivery).toBe("Secret");
    expect(legacy?.podCertificates).toBeNull();
  });

  it("should count zero for a PodCertificate identity the signer has not answered for yet", () => {
    const report = buildAuditReport({
      ...base,
      identities: [identity("shop", "api", { spec: { delivery: "PodCertificate" } })],
    });
    expect(report.identities[0]?.podCertificates).toEqual({ issued: 0, denied: 0 });
  });
});
