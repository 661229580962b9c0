import { describe, expect, it } from "vitest";
import type { Condition } from "../api/index.ts";
import type { AuditPodObject, AuditScheduleObject } from "../audit/report.ts";
import { renderStatusScreen } from "./render.ts";
import {
  buildStatusScreen,
  RENEWAL_GRACE_MS,
  type StatusIdentityObject,
  type StatusInput,
  type StatusPolicyObject,
} from "./screen.ts";

// The injected clock: a Wednesday, inside the business-hours window below.
const NOW = new Date("2026-12-02T10:00:00Z");
const T = (hhmmss: string) => `2026-12-02T${hhmmss}Z`;

const cond = (type: string, status: "True" | "False", reason: string, message = reason): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: T("09:00:00"),
});

function identity(
  name: string,
  options: {
    namespace?: string;
    ready?: Condition | undefined;
    issuing?: Condition;
    notAfter?: string;
    renewalTime?: string;
    suspend?: boolean;
    scheduleRef?: string;
  } = {},
): StatusIdentityObject {
  const conditions = [options.ready, options.issuing].filter((c): c is Condition => c !== undefined);
  return {
    metadata: { name, namespace: options.namespace ?? "shop" },
    spec: {
      ...(options.suspend ? { suspend: true } : {}),
      ...(options.scheduleRef ? { scheduleRef: { name: options.scheduleRef } } : {}),
    },
    ...(conditions.length === 0 && options.notAfter === undefined
      ? {}
      : {
          status: {
            conditions,
            ...(options.notAfter ? { notAfter: options.notAfter } : {}),
            ...(options.renewalTime ? { renewalTime: options.renewalTime } : {}),
          },
        }),
  };
}

const issued = cond("Ready", "True", "Issued");

const identities: StatusIdentityObject[] = [
  identity("payments", { ready: issued, notAfter: T("10:42:00"), renewalTime: T("10:22:00") }),
  identity("checkout", { ready: cond("Ready", "False", "IssuanceFailed", "the CA Secret is missing") }),
  identity("batch", { ready: cond("Ready", "False", "Suspended"), suspend: true }),
  identity("stale", { ready: issued, notAfter: T("10:05:00"), renewalTime: T("09:50:00") }),
  identity("in-window", {
    ready: issued,
    notAfter: T("18:00:00"),
    renewalTime: T("09:55:00"),
    scheduleRef: "business-hours",
  }),
  identity("fresh"),
  identity("night-job", { ready: cond("Ready", "False", "OutsideWindow"), scheduleRef: "night" }),
  identity("renewing", {
    ready: issued,
    issuing: cond("Issuing", "True", "IssuanceFailed", "minting failed: key too weak"),
    notAfter: T("10:50:00"),
    renewalTime: T("10:30:00"),
  }),
  identity("ledger", {
    namespace: "finance",
    ready: issued,
    notAfter: T("11:00:00"),
    renewalTime: T("10:40:00"),
  }),
];

function policy(
  name: string,
  spec: Partial<StatusPolicyObject["spec"]> & { target: { identity: string } },
  options: { namespace?: string; generation?: number; status?: StatusPolicyObject["status"] } = {},
): StatusPolicyObject {
  return {
    metadata: { name, namespace: options.namespace ?? "shop", generation: options.generation ?? 1 },
    spec: { allowFrom: [{ identity: "checkout" }], ...spec },
    ...(options.status ? { status: options.status } : {}),
  };
}

