import { dumpYaml, type V1NetworkPolicy } from "@kubernetes/client-node";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { IDENTITY_LABEL, MANAGED_BY_LABEL, POLICY_LABEL, TARGET_LABEL } from "../api/names.ts";
import { allowNetworkPolicyName, boundedName, denyNetworkPolicyName, labelValue } from "./names.ts";
import {
  type AccessPolicyInput,
  type AccessPolicySpecInput,
  type IdentitySuspendedLookup,
  networkPoliciesFor,
  networkPolicyOwners,
  type ScheduleSignal,
  type ScheduleStateLookup,
} from "./networkpolicies.ts";

function policy(
  namespace: string,
  name: string,
  spec: Partial<AccessPolicySpecInput> = {},
): AccessPolicyInput {
  return {
    metadata: { name, namespace },
    spec: {
      target: spec.target ?? { identity: "payments-api" },
      allowFrom: spec.allowFrom ?? [{ identity: "checkout" }],
      ...(spec.scheduleRef ? { scheduleRef: spec.scheduleRef } : {}),
      ...(spec.suspend !== undefined ? { suspend: spec.suspend } : {}),
    },
  };
}

const noSchedules: ScheduleStateLookup = () => undefined;
const NEXT = new Date("2026-11-16T17:00:00Z");

function schedules(states: Record<string, ScheduleSignal>): ScheduleStateLookup {
  return (namespace, name) => states[`${namespace}/${name}`];
}

const selectIdentity = (identity: string) => ({ matchLabels: { [IDENTITY_LABEL]: identity } });

function deny(namespace: string, identity: string): V1NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: `signet-deny-${identity}`,
      namespace,
      labels: { [MANAGED_BY_LABEL]: "signet", [TARGET_LABEL]: identity },
    },
    spec: { podSelector: selectIdentity(identity), policyTypes: ["Ingress"] },
  };
}

const names = (result: { networkPolicies: V1NetworkPolicy[] }) =>
  result.networkPolicies.map((np) => `${np.metadata?.namespace}/${np.metadata?.name}`);

function ingressRule(np: V1NetworkPolicy | undefined) {
  return np?.spec?.ingress?.[0];
}

function find(result: { networkPolicies: V1NetworkPolicy[] }, name: string) {
  return result.networkPolicies.find((np) => np.metadata?.name === name);
}

