import { describe, expect, it } from "vitest";
import type { IssuancePolicy, IssuancePolicySpec, MachineIdentity } from "../api/index.ts";
import { validateIssuancePolicy, validateMachineIdentity } from "../api/index.ts";
import {
  type ClaimRules,
  claimProblems,
  dnsLabels,
  globMatches,
  type IdentityClaim,
  parseSpiffeId,
  policiesFor,
  spiffeIdConflict,
  spiffeIdHolder,
} from "./claims.ts";
import { selectorMatches } from "./selector.ts";

const TD = "cluster.local";

function policy(name: string, spec: Partial<IssuancePolicySpec> & Record<string, unknown>): IssuancePolicy {
  const parsed = validateIssuancePolicy({
    apiVersion: "signet.dev/v1alpha1",
    kind: "IssuancePolicy",
    metadata: { name },
    spec: { namespaceSelector: {}, ...spec },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.value;
}

function claim(over: Partial<IdentityClaim> = {}): IdentityClaim {
  return {
    namespace: "shop",
    spiffeId: `spiffe://${TD}/ns/shop/id/payments`,
    dnsNames: [],
    ttl: "1h",
    ttlMs: 3_600_000,
    keyAlgorithm: "ECDSA",
    ...over,
  };
}

/** `labels: null` stands for a namespace whose labels are not known. */
function rules(policies: IssuancePolicy[] = [], labels: Record<string, string> | null = {}): ClaimRules {
  return {
    trustDomain: TD,
    clusterDomain: "cluster.local",
    policies,
    namespaceLabels: labels === null ? undefined : { "kubernetes.io/metadata.name": "shop", ...labels },
  };
}

const fields = (c: IdentityClaim, r: ClaimRules) => claimProblems(c, r).map((p) => p.field);

describe("the default SPIFFE ID rule, without any IssuancePolicy", () => {
  it.each([
    ["the default form", `spiffe://${TD}/ns/shop/id/payments`],
    ["a SPIRE-style path under the namespace", `spiffe://${TD}/ns/shop/sa/payments`],
    ["a deep path under the namespace", `spiffe://${TD}/ns/shop/a/b/c`],
  ])("should permit %s", (_, spiffeId) => {
    expect(claimProblems(claim({ spiffeId }), rules())).toEqual([]);
  });

  it.each([
    ["a path outside /ns/", `spiffe://${TD}/payments`],
    ["another namespace", `spiffe://${TD}/ns/finance/id/ledger`],
    ["a namespace whose name starts with the own one", `spiffe://${TD}/ns/shop-evil/id/x`],
    ["a namespace that is a prefix of the own one", `spiffe://${TD}/ns/sho/id/x`],
    ["the namespace itself without a further segment", `spiffe://${TD}/ns/shop`],
    ["the reserved word in upper case", `spiffe://${TD}/NS/shop/id/x`],
    ["the namespace in upper case", `spiffe://${TD}/ns/SHOP/id/x`],
    ["a dot-dot segment climbing out of the namespace", `spiffe://${TD}/ns/shop/../finance/x`],
    ["a dot segment", `spiffe://${TD}/ns/shop/./x`],
    ["an empty segment", `spiffe://${TD}/ns//shop/x`],
    ["a trailing slash", `spiffe://${TD}/ns/shop/x/`],
    ["a percent-encoded dot-dot", `spiffe://${TD}/ns/shop/%2e%2e/x`],
    ["another trust domain", "spiffe://other.example/ns/shop/id/x"],
    ["the trust domain in upper case", "spiffe://Cluster.Local/ns/shop/id/x"],
  ])("should refuse %s, naming spec.spiffeID", (_, spiffeId) => {
    const problems = claimProblems(claim({ spiffeId }), rules());
    expect(problems.map((p) => p.field)).toEqual(["spec.spiffeID"]);
    expect(problems[0]?.message).toContain(spiffeId);
  });

  it("should say what the namespace may claim and who can grant more", () => {
    const [problem] = claimProblems(claim({ spiffeId: `spiffe://${TD}/payments` }), rules());
    expect(problem?.message).toContain(`spiffe://${TD}/ns/shop/...`);
    expect(problem?.message).toContain('no IssuancePolicy selects namespace "shop"');
    expect(problem?.message).toContain("ask a cluster admin");
  });
});

describe("the default DNS name rule: the namespace's own Services", () => {
  it.each([
    "payments.shop",
    "payments.shop.svc",
    "payments.shop.svc.cluster.local",
    "*.shop.svc",
    "*.shop.svc.cluster.local",
    "*.payments.shop.svc",
    "*.payments.shop.svc.cluster.local",
    "xn--bcher-kva.shop.svc",
  ])("should permit %s", (name) => {
    expect(claimProblems(claim({ dnsNames: [name] }), rules())).toEqual([]);
  });

  it.each([
    ["another namespace's Service", "ledger.finance.svc"],
    ["the API server", "kubernetes.default.svc"],
    ["Signet's own webhook Service", "signet-webhook.signet-system.svc"],
    ["an external domain", "payments.example.com"],
    ["a wildcard over everything named like the namespace", "*.shop"],
    ["a name under another cluster domain", "payments.shop.svc.evil.example"],
    ["a name one level deeper than a Service", "a.payments.shop.svc"],
    ["a double wildcard", "*.*.shop.svc"],
    ["a partial wildcard", "pay*.shop.svc"],
    ["a wildcard that is not leftmost", "payments.*.svc"],
    ["a trailing dot", "payments.shop.svc."],
    ["an empty label", "payments..shop.svc"],
    ["upper case", "Payments.shop.svc"],
    ["a Unicode IDN", "bücher.shop.svc"],
    ["the namespace alone", "shop"],
    ["the namespace's svc domain itself", "shop.svc"],
  ])("should refuse %s, naming the list entry", (_, name) => {
    expect(fields(claim({ dnsNames: ["payments.shop.svc", name] }), rules())).toEqual(["spec.dnsNames[1]"]);
  });

  it("should honour the configured cluster domain", () => {
    const custom = { ...rules(), clusterDomain: "corp.internal" };
    expect(fields(claim({ dnsNames: ["payments.shop.svc.corp.internal"] }), custom)).toEqual([]);
    expect(fields(claim({ dnsNames: ["payments.shop.svc.cluster.local"] }), custom)).toEqual([
      "spec.dnsNames[0]",
    ]);
  });
});

describe("IssuancePolicy grants", () => {
  const payments = policy("payments-platform", {
    namespaceSelector: { matchLabels: { team: "payments" } },
    spiffeIDs: [`spiffe://${TD}/payments/**`, `spiffe://${TD}/team/{namespace}/*`],
    dnsNames: ["*.payments.example.com", "api-*.example.com", "**.internal.example.com"],
  });

  it.each([
    ["a path under a ** pattern", `spiffe://${TD}/payments/api`],
    ["a deep path under a ** pattern", `spiffe://${TD}/payments/eu/api`],
    ["the {namespace} placeholder", `spiffe://${TD}/team/shop/api`],
  ])("should permit %s to a selected namespace", (_, spiffeId) => {
    expect(claimProblems(claim({ spiffeId }), rules([payments], { team: "payments" }))).toEqual([]);
  });

  it.each([
    ["the pattern's parent, since ** needs one segment", `spiffe://${TD}/payments`],
    ["a sibling path that only shares a prefix", `spiffe://${TD}/payments-evil/api`],
    ["the placeholder filled with another namespace", `spiffe://${TD}/team/finance/api`],
    ["a path deeper than one * segment", `spiffe://${TD}/team/shop/api/v2`],
  ])("should refuse %s", (_, spiffeId) => {
    expect(fields(claim({ spiffeId }), rules([payments], { team: "payments" }))).toEqual(["spec.spiffeID"]);
  });

  it("should grant nothing to a namespace the policy does not select", () => {
    const spiffeId = `spiffe://${TD}/payments/api`;
    expect(fields(claim({ spiffeId }), rules([payments], { team: "web" }))).toEqual(["spec.spiffeID"]);
    expect(fields(claim({ spiffeId }), rules([payments], {}))).toEqual(["spec.spiffeID"]);
  });

  it("should grant nothing when the namespace's labels are unknown", () => {
    const everywhere = policy("everywhere", { spiffeIDs: [`spiffe://${TD}/**`] });
    const spiffeId = `spiffe://${TD}/payments/api`;
    expect(fields(claim({ spiffeId }), rules([everywhere], null))).toEqual(["spec.spiffeID"]);
    expect(fields(claim({ spiffeId }), rules([everywhere], {}))).toEqual([]);
  });

  it.each([
    ["a name under a * label", "api.payments.example.com"],
    ["a wildcard under a * label", "*.payments.example.com"],
    ["a glob within a label", "api-eu.example.com"],
    ["several labels under **", "a.b.internal.example.com"],
    ["a wildcard under **", "*.internal.example.com"],
  ])("should permit %s", (_, name) => {
    expect(fields(claim({ dnsNames: [name] }), rules([payments], { team: "payments" }))).toEqual([]);
  });

  it.each([
    ["the domain a * label sits under", "payments.example.com"],
    ["two labels under a single *", "a.b.payments.example.com"],
    ["a wildcard where the pattern has a partial glob", "*.example.com"],
    ["the domain ** sits under", "internal.example.com"],
    ["a look-alike suffix", "api.payments.example.com.evil.io"],
  ])("should refuse %s", (_, name) => {
    expect(fields(claim({ dnsNames: [name] }), rules([payments], { team: "payments" }))).toEqual([
      "spec.dnsNames[0]",
    ]);
  });

  it("should add the grants of every selecting policy and name them when none grants", () => {
    const a = policy("a", { spiffeIDs: [`spiffe://${TD}/a/*`] });
    const b = policy("b", { spiffeIDs: [`spiffe://${TD}/b/*`] });
    expect(fields(claim({ spiffeId: `spiffe://${TD}/b/x` }), rules([a, b]))).toEqual([]);
    const [problem] = claimProblems(claim({ spiffeId: `spiffe://${TD}/c/x` }), rules([b, a]));
    expect(problem?.message).toContain("(a, b) grants it");
  });

  it("should not let a pattern for another trust domain grant anything", () => {
    const other = policy("other", { spiffeIDs: ["spiffe://other.example/**"] });
    expect(fields(claim({ spiffeId: `spiffe://${TD}/x/y` }), rules([other]))).toEqual(["spec.spiffeID"]);
  });
});

describe("IssuancePolicy limits", () => {
  it("should apply the strictest maxTTL of the selecting policies and name it", () => {
    const loose = policy("loose", { maxTTL: "24h" });
    const strict = policy("strict", { maxTTL: "30m" });
    const problems = claimProblems(claim(), rules([loose, strict]));
    expect(problems.map((p) => p.field)).toEqual(["spec.ttl"]);
    expect(problems[0]?.message).toContain("IssuancePolicy strict");
    expect(claimProblems(claim({ ttl: "30m", ttlMs: 1_800_000 }), rules([loose, strict]))).toEqual([]);
  });

  it("should refuse a key algorithm any selecting policy leaves out", () => {
    const ec = policy("ec-only", { keyAlgorithms: ["ECDSA", "Ed25519"] });
    expect(fields(claim({ keyAlgorithm: "RSA" }), rules([ec]))).toEqual(["spec.privateKey.algorithm"]);
    expect(fields(claim({ keyAlgorithm: "Ed25519" }), rules([ec]))).toEqual([]);
  });

  it("should not apply the limits of a policy that does not select the namespace", () => {
    const strict = policy("strict", { namespaceSelector: { matchLabels: { tier: "pci" } }, maxTTL: "5m" });
    expect(claimProblems(claim(), rules([strict]))).toEqual([]);
  });
});

describe("selectorMatches", () => {
  const labels = { team: "payments", tier: "pci" };
  it.each([
    ["the empty selector", {}, true],
    ["matching matchLabels", { matchLabels: { team: "payments" } }, true],
    ["a different value", { matchLabels: { team: "web" } }, false],
    [
      "In with the value",
      { matchExpressions: [{ key: "tier", operator: "In" as const, values: ["pci"] }] },
      true,
    ],
    [
      "In without the key",
      { matchExpressions: [{ key: "x", operator: "In" as const, values: ["pci"] }] },
      false,
    ],
    [
      "NotIn without the key",
      { matchExpressions: [{ key: "x", operator: "NotIn" as const, values: ["a"] }] },
      true,
    ],
    [
      "NotIn with the value",
      { matchExpressions: [{ key: "tier", operator: "NotIn" as const, values: ["pci"] }] },
      false,
    ],
    ["Exists", { matchExpressions: [{ key: "tier", operator: "Exists" as const }] }, true],
    [
      "DoesNotExist of a present key",
      { matchExpressions: [{ key: "tier", operator: "DoesNotExist" as const }] },
      false,
    ],
    [
      "labels and an expression, one failing",
      {
        matchLabels: { team: "payments" },
        matchExpressions: [{ key: "tier", operator: "DoesNotExist" as const }],
      },
      false,
    ],
  ])("should decide %s", (_, selector, expected) => {
    expect(selectorMatches(selector, labels)).toBe(expected);
  });

  it("should not treat an inherited property as a label", () => {
    expect(selectorMatches({ matchExpressions: [{ key: "constructor", operator: "Exists" }] }, {})).toBe(
      false,
    );
  });

  it("should list the selecting policies in name order", () => {
    const z = policy("z", {});
    const a = policy("a", {});
    const other = policy("m", { namespaceSelector: { matchLabels: { team: "web" } } });
    expect(policiesFor(rules([z, other, a])).map((p) => p.metadata.name)).toEqual(["a", "z"]);
  });
});

describe("the pattern primitives", () => {
  it.each([
    ["*", "", true],
    ["a*", "abc", true],
    ["*c", "abc", true],
    ["a*c", "ac", true],
    ["a*b*c", "abbc", true],
    ["a*a", "a", false],
    ["ab", "abc", false],
    ["a*c", "abd", false],
  ])("globMatches(%j, %j) should be %s", (pattern, text, expected) => {
    expect(globMatches(pattern, text)).toBe(expected);
  });

  it.each([
    ["a.b", ["a", "b"]],
    ["*.b", ["*", "b"]],
    ["*", undefined],
    ["b.*", undefined],
    ["-a.b", undefined],
    ["", undefined],
    [`${"a".repeat(64)}.b`, undefined],
  ])("dnsLabels(%j) should be %j", (name, expected) => {
    expect(dnsLabels(name)).toEqual(expected);
  });

  it("parseSpiffeId should split the trust domain and segments", () => {
    expect(parseSpiffeId("spiffe://td/a/b")).toEqual({ trustDomain: "td", segments: ["a", "b"] });
    expect(parseSpiffeId("spiffe://td")).toBeUndefined();
    expect(parseSpiffeId("spiffe://td/a?b")).toBeUndefined();
    expect(parseSpiffeId("https://td/a")).toBeUndefined();
  });
});

function identity(
  namespace: string,
  name: string,
  extra: { spiffeID?: string; created?: string; uid?: string; issued?: boolean } = {},
): MachineIdentity {
  const parsed = validateMachineIdentity({
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: {
      name,
      namespace,
      ...(extra.uid ? { uid: extra.uid } : {}),
      ...(extra.created ? { creationTimestamp: extra.created } : {}),
    },
    spec: { serviceAccounts: ["sa"], ...(extra.spiffeID ? { spiffeID: extra.spiffeID } : {}) },
    ...(extra.issued ? { status: { spiffeID: extra.spiffeID, serialNumber: "01" } } : {}),
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.value;
}

describe("one SPIFFE ID, one MachineIdentity", () => {
  const id = `spiffe://${TD}/ns/shop/id/payments-api`;
  const victim = identity("shop", "payments-api", { created: "2026-12-01T10:00:00Z", uid: "u-victim" });

  it("should let the first claimant hold the default ID of another identity's name", () => {
    const thief = identity("shop", "thief", {
      spiffeID: id,
      created: "2026-12-01T11:00:00Z",
      uid: "u-thief",
    });
    expect(spiffeIdConflict(victim, [victim, thief], TD)).toBeUndefined();
    const conflict = spiffeIdConflict(thief, [victim, thief], TD);
    expect(conflict?.holder).toBe("MachineIdentity shop/payments-api");
    expect(conflict?.message).toContain("spec.spiffeID");
  });

  it("should refuse a claimant that does not exist yet whatever its name", () => {
    const shared = `spiffe://${TD}/payments`;
    const holder = identity("finance", "z", { spiffeID: shared, created: "2026-12-01T10:00:00Z", uid: "u1" });
    const newcomer = identity("shop", "a", { spiffeID: shared });
    expect(spiffeIdConflict(newcomer, [holder], TD)?.holder).toBe("MachineIdentity finance/z");
  });

  it("should keep the issued holder even against an older claimant", () => {
    const shared = `spiffe://${TD}/payments`;
    const issued = identity("finance", "new", {
      spiffeID: shared,
      created: "2026-12-01T12:00:00Z",
      uid: "u1",
      issued: true,
    });
    const older = identity("shop", "old", { spiffeID: shared, created: "2026-12-01T09:00:00Z", uid: "u2" });
    expect(spiffeIdConflict(older, [issued, older], TD)?.holder).toBe("MachineIdentity finance/new");
    expect(spiffeIdConflict(issued, [issued, older], TD)).toBeUndefined();
  });

  it("should pick the same holder for claimants created in the same second, from either side", () => {
    const shared = `spiffe://${TD}/payments`;
    const a = identity("finance", "a", { spiffeID: shared, created: "2026-12-01T10:00:00Z", uid: "u9" });
    const b = identity("shop", "a", { spiffeID: shared, created: "2026-12-01T10:00:00Z", uid: "u1" });
    expect(spiffeIdConflict(a, [a, b], TD)).toBeUndefined();
    expect(spiffeIdConflict(b, [b, a], TD)?.holder).toBe("MachineIdentity finance/a");
  });

  it("should see no conflict between different IDs", () => {
    const other = identity("shop", "checkout", { created: "2026-12-01T09:00:00Z", uid: "u3" });
    expect(spiffeIdConflict(victim, [victim, other], TD)).toBeUndefined();
  });

  it("spiffeIdHolder should be independent of the claimants' order", () => {
    const cs = [
      { namespace: "b", name: "x", uid: "2", creationTimestamp: "2026-12-01T10:00:00Z", issued: false },
      { namespace: "a", name: "x", uid: "1", creationTimestamp: "2026-12-01T10:00:00Z", issued: false },
      { namespace: "c", name: "x", uid: "3", creationTimestamp: undefined, issued: false },
    ];
    expect(spiffeIdHolder(cs)?.namespace).toBe("a");
    expect(spiffeIdHolder([...cs].reverse())?.namespace).toBe("a");
    expect(spiffeIdHolder([])).toBeUndefined();
  });
});