const policies: StatusPolicyObject[] = [
  policy(
    "checkout-to-payments",
    { target: { identity: "payments" } },
    {
      status: {
        active: true,
        reason: "Active",
        observedGeneration: 1,
        conditions: [cond("Ready", "True", "Active")],
      },
    },
  ),
  policy("batch-to-payments", {
    target: { identity: "payments" },
    allowFrom: [{ identity: "batch" }],
    suspend: true,
  }),
  policy("ledger-to-payments", {
    target: { identity: "payments" },
    allowFrom: [{ identity: "ledger", namespace: "finance" }, { identity: "checkout" }],
    scheduleRef: { name: "on-call" },
  }),
  policy("to-checkout", { target: { identity: "checkout" }, scheduleRef: { name: "nope" } }),
  policy("to-batch", { target: { identity: "batch" } }),
  policy(
    "pending",
    { target: { identity: "payments" } },
    {
      status: {
        active: true,
        reason: "Active",
        observedGeneration: 1,
        conditions: [cond("Ready", "False", "NetworkPoliciesPending", "NetworkPolicies are being written")],
      },
    },
  ),
  policy(
    "business",
    { target: { identity: "payments" }, scheduleRef: { name: "business-hours" } },
    { generation: 2, status: { active: false, reason: "ScheduleInactive", observedGeneration: 1 } },
  ),
  policy(
    "night-access",
    { target: { identity: "payments" }, scheduleRef: { name: "business-hours" } },
    {
      status: {
        active: false,
        reason: "ScheduleInactive",
        observedGeneration: 1,
        nextTransition: T("12:00:00"),
      },
    },
  ),
  policy(
    "from-shop",
    { target: { identity: "ledger" }, allowFrom: [{ identity: "payments", namespace: "shop" }] },
    {
      namespace: "finance",
    },
  ),
];

const schedules: AuditScheduleObject[] = [
  {
    metadata: { name: "on-call", namespace: "shop" },
    spec: {
      grants: [
        { start: T("09:45:00"), end: T("10:30:00"), reason: "incident 4711" },
        { start: "2026-12-03T09:00:00Z", end: "2026-12-03T10:00:00Z" },
      ],
    },
  },
  {
    metadata: { name: "business-hours", namespace: "shop" },
    spec: { windows: [{ days: ["Mon", "Tue", "Wed", "Thu", "Fri"], start: "08:00", end: "18:00" }] },
  },
  {
    metadata: { name: "night", namespace: "shop" },
    spec: { windows: [{ days: ["Wed"], start: "22:00", end: "06:00" }] },
  },
  {
    metadata: { name: "frozen", namespace: "shop" },
    spec: { suspend: true, grants: [{ start: T("09:00:00"), end: T("11:00:00") }] },
  },
  { metadata: { name: "broken", namespace: "shop" }, spec: { timeZone: "Mars/Olympus" } },
  { metadata: { name: "idle", namespace: "shop" }, spec: {} },
];

const pods: AuditPodObject[] = [
  { metadata: { name: "payments-0", namespace: "shop", labels: { "signet.dev/identity": "payments" } } },
  { metadata: { name: "payments-1", namespace: "shop", labels: { "signet.dev/identity": "payments" } } },
  { metadata: { name: "elsewhere", namespace: "finance", labels: { "signet.dev/identity": "payments" } } },
];

const input: StatusInput = {
  now: NOW,
  trustDomain: "cluster.local",
  identities,
  policies,
  schedules,
  pods,
  namespace: "shop",
};