describe("networkPoliciesFor", () => {
  it("turns one same-namespace policy into the target's deny and one allow", () => {
    const result = networkPoliciesFor(
      [
        policy("shop", "checkout-to-payments", {
          target: { identity: "payments-api", ports: [{ port: 8443 }] },
        }),
      ],
      noSchedules,
    );
    const peers = [{ podSelector: selectIdentity("checkout") }];
    expect(result.networkPolicies).toEqual([
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: {
          name: "signet-allow-checkout-to-payments",
          namespace: "shop",
          labels: {
            [MANAGED_BY_LABEL]: "signet",
            [POLICY_LABEL]: "checkout-to-payments",
            [TARGET_LABEL]: "payments-api",
          },
        },
        spec: {
          podSelector: selectIdentity("payments-api"),
          policyTypes: ["Ingress"],
          ingress: [{ _from: peers, from: peers, ports: [{ port: 8443, protocol: "TCP" }] }],
        },
      },
      deny("shop", "payments-api"),
    ]);
    expect(result.statuses.get("shop/checkout-to-payments")).toEqual({
      active: true,
      reason: "Active",
      message: 'ingress to identity "payments-api" on 8443/TCP is allowed from 1 source identity',
      networkPolicies: ["signet-allow-checkout-to-payments", "signet-deny-payments-api"],
    });
  });

  it("selects a source in another namespace by namespace name AND identity in one peer", () => {
    const result = networkPoliciesFor(
      [policy("shop", "ledger-in", { allowFrom: [{ identity: "ledger", namespace: "finance" }] })],
      noSchedules,
    );
    expect(ingressRule(find(result, "signet-allow-ledger-in"))?._from).toEqual([
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "finance" } },
        podSelector: selectIdentity("ledger"),
      },
    ]);
  });

  it("treats a source naming the policy's own namespace as same-namespace", () => {
    const result = networkPoliciesFor(
      [policy("shop", "p", { allowFrom: [{ identity: "checkout", namespace: "shop" }] })],
      noSchedules,
    );
    expect(ingressRule(find(result, "signet-allow-p"))?._from).toEqual([
      { podSelector: selectIdentity("checkout") },
    ]);
  });

  it("sorts sources by namespace then identity and drops duplicates", () => {
    const result = networkPoliciesFor(
      [
        policy("shop", "p", {
          allowFrom: [
            { identity: "web" },
            { identity: "ledger", namespace: "finance" },
            { identity: "checkout" },
            { identity: "audit", namespace: "finance" },
            { identity: "web", namespace: "shop" },
          ],
        }),
      ],
      noSchedules,
    );
    const peers = ingressRule(find(result, "signet-allow-p"))?._from ?? [];
    expect(
      peers.map(
        (p) =>
          `${p.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] ?? "shop"}/${p.podSelector?.matchLabels?.[IDENTITY_LABEL]}`,
      ),
    ).toEqual(["finance/audit", "finance/ledger", "shop/checkout", "shop/web"]);
  });

  it("gives several policies on one target one deny and one allow each, the deny owned by all", () => {
    const policies = [
      policy("shop", "from-checkout", { allowFrom: [{ identity: "checkout" }] }),
      policy("shop", "from-ledger", { allowFrom: [{ identity: "ledger", namespace: "finance" }] }),
      policy("shop", "from-web", { allowFrom: [{ identity: "web" }] }),
    ];
    const result = networkPoliciesFor(policies, noSchedules);
    expect(names(result)).toEqual([
      "shop/signet-allow-from-checkout",
      "shop/signet-allow-from-ledger",
      "shop/signet-allow-from-web",
      "shop/signet-deny-payments-api",
    ]);
    expect(result.owners.get("shop/signet-deny-payments-api")).toEqual([
      "from-checkout",
      "from-ledger",
      "from-web",
    ]);
    expect(result.owners.get("shop/signet-allow-from-ledger")).toEqual(["from-ledger"]);
  });

  it("gives each namespace its own deny for the same identity name", () => {
    const result = networkPoliciesFor([policy("shop", "a"), policy("staging", "a")], noSchedules);
    expect(names(result)).toEqual([
      "shop/signet-allow-a",
      "shop/signet-deny-payments-api",
      "staging/signet-allow-a",
      "staging/signet-deny-payments-api",
    ]);
  });

  it.each<{
    name: string;
    spec: Partial<AccessPolicySpecInput>;
    lookup: ScheduleStateLookup;
    active: boolean;
    reason: string;
    nextTransition?: Date;
    messageFragment: string;
  }>([
    {
      name: "a policy without a schedule is active",
      spec: {},
      lookup: noSchedules,
      active: true,
      reason: "Active",
      messageFragment: "is allowed from 1 source identity",
    },
    {
      name: "a policy whose schedule is active is active until the schedule's next transition",
      spec: { scheduleRef: { name: "business-hours" } },
      lookup: schedules({ "shop/business-hours": { active: true, nextTransition: NEXT } }),
      active: true,
      reason: "ScheduleActive",
      nextTransition: NEXT,
      messageFragment: 'AccessSchedule "business-hours" is active',
    },
    {
      name: "a policy whose schedule is inactive is inactive until the schedule's next transition",
      spec: { scheduleRef: { name: "business-hours" } },
      lookup: schedules({
        "shop/business-hours": { active: false, reason: "OutsideWindows", nextTransition: NEXT },
      }),
      active: false,
      reason: "ScheduleInactive",
      nextTransition: NEXT,
      messageFragment: 'AccessSchedule "business-hours" is inactive (OutsideWindows)',
    },
    {
      name: "a policy whose schedule is missing is denied",
      spec: { scheduleRef: { name: "business-hours" } },
      lookup: noSchedules,
      active: false,
      reason: "ScheduleNotFound",
      messageFragment:
        'spec.scheduleRef.name "business-hours": no AccessSchedule of that name in namespace "shop"',
    },
    {
      name: "a schedule of the same name in another namespace does not count",
      spec: { scheduleRef: { name: "business-hours" } },
      lookup: schedules({ "finance/business-hours": { active: true } }),
      active: false,
      reason: "ScheduleNotFound",
      messageFragment: "no AccessSchedule",
    },
    {
      name: "a suspended policy is denied even inside its schedule, with no transition",
      spec: { suspend: true, scheduleRef: { name: "business-hours" } },
      lookup: schedules({ "shop/business-hours": { active: true, nextTransition: NEXT } }),
      active: false,
      reason: "Suspended",
      messageFragment: "spec.suspend is true",
    },
    {
      name: "a policy with no sources is denied rather than opened to everyone",
      spec: { allowFrom: [] },
      lookup: noSchedules,
      active: false,
      reason: "NoSources",
      messageFragment: "spec.allowFrom is empty",
    },
  ])("$name", ({ spec, lookup, active, reason, nextTransition, messageFragment }) => {
    const result = networkPoliciesFor([policy("shop", "p", spec)], lookup);
    const status = result.statuses.get("shop/p");
    expect(status?.active).toBe(active);
    expect(status?.reason).toBe(reason);
    expect(status?.nextTransition).toEqual(nextTransition);
    expect(status?.message).toContain(messageFragment);
    expect(names(result)).toEqual(
      active ? ["shop/signet-allow-p", "shop/signet-deny-payments-api"] : ["shop/signet-deny-payments-api"],
    );
    expect(status?.networkPolicies).toEqual(
      active ? ["signet-allow-p", "signet-deny-payments-api"] : ["signet-deny-payments-api"],
    );
    expect(find(result, "signet-deny-payments-api")).toEqual(deny("shop", "payments-api"));
  });

  it("keeps the deny and the other allows when one of several policies turns inactive", () => {
    const result = networkPoliciesFor(
      [
        policy("shop", "always", { allowFrom: [{ identity: "checkout" }] }),
        policy("shop", "scheduled", { allowFrom: [{ identity: "web" }], scheduleRef: { name: "night" } }),
        policy("shop", "paused", { allowFrom: [{ identity: "batch" }], suspend: true }),
      ],
      schedules({ "shop/night": { active: false } }),
    );
    expect(names(result)).toEqual(["shop/signet-allow-always", "shop/signet-deny-payments-api"]);
    expect(result.owners.get("shop/signet-deny-payments-api")).toEqual(["always", "paused", "scheduled"]);
  });

  it("looks schedules up by the policy's namespace and scheduleRef.name", () => {
    const asked: string[] = [];
    networkPoliciesFor(
      [policy("shop", "p", { scheduleRef: { name: "business-hours" } })],
      (namespace, name) => {
        asked.push(`${namespace}/${name}`);
        return { active: true };
      },
    );
    expect(asked).toEqual(["shop/business-hours"]);
  });

  it.each([
    {
      name: "defaults the protocol to TCP",
      ports: [{ port: 8443 }],
      expected: [{ port: 8443, protocol: "TCP" }],
    },
    {
      name: "keeps an explicit protocol",
      ports: [{ port: 53, protocol: "UDP" as const }],
      expected: [{ port: 53, protocol: "UDP" }],
    },
    {
      name: "sorts ports by number then protocol and merges an explicit TCP with the default",
      ports: [
        { port: 9000, protocol: "SCTP" as const },
        { port: 53, protocol: "UDP" as const },
        { port: 53 },
        { port: 53, protocol: "TCP" as const },
      ],
      expected: [
        { port: 53, protocol: "TCP" },
        { port: 53, protocol: "UDP" },
        { port: 9000, protocol: "SCTP" },
      ],
    },
    { name: "omits ports (all ports) when none are listed", ports: undefined, expected: undefined },
    { name: "omits ports (all ports) for an empty list", ports: [], expected: undefined },
  ])("$name", ({ ports, expected }) => {
    const result = networkPoliciesFor(
      [
        policy("shop", "p", {
          target: ports === undefined ? { identity: "payments-api" } : { identity: "payments-api", ports },
        }),
      ],
      noSchedules,
    );
    const rule = ingressRule(find(result, "signet-allow-p"));
    expect(rule?.ports).toEqual(expected);
    expect(rule !== undefined && "ports" in rule).toBe(expected !== undefined);
  });

  it("sends the peers as `from` through client-node's serializer and through plain JSON", () => {
    const result = networkPoliciesFor(
      [policy("shop", "p", { allowFrom: [{ identity: "ledger", namespace: "finance" }] })],
      noSchedules,
    );
    const allow = find(result, "signet-allow-p") as V1NetworkPolicy;
    const expectedPeers = [
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "finance" } },
        podSelector: { matchLabels: { [IDENTITY_LABEL]: "ledger" } },
      },
    ];
    const viaClient = parse(dumpYaml(allow)) as { spec: { ingress: { from: unknown }[] } };
    expect(viaClient.spec.ingress[0]?.from).toEqual(expectedPeers);
    const viaJson = JSON.parse(JSON.stringify(allow)) as { spec: { ingress: { from: unknown }[] } };
    expect(viaJson.spec.ingress[0]?.from).toEqual(expectedPeers);
  });

  it("produces identical output for shuffled input", () => {
    const policies = [
      policy("shop", "b", { allowFrom: [{ identity: "web" }, { identity: "ledger", namespace: "finance" }] }),
      policy("shop", "a", { target: { identity: "orders", ports: [{ port: 80 }, { port: 443 }] } }),
      policy("finance", "c", {
        target: { identity: "ledger" },
        allowFrom: [{ identity: "payments-api", namespace: "shop" }],
      }),
      policy("shop", "d", { scheduleRef: { name: "night" } }),
      policy("shop", "e", {
        target: { identity: "orders", ports: [{ port: 443 }, { port: 80 }] },
        allowFrom: [{ identity: "b" }, { identity: "a" }],
      }),
    ];
    const lookup = schedules({ "shop/night": { active: true, nextTransition: NEXT } });
    const reference = networkPoliciesFor(policies, lookup);
    const serialise = (r: ReturnType<typeof networkPoliciesFor>) =>
      JSON.stringify([r.networkPolicies, [...r.statuses], [...r.owners]]);
    let seed = 7;
    for (let round = 0; round < 20; round++) {
      const shuffled = [...policies];
      for (let i = shuffled.length - 1; i > 0; i--) {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        const j = seed % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j] as AccessPolicyInput, shuffled[i] as AccessPolicyInput];
      }
      const result = networkPoliciesFor(shuffled, lookup);
      expect(serialise(result)).toBe(serialise(reference));
      expect(result.networkPolicies.map((np) => Object.keys(np.metadata?.labels ?? {}))).toEqual(
        reference.networkPolicies.map((np) => Object.keys(np.metadata?.labels ?? {}).sort()),
      );
    }
    expect(names(reference)).toEqual([
      "finance/signet-allow-c",
      "finance/signet-deny-ledger",
      "shop/signet-allow-a",
      "shop/signet-allow-b",
      "shop/signet-allow-d",
      "shop/signet-allow-e",
      "shop/signet-deny-orders",
      "shop/signet-deny-payments-api",
    ]);
  });
});

