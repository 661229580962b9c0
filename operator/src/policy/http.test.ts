import { describe, expect, it } from "vitest";
import {
  type AccessScheduleObjectInput,
  AuthorizationReason,
  type HttpRequestInput,
  httpDecision,
  pathMatches,
} from "./http.ts";
import {
  type AccessPolicyInput,
  type AccessPolicySourceInput,
  networkPoliciesFor,
} from "./networkpolicies.ts";

// Wednesday 2026-11-18, 10:00 in Berlin (UTC+1): inside business hours.
const INSIDE = new Date("2026-11-18T09:00:00Z");
// The same day at 20:00 in Berlin: outside.
const OUTSIDE = new Date("2026-11-18T19:00:00Z");

const businessHours: AccessScheduleObjectInput = {
  metadata: { name: "business-hours", namespace: "shop" },
  spec: {
    timeZone: "Europe/Berlin",
    windows: [{ days: ["Mon", "Tue", "Wed", "Thu", "Fri"], start: "08:00", end: "18:00" }],
  },
};

function policy(
  name: string,
  allowFrom: AccessPolicySourceInput[],
  extra: Partial<AccessPolicyInput["spec"]> = {},
  namespace = "shop",
): AccessPolicyInput {
  return {
    metadata: { name, namespace },
    spec: { target: { identity: "payments-api" }, allowFrom, ...extra },
  };
}

function request(overrides: Partial<HttpRequestInput> = {}): HttpRequestInput {
  return {
    source: { namespace: "shop", identity: "checkout" },
    target: { namespace: "shop", identity: "payments-api" },
    method: "POST",
    path: "/v1/charges",
    now: INSIDE,
    ...overrides,
  };
}

const payOnly = { methods: ["POST"], paths: ["/v1/charges", "/v1/refunds/*"] };

interface Case {
  name: string;
  policies: AccessPolicyInput[];
  request?: Partial<HttpRequestInput>;
  suspended?: string[];
  reason: AuthorizationReason;
  policy?: string;
  message?: RegExp;
}