describe("buildStatusScreen: problems", () => {
  it("should list what fails first, then what is suspended, each group by kind and name", () => {
    expect(buildStatusScreen(input).problems).toEqual([
      {
        kind: "failing",
        object: "identity shop/checkout",
        problem: "not Ready (IssuanceFailed): the CA Secret is missing",
      },
      {
        kind: "failing",
        object: "identity shop/fresh",
        problem: "not Ready: the operator has reported no status yet",
      },
      {
        kind: "failing",
        object: "identity shop/renewing",
        problem: "issuance failing: minting failed: key too weak",
      },
      {
        kind: "failing",
        object: "identity shop/stale",
        problem: "renewal overdue: it was due 10m ago, and the certificate expires in 5m",
      },
      {
        kind: "failing",
        object: "policy shop/pending",
        problem: "not in force (NetworkPoliciesPending): NetworkPolicies are being written",
      },
      {
        kind: "failing",
        object: "policy shop/to-batch",
        problem: "denied (TargetSuspended): its target identity shop/batch is suspended",
      },
      {
        kind: "failing",
        object: "policy shop/to-checkout",
        problem: "denied (ScheduleNotFound): its spec.scheduleRef names no AccessSchedule",
      },
      {
        kind: "failing",
        object: "schedule shop/broken",
        problem: expect.stringMatching(/^invalid \(InvalidTimeZone\): spec.timeZone "Mars\/Olympus"/),
      },
      {
        kind: "suspended",
        object: "identity shop/batch",
        problem: "suspended (spec.suspend): no credential, no access",
      },
      {
        kind: "suspended",
        object: "policy shop/batch-to-payments",
        problem: "suspended (spec.suspend): its allow rule is removed",
      },
      {
        kind: "suspended",
        object: "schedule shop/frozen",
        problem: "suspended (spec.suspend): every policy and identity that follows it is closed",
      },
    ]);
  });

  it("should not count an identity outside its window, or a certificate that ends with its window, as a problem", () => {
    const objects = buildStatusScreen(input).problems.map((p) => p.object);
    expect(objects).not.toContain("identity shop/night-job");
    expect(objects).not.toContain("identity shop/in-window");
    expect(objects).not.toContain("identity shop/payments");
  });

  it("should count a certificate that stops short of its window's end and was not renewed", () => {
    const early = identity("in-window", {
      ready: issued,
      notAfter: T("11:00:00"),
      renewalTime: T("09:55:00"),
      scheduleRef: "business-hours",
    });
    const screen = buildStatusScreen({ ...input, identities: [early] });
    expect(screen.problems.filter((p) => p.object.startsWith("identity")).map((p) => p.problem)).toEqual([
      "renewal overdue: it was due 5m ago, and the certificate expires in 1h",
    ]);
  });

  it("should give a renewal its grace before calling it overdue", () => {
    const due = (renewalMs: number) =>
      buildStatusScreen({
        ...input,
        identities: [
          identity("x", {
            ready: issued,
            notAfter: T("11:00:00"),
            renewalTime: new Date(renewalMs).toISOString(),
          }),
        ],
        policies: [],
        schedules: [],
      }).problems.length;
    expect(due(NOW.getTime() - RENEWAL_GRACE_MS + 1)).toBe(0);
    expect(due(NOW.getTime() - RENEWAL_GRACE_MS)).toBe(1);
  });

  it("should say an expired certificate expired", () => {
    const screen = buildStatusScreen({
      ...input,
      identities: [identity("x", { ready: issued, notAfter: T("09:58:00"), renewalTime: T("09:40:00") })],
      policies: [],
      schedules: [],
    });
    expect(screen.problems.map((p) => p.problem)).toEqual([
      "renewal overdue: it was due 20m ago, and the certificate expired 2m ago",
    ]);
  });

  it("should find no problem in a healthy namespace", () => {
    const screen = buildStatusScreen({
      ...input,
      identities: [identities[0] as StatusIdentityObject],
      policies: [policies[0] as StatusPolicyObject],
      schedules: [schedules[1] as AuditScheduleObject],
    });
    expect(screen.problems).toEqual([]);
  });
});

describe("buildStatusScreen: rows", () => {
  const screen = buildStatusScreen(input);

  it("should list the namespace's identities with expiry, next rotation and consumers", () => {
    expect(screen.scope).toBe("namespace shop");
    expect(screen.identities.map((i) => i.name)).toEqual([
      "batch",
      "checkout",
      "fresh",
      "in-window",
      "night-job",
      "payments",
      "renewing",
      "stale",
    ]);
    expect(screen.identities.find((i) => i.name === "payments")).toEqual({
      namespace: "shop",
      name: "payments",
      ready: true,
      readyReason: "Issued",
      suspended: false,
      notAfter: "2026-12-02T10:42:00.000Z",
      renewalTime: "2026-12-02T10:22:00.000Z",
      consumers: 2,
      delivery: "Secret",
      podCertificates: null,
    });
  });

  it("should take a policy's state from its status while that is current, and compute it otherwise", () => {
    const row = (name: string) => screen.policies.find((p) => p.name === name);
    expect(row("checkout-to-payments")).toEqual({
      namespace: "shop",
      name: "checkout-to-payments",
      target: "shop/payments",
      from: ["shop/checkout"],
      active: true,
      reason: "Active",
      nextTransition: null,
    });
    // Status current: its word and its nextTransition, whatever the schedule says now.
    expect(row("night-access")).toMatchObject({
      active: false,
      reason: "ScheduleInactive",
      nextTransition: "2026-12-02T12:00:00.000Z",
    });
    // Status for an older generation: computed from the schedule, open until 18:00.
    expect(row("business")).toMatchObject({
      active: true,
      reason: "ScheduleActive",
      nextTransition: "2026-12-02T18:00:00.000Z",
    });
    // No status at all: computed, open with the grant until 10:30.
    expect(row("ledger-to-payments")).toMatchObject({
      from: ["finance/ledger", "shop/checkout"],
      active: true,
      reason: "ScheduleActive",
      nextTransition: "2026-12-02T10:30:00.000Z",
    });
    expect(row("to-batch")).toMatchObject({ active: false, reason: "TargetSuspended" });
    expect(screen.policies.map((p) => p.namespace)).not.toContain("finance");
  });

  it("should show each schedule's state now: the open grant or window, until when, and what comes next", () => {
    const row = (name: string) => screen.schedules.find((s) => s.name === name);
    expect(row("on-call")).toEqual({
      namespace: "shop",
      name: "on-call",
      active: true,
      reason: "InsideGrant",
      openUntil: "2026-12-02T10:30:00.000Z",
      openGrants: ["incident 4711"],
      nextTransition: "2026-12-02T10:30:00.000Z",
      upcomingGrants: 1,
      message: expect.stringContaining("inside grant"),
    });
    expect(row("business-hours")).toMatchObject({
      active: true,
      reason: "InsideWindow",
      openUntil: "2026-12-02T18:00:00.000Z",
      openGrants: [],
    });
    expect(row("night")).toMatchObject({
      active: false,
      reason: "OutsideWindows",
      openUntil: null,
      nextTransition: "2026-12-02T22:00:00.000Z",
    });
    expect(row("frozen")).toMatchObject({
      active: false,
      reason: "Suspended",
      openGrants: [],
      nextTransition: null,
    });
    expect(row("idle")).toMatchObject({ active: false, reason: "NoWindows", nextTransition: null });
  });

  it("should cover every namespace without a namespace", () => {
    const { namespace: _, ...everywhere } = input;
    const all = buildStatusScreen(everywhere);
    expect(all.scope).toBe("all namespaces");
    expect(all.identities.map((i) => `${i.namespace}/${i.name}`)).toContain("finance/ledger");
    expect(all.policies.map((p) => `${p.namespace}/${p.name}`)).toContain("finance/from-shop");
  });
});