describe("names", () => {
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
  const long = (suffix: string) => `${"very-long-policy-name-".repeat(5)}${suffix}`;

  it("uses short names as they are", () => {
    expect(allowNetworkPolicyName("checkout-to-payments")).toBe("signet-allow-checkout-to-payments");
    expect(denyNetworkPolicyName("payments-api")).toBe("signet-deny-payments-api");
    expect(labelValue("checkout-to-payments")).toBe("checkout-to-payments");
    expect(allowNetworkPolicyName("a".repeat(50))).toBe(`signet-allow-${"a".repeat(50)}`);
  });

  it.each([
    { name: "two long policy names differing only at the end", a: long("one"), b: long("two") },
    { name: "a name with dots and the same name with dashes", a: "payments.v2", b: "payments-v2" },
    { name: "a name exactly at the limit and one character over", a: "a".repeat(50), b: "a".repeat(51) },
  ])("keeps $name distinct, valid and within 63 characters", ({ a, b }) => {
    for (const make of [allowNetworkPolicyName, denyNetworkPolicyName]) {
      const [x, y] = [make(a), make(b)];
      expect(x).not.toBe(y);
      for (const n of [x, y]) {
        expect(n.length).toBeLessThanOrEqual(63);
        expect(n).toMatch(DNS_LABEL);
      }
    }
  });

  it("truncates with a stable hash suffix", () => {
    const name = allowNetworkPolicyName(long("x"));
    expect(name).toMatch(/^signet-allow-very-long-policy-name-very-long-policy-[0-9a-f]{10}$/);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(allowNetworkPolicyName(long("x"))).toBe(name);
  });

  it("hashes names that would end in a dash after truncation without leaving the dash", () => {
    expect(boundedName("p-", `${"a".repeat(49)}-bbbbbbbbbbbbbbbbbbb`)).toMatch(/^p-a{49}-[0-9a-f]{10}$/);
  });

  it("bounds label values for long names", () => {
    const value = labelValue(long("x"));
    expect(value.length).toBeLessThanOrEqual(63);
    expect(value).toMatch(LABEL_VALUE);
    expect(labelValue(long("y"))).not.toBe(value);
  });

  it("labels long names with bounded values on the NetworkPolicies themselves", () => {
    const result = networkPoliciesFor(
      [policy("shop", long("p"), { target: { identity: "payments-api" } })],
      noSchedules,
    );
    for (const np of result.networkPolicies) {
      expect(np.metadata?.name?.length).toBeLessThanOrEqual(63);
      for (const value of Object.values(np.metadata?.labels ?? {})) expect(value).toMatch(LABEL_VALUE);
    }
  });
});