const CASES: Case[] = [
  {
    name: "should allow a caller named without http rules any method and path",
    policies: [policy("checkout-to-payments", [{ identity: "checkout" }])],
    request: { method: "DELETE", path: "/anything/at/all" },
    reason: AuthorizationReason.Allowed,
    policy: "checkout-to-payments",
  },
  {
    name: "should allow an exact path and method the caller's entry lists",
    policies: [policy("pay", [{ identity: "checkout", http: payOnly }])],
    reason: AuthorizationReason.Allowed,
    policy: "pay",
  },
  {
    name: "should allow a path below a prefix",
    policies: [policy("pay", [{ identity: "checkout", http: payOnly }])],
    request: { path: "/v1/refunds/r-17" },
    reason: AuthorizationReason.Allowed,
  },
  {
    name: "should allow the prefix's own directory path",
    policies: [policy("pay", [{ identity: "checkout", http: payOnly }])],
    request: { path: "/v1/refunds/" },
    reason: AuthorizationReason.Allowed,
  },
  {
    name: "should refuse the prefix without its trailing slash",
    policies: [policy("pay", [{ identity: "checkout", http: payOnly }])],
    request: { path: "/v1/refunds" },
    reason: AuthorizationReason.PathNotAllowed,
    policy: "pay",
  },
  {
    name: "should refuse a sibling that only shares the prefix's characters",
    policies: [policy("pay", [{ identity: "checkout", http: payOnly }])],
    request: { path: "/v1/refundsX/1" },
    reason: AuthorizationReason.PathNotAllowed,
  },
  {
    name: "should refuse a path below an exact path",
    policies: [policy("pay", [{ identity: "checkout", http: payOnly }])],
    request: { path: "/v1/charges/1" },
    reason: AuthorizationReason.PathNotAllowed,
    message: /AccessPolicy "pay" allows "shop\/checkout" POST, but not on the path \/v1\/charges\/1/,
  },
  {
    name: "should refuse a method the entry does not list",
    policies: [policy("pay", [{ identity: "checkout", http: payOnly }])],
    request: { method: "GET" },
    reason: AuthorizationReason.MethodNotAllowed,
    policy: "pay",
    message: /AccessPolicy "pay" names "shop\/checkout", but not for the method GET/,
  },
  {
    name: "should allow every path with the prefix /*",
    policies: [policy("get", [{ identity: "checkout", http: { methods: ["GET"], paths: ["/*"] } }])],
    request: { method: "GET", path: "/" },
    reason: AuthorizationReason.Allowed,
  },
  {
    name: "should allow any method on a listed path when methods are absent",
    policies: [policy("p", [{ identity: "checkout", http: { paths: ["/v1/charges"] } }])],
    request: { method: "PATCH" },
    reason: AuthorizationReason.Allowed,
  },
  {
    name: "should allow when one of two entries for the caller matches",
    policies: [
      policy("two", [
        { identity: "checkout", http: { methods: ["GET"] } },
        { identity: "checkout", http: { methods: ["POST"], paths: ["/v1/charges"] } },
      ]),
    ],
    reason: AuthorizationReason.Allowed,
    policy: "two",
  },
  {
    name: "should allow through a second policy when the first refuses the method",
    policies: [
      policy("a-read", [{ identity: "checkout", http: { methods: ["GET"] } }]),
      policy("b-write", [{ identity: "checkout", http: { methods: ["POST"] } }]),
    ],
    reason: AuthorizationReason.Allowed,
    policy: "b-write",
  },
  {
    name: "should report the path over the method when one policy has the method and another not",
    policies: [
      policy("a-read", [{ identity: "checkout", http: { methods: ["GET"] } }]),
      policy("b-write", [{ identity: "checkout", http: { methods: ["POST"], paths: ["/v2/*"] } }]),
    ],
    reason: AuthorizationReason.PathNotAllowed,
    policy: "b-write",
  },
  {
    name: "should refuse a caller no policy names",
    policies: [policy("pay", [{ identity: "ledger" }])],
    reason: AuthorizationReason.CallerNotAllowed,
    message: /"shop\/checkout" may not reach "shop\/payments-api": no AccessPolicy names it/,
  },
  {
    name: "should refuse with no policies at all",
    policies: [],
    reason: AuthorizationReason.CallerNotAllowed,
  },
  {
    name: "should refuse the caller's namesake from another namespace",
    policies: [policy("pay", [{ identity: "checkout" }])],
    request: { source: { namespace: "finance", identity: "checkout" } },
    reason: AuthorizationReason.CallerNotAllowed,
  },
  {
    name: "should allow a caller of another namespace that the entry names",
    policies: [policy("pay", [{ identity: "ledger", namespace: "finance" }])],
    request: { source: { namespace: "finance", identity: "ledger" } },
    reason: AuthorizationReason.Allowed,
  },
  {
    name: "should ignore a policy for another target",
    policies: [
      {
        ...policy("other", [{ identity: "checkout" }]),
        spec: { target: { identity: "orders" }, allowFrom: [{ identity: "checkout" }] },
      },
    ],
    reason: AuthorizationReason.CallerNotAllowed,
  },
  {
    name: "should ignore a policy of another namespace for a target of the same name",
    policies: [policy("pay", [{ identity: "checkout", namespace: "shop" }], {}, "staging")],
    reason: AuthorizationReason.CallerNotAllowed,
  },
  {
    name: "should refuse while the policy is suspended, saying so",
    policies: [policy("pay", [{ identity: "checkout" }], { suspend: true })],
    reason: AuthorizationReason.CallerNotAllowed,
    message: /the AccessPolicies that name it are inactive: "pay" \(Suspended\)/,
  },
  {
    name: "should allow inside the schedule's window",
    policies: [policy("pay", [{ identity: "checkout" }], { scheduleRef: { name: "business-hours" } })],
    reason: AuthorizationReason.Allowed,
  },
  {
    name: "should refuse outside the schedule's window",
    policies: [policy("pay", [{ identity: "checkout" }], { scheduleRef: { name: "business-hours" } })],
    request: { now: OUTSIDE },
    reason: AuthorizationReason.CallerNotAllowed,
    message: /"pay" \(ScheduleInactive\)/,
  },
  {
    name: "should refuse when the named schedule does not exist",
    policies: [policy("pay", [{ identity: "checkout" }], { scheduleRef: { name: "night-shift" } })],
    reason: AuthorizationReason.CallerNotAllowed,
    message: /"pay" \(ScheduleNotFound\)/,
  },
  {
    name: "should allow through an active policy when another naming the caller is suspended",
    policies: [
      policy("a-paused", [{ identity: "checkout" }], { suspend: true }),
      policy("b-open", [{ identity: "checkout", http: { methods: ["POST"] } }]),
    ],
    reason: AuthorizationReason.Allowed,
    policy: "b-open",
  },
  {
    name: "should not let a suspended policy's http rules stand in for the refusal reason",
    policies: [
      policy("a-paused", [{ identity: "checkout" }], { suspend: true }),
      policy("b-read", [{ identity: "checkout", http: { methods: ["GET"] } }]),
    ],
    reason: AuthorizationReason.MethodNotAllowed,
    policy: "b-read",
  },
  {
    name: "should refuse a suspended caller identity",
    policies: [policy("pay", [{ identity: "checkout" }])],
    suspended: ["shop/checkout"],
    reason: AuthorizationReason.CallerNotAllowed,
    message: /SourcesSuspended/,
  },
  {
    name: "should compare methods exactly, case included",
    policies: [policy("pay", [{ identity: "checkout", http: { methods: ["POST"] } }])],
    request: { method: "post" },
    reason: AuthorizationReason.MethodNotAllowed,
  },
  {
    name: "should compare paths exactly, case included",
    policies: [policy("pay", [{ identity: "checkout", http: { paths: ["/v1/charges"] } }])],
    request: { path: "/V1/charges" },
    reason: AuthorizationReason.PathNotAllowed,
  },
];