describe("renderStatusScreen", () => {
  const small: StatusInput = {
    ...input,
    identities: [identities[0], identities[1], identities[2]] as StatusIdentityObject[],
    policies: [policies[0], policies[2]] as StatusPolicyObject[],
    schedules: [schedules[0], schedules[2]] as AuditScheduleObject[],
  };

  it("should print problems first, then identities, policies and schedules, on one screen", () => {
    expect(renderStatusScreen(buildStatusScreen(small), "table")).toBe(
      `Signet status of namespace shop at 2026-12-02T10:00:00Z: 3 identities (1 Ready), 2 policies (2 active), 2 schedules (1 open)

PROBLEMS (2)
identity shop/checkout  not Ready (IssuanceFailed): the CA Secret is missing
identity shop/batch     suspended (spec.suspend): no credential, no access

IDENTITIES
NAME      READY                  EXPIRES  NEXT ROTATION  CONSUMERS  DELIVERY
batch     Suspended              -        -              0          Secret
checkout  False(IssuanceFailed)  -        -              0          Secret
payments  True                   in 42m   in 22m         2          Secret

POLICIES
NAME                  TARGET    FROM                     ACTIVE  NEXT
checkout-to-payments  payments  checkout                 true    -
ledger-to-payments    payments  finance/ledger,checkout  true    closes in 30m (10:30:00Z)

SCHEDULES
NAME     NOW                                          NEXT
night    closed(OutsideWindows)                       opens in 12h (22:00:00Z)
on-call  open: grant "incident 4711" until 10:30:00Z  closes in 30m (10:30:00Z) (1 grant ahead)
`,
    );
  });

  it("should add the namespace column across namespaces, and say when there is nothing", () => {
    const { namespace: _, ...everywhere } = small;
    const text = renderStatusScreen(
      buildStatusScreen({
        ...everywhere,
        identities: [identities[0] as StatusIdentityObject],
        policies: [],
        schedules: [],
      }),
      "table",
    );
    expect(text).toContain("PROBLEMS\nNone.");
    expect(text).toContain("NAMESPACE  NAME      READY");
    expect(text).toContain("shop       payments  True");
    expect(text).toContain("POLICIES\nNo AccessPolicies.");
    expect(text).toContain("SCHEDULES\nNo AccessSchedules.");
  });

  it("should carry the screen exactly as JSON", () => {
    const screen = buildStatusScreen(small);
    expect(JSON.parse(renderStatusScreen(screen, "json"))).toEqual(screen);
  });
});