describe("networkPolicyOwners", () => {
  it("lists every NetworkPolicy a set of policies can give rise to, active or not", () => {
    const owners = networkPolicyOwners([
      policy("shop", "b", { suspend: true }),
      policy("shop", "a"),
      policy("shop", "c", { target: { identity: "orders" } }),
    ]);
    expect([...owners]).toEqual([
      ["shop/signet-allow-a", ["a"]],
      ["shop/signet-allow-b", ["b"]],
      ["shop/signet-allow-c", ["c"]],
      ["shop/signet-deny-orders", ["c"]],
      ["shop/signet-deny-payments-api", ["a", "b"]],
    ]);
  });
});

describe("networkPoliciesFor with suspended MachineIdentities", () => {
  function suspendedOf(...keys: string[]): IdentitySuspendedLookup {
    const set = new Set(keys);
    return (namespace, identity) => set.has(`${namespace}/${identity}`);
  }
  const peerKey = (p: {
    namespaceSelector?: { matchLabels?: Record<string, string> };
    podSelector?: { matchLabels?: Record<string, string> };
  }) =>
    `${p.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] ?? "shop"}/${p.podSelector?.matchLabels?.[IDENTITY_LABEL]}`;
  const peersOf = (result: ReturnType<typeof networkPoliciesFor>, name: string) =>
    (ingressRule(find(result, name))?._from ?? []).map(peerKey);
  const sources = [
    { identity: "checkout" },
    { identity: "ledger", namespace: "finance" },
    { identity: "web" },
  ];

  it.each<{
    name: string;
    spec: Partial<AccessPolicySpecInput>;
    suspended: string[];
    lookup?: ScheduleStateLookup;
    active: boolean;
    reason: string;
    peers?: string[];
    suspendedIdentities?: string[];
    messageFragment: string;
  }>([
    {
      name: "should leave a suspended source out of the allow rule and keep the others",
      spec: { allowFrom: sources },
      suspended: ["shop/checkout"],
      active: true,
      reason: "Active",
      peers: ["finance/ledger", "shop/web"],
      suspendedIdentities: ["shop/checkout"],
      messageFragment:
        'is allowed from 2 source identities; suspended and left out: MachineIdentity "shop/checkout"',
    },
    {
      name: "should leave a suspended source of another namespace out by its own namespace",
      spec: { allowFrom: sources },
      suspended: ["finance/ledger", "shop/ledger"],
      active: true,
      reason: "Active",
      peers: ["shop/checkout", "shop/web"],
      suspendedIdentities: ["finance/ledger"],
      messageFragment: 'left out: MachineIdentity "finance/ledger"',
    },
    {
      name: "should close the policy rather than write an allow without peers when every source is suspended",
      spec: { allowFrom: sources },
      suspended: ["shop/checkout", "finance/ledger", "shop/web"],
      active: false,
      reason: "SourcesSuspended",
      suspendedIdentities: ["finance/ledger", "shop/checkout", "shop/web"],
      messageFragment:
        'every source is suspended (MachineIdentities "finance/ledger", "shop/checkout", "shop/web"): ingress to identity "payments-api" is denied until one is resumed',
    },
    {
      name: "should close the policy and keep the target's deny when the target is suspended",
      spec: { allowFrom: sources },
      suspended: ["shop/payments-api"],
      active: false,
      reason: "TargetSuspended",
      suspendedIdentities: ["shop/payments-api"],
      messageFragment:
        'the target MachineIdentity "shop/payments-api" is suspended: ingress to identity "payments-api" is denied until it is resumed',
    },
    {
      name: "should report the target first when the target and every source are suspended",
      spec: { allowFrom: [{ identity: "checkout" }] },
      suspended: ["shop/payments-api", "shop/checkout"],
      active: false,
      reason: "TargetSuspended",
      suspendedIdentities: ["shop/payments-api"],
      messageFragment: "the target",
    },
    {
      name: "should close a policy with a suspended target even inside its schedule, with no transition",
      spec: { scheduleRef: { name: "business-hours" } },
      suspended: ["shop/payments-api"],
      lookup: schedules({ "shop/business-hours": { active: true, nextTransition: NEXT } }),
      active: false,
      reason: "TargetSuspended",
      suspendedIdentities: ["shop/payments-api"],
      messageFragment: "is suspended",
    },
    {
      name: "should keep the schedule's word and name the suspended source inside an active window",
      spec: { allowFrom: sources, scheduleRef: { name: "business-hours" } },
      suspended: ["shop/web"],
      lookup: schedules({ "shop/business-hours": { active: true, nextTransition: NEXT } }),
      active: true,
      reason: "ScheduleActive",
      peers: ["finance/ledger", "shop/checkout"],
      suspendedIdentities: ["shop/web"],
      messageFragment: 'AccessSchedule "business-hours" is active: ingress',
    },
  ])("$name", ({ spec, suspended, lookup, active, reason, peers, suspendedIdentities, messageFragment }) => {
    const result = networkPoliciesFor(
      [policy("shop", "p", spec)],
      lookup ?? noSchedules,
      suspendedOf(...suspended),
    );
    const status = result.statuses.get("shop/p");
    expect(status?.active).toBe(active);
    expect(status?.reason).toBe(reason);
    expect(status?.message).toContain(messageFragment);
    expect(status?.suspendedIdentities).toEqual(suspendedIdentities);
    if (!active) expect(status?.nextTransition).toBeUndefined();
    expect(names(result)).toEqual(
      active ? ["shop/signet-allow-p", "shop/signet-deny-payments-api"] : ["shop/signet-deny-payments-api"],
    );
    expect(find(result, "signet-deny-payments-api")).toEqual(deny("shop", "payments-api"));
    if (peers) {
      expect(peersOf(result, "signet-allow-p")).toEqual(peers);
      const rule = ingressRule(find(result, "signet-allow-p")) as { from?: unknown; _from?: unknown };
      expect(rule.from).toEqual(rule._from);
    }
  });

  it("should cut a suspended identity from every policy that names it as a source, in every namespace", () => {
    const result = networkPoliciesFor(
      [
        policy("shop", "a", { allowFrom: [{ identity: "checkout" }, { identity: "web" }] }),
        policy("shop", "b", { target: { identity: "orders" }, allowFrom: [{ identity: "checkout" }] }),
        policy("finance", "c", {
          target: { identity: "ledger" },
          allowFrom: [{ identity: "checkout", namespace: "shop" }, { identity: "audit" }],
        }),
      ],
      noSchedules,
      suspendedOf("shop/checkout"),
    );
    expect(names(result)).toEqual([
      "finance/signet-allow-c",
      "finance/signet-deny-ledger",
      "shop/signet-allow-a",
      "shop/signet-deny-orders",
      "shop/signet-deny-payments-api",
    ]);
    expect(peersOf(result, "signet-allow-a")).toEqual(["shop/web"]);
    expect(ingressRule(result.networkPolicies[0])?._from).toEqual([{ podSelector: selectIdentity("audit") }]);
    expect(result.statuses.get("shop/b")?.reason).toBe("SourcesSuspended");
    expect(result.owners.get("shop/signet-deny-orders")).toEqual(["b"]);
  });

  const identityName = fc.constantFrom("a", "b", "c", "d");
  const namespaceName = fc.constantFrom("shop", "finance");
  const arbitraryPolicy = fc.record({
    name: fc.constantFrom("p1", "p2", "p3", "p4"),
    target: identityName,
    allowFrom: fc.array(
      fc.record({ identity: identityName, namespace: fc.option(namespaceName, { nil: undefined }) }),
      { maxLength: 4 },
    ),
    suspend: fc.boolean(),
  });
  const arbitraryInput = fc.record({
    policies: fc.uniqueArray(arbitraryPolicy, { selector: (p) => p.name, maxLength: 4 }),
    suspended: fc.uniqueArray(
      fc.tuple(namespaceName, identityName).map(([ns, id]) => `${ns}/${id}`),
      {
        maxLength: 8,
      },
    ),
  });
  const toInputs = (
    policies: readonly {
      name: string;
      target: string;
      allowFrom: { identity: string; namespace: string | undefined }[];
      suspend: boolean;
    }[],
  ) =>
    policies.map((p) =>
      policy("shop", p.name, {
        target: { identity: p.target },
        allowFrom: p.allowFrom.map((s) =>
          s.namespace === undefined
            ? { identity: s.identity }
            : { identity: s.identity, namespace: s.namespace },
        ),
        suspend: p.suspend,
      }),
    );

  it("should never name a suspended identity in an allow rule, nor write an allow without peers", () => {
    fc.assert(
      fc.property(arbitraryInput, ({ policies, suspended }) => {
        const result = networkPoliciesFor(toInputs(policies), noSchedules, suspendedOf(...suspended));
        for (const np of result.networkPolicies) {
          const target = `${np.metadata?.namespace}/${np.spec?.podSelector?.matchLabels?.[IDENTITY_LABEL]}`;
          const rules = np.spec?.ingress ?? [];
          if (np.metadata?.name?.startsWith("signet-deny-")) {
            expect(rules).toEqual([]);
            continue;
          }
          expect(suspended).not.toContain(target);
          for (const rule of rules) {
            const peers = (rule._from ?? []).map(peerKey);
            expect(peers.length).toBeGreaterThan(0);
            for (const peer of peers) expect(suspended).not.toContain(peer);
          }
        }
      }),
    );
  });

  it("should close exactly the policies whose target or every source is suspended, and restore all on resume", () => {
    fc.assert(
      fc.property(arbitraryInput, ({ policies, suspended }) => {
        const inputs = toInputs(policies);
        const cut = networkPoliciesFor(inputs, noSchedules, suspendedOf(...suspended));
        const resumed = networkPoliciesFor(inputs, noSchedules, suspendedOf());
        for (const p of policies) {
          const decision = cut.statuses.get(`shop/${p.name}`);
          const targetCut = suspended.includes(`shop/${p.target}`);
          const live = p.allowFrom.filter(
            (s) => !suspended.includes(`${s.namespace ?? "shop"}/${s.identity}`),
          );
          const expected = p.suspend
            ? "Suspended"
            : targetCut
              ? "TargetSuspended"
              : p.allowFrom.length === 0
                ? "NoSources"
                : live.length === 0
                  ? "SourcesSuspended"
                  : "Active";
          expect(decision?.reason).toBe(expected);
          expect(decision?.active).toBe(expected === "Active");
        }
        const denies = (r: typeof cut) => names(r).filter((n) => n.includes("/signet-deny-"));
        expect(denies(cut)).toEqual(denies(resumed));
        expect(resumed).toEqual(networkPoliciesFor(inputs, noSchedules));
        const allowsCut = new Set(names(cut).filter((n) => n.includes("/signet-allow-")));
        for (const n of allowsCut) expect(names(resumed)).toContain(n);
      }),
    );
  });
});