describe("httpDecision", () => {
  it.each(CASES)("$name", (c) => {
    const suspended = new Set(c.suspended ?? []);
    const decision = httpDecision(c.policies, request(c.request), [businessHours], (ns, id) =>
      suspended.has(`${ns}/${id}`),
    );
    expect(decision.reason).toBe(c.reason);
    expect(decision.allowed).toBe(c.reason === AuthorizationReason.Allowed);
    if (c.policy !== undefined) expect(decision.policy).toBe(c.policy);
    if (c.message !== undefined) expect(decision.message).toMatch(c.message);
  });

  it("should name the first allowing policy by name whatever the input order", () => {
    const policies = [
      policy("zeta", [{ identity: "checkout" }]),
      policy("alpha", [{ identity: "checkout" }]),
    ];
    expect(httpDecision(policies, request())).toMatchObject({ allowed: true, policy: "alpha" });
    expect(httpDecision([...policies].reverse(), request())).toMatchObject({
      allowed: true,
      policy: "alpha",
    });
  });

  it("should treat a named schedule as missing when no schedules are given", () => {
    const scheduled = policy("pay", [{ identity: "checkout" }], { scheduleRef: { name: "business-hours" } });
    expect(httpDecision([scheduled], request()).reason).toBe(AuthorizationReason.CallerNotAllowed);
  });
});

describe("pathMatches", () => {
  it.each([
    ["/v1/pay", "/v1/pay", true],
    ["/v1/pay", "/v1/pay/", false],
    ["/v1/pay", "/v1/pa", false],
    ["/v1/*", "/v1/", true],
    ["/v1/*", "/v1/a/b", true],
    ["/v1/*", "/v1", false],
    ["/v1/*", "/v10/a", false],
    ["/*", "/", true],
    ["/*", "/x", true],
    ["/", "/", true],
    ["/", "/x", false],
  ])("should match pattern %s against %s: %s", (pattern, path, expected) => {
    expect(pathMatches(pattern, path)).toBe(expected);
  });
});

describe("NetworkPolicies and http rules", () => {
  it("should compile a policy with http rules into the same NetworkPolicies as without them", () => {
    const plain = policy("pay", [{ identity: "checkout" }]);
    const withHttp = policy("pay", [{ identity: "checkout", http: payOnly }]);
    const compile = (p: AccessPolicyInput) => networkPoliciesFor([p], () => undefined).networkPolicies;
    expect(compile(withHttp)).toEqual(compile(plain));
    expect(compile(plain).length).toBeGreaterThan(1);
  });
});
