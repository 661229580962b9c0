import { describe, expect, it } from "vitest";
import type { AdmissionRequest } from "../../../webhooks/src/review.ts";
import {
  type IssuancePolicy,
  type MachineIdentity,
  validateIssuancePolicy,
  validateMachineIdentity,
} from "../api/index.ts";
import { type IdentityAdmissionOptions, validateMachineIdentities } from "./admission.ts";
import { ClaimIndex } from "./claim-index.ts";

function indexOf(identities: MachineIdentity[]): ClaimIndex {
  const index = new ClaimIndex(TD);
  for (const mi of identities) index.upsert(mi);
  return index;
}

const TD = "cluster.local";

function mi(
  namespace: string,
  name: string,
  spec: Record<string, unknown> = {},
  meta: Record<string, unknown> = {},
) {
  const parsed = validateMachineIdentity({
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: { name, namespace, ...meta },
    spec: { serviceAccounts: ["sa"], ...spec },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.value;
}

const financePolicy = (() => {
  const parsed = validateIssuancePolicy({
    apiVersion: "signet.dev/v1alpha1",
    kind: "IssuancePolicy",
    metadata: { name: "finance" },
    spec: {
      namespaceSelector: { matchLabels: { team: "finance" } },
      spiffeIDs: [`spiffe://${TD}/finance/**`],
      dnsNames: ["*.finance.example.com"],
    },
  });
  if (!parsed.ok) throw new Error("bad policy");
  return parsed.value;
})();

function handler(
  over: Partial<IdentityAdmissionOptions> & {
    existing?: MachineIdentity[];
    policies?: IssuancePolicy[];
  } = {},
) {
  const existing = over.existing ?? [];
  return validateMachineIdentities({
    trustDomain: TD,
    clusterDomain: "cluster.local",
    policies: () => over.policies ?? [financePolicy],
    namespaceLabels: (ns) => ({
      "kubernetes.io/metadata.name": ns,
      ...(ns === "finance" ? { team: "finance" } : {}),
    }),
    claimants: indexOf(existing),
    secret: () => undefined,
    reserved: { namespace: "signet-system", names: ["signet-ca", "signet-webhook-tls", "signet-serving-ca"] },
    synced: () => true,
    ...over,
  });
}

function request(object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  const o = object as { metadata: { namespace: string } };
  return {
    uid: "u",
    kind: { group: "signet.dev", version: "v1alpha1", kind: "MachineIdentity" },
    operation: "CREATE",
    namespace: o.metadata.namespace,
    object,
    ...extra,
  };
}

describe("the MachineIdentity admission webhook", () => {
  it("should admit an identity that claims only its own namespace's names", () => {
    const answer = handler()(request(mi("shop", "payments", { dnsNames: ["payments.shop.svc"] })));
    expect(answer).toEqual({ allowed: true });
  });

  it("should deny a SPIFFE ID outside /ns/ and name the resource, the field and the rule", () => {
    const answer = handler()(request(mi("shop", "thief", { spiffeID: `spiffe://${TD}/finance/ledger` })));
    expect(answer).toMatchObject({ allowed: false, reason: "ClaimNotPermitted" });
    const message = (answer as { message: string }).message;
    expect(message).toContain("MachineIdentity shop/thief");
    expect(message).toContain("spec.spiffeID");
    expect(message).toContain("IssuancePolicy");
  });

  it("should admit the same SPIFFE ID in the namespace the policy selects", () => {
    expect(
      handler()(request(mi("finance", "ledger", { spiffeID: `spiffe://${TD}/finance/ledger` }))),
    ).toEqual({
      allowed: true,
    });
  });

  it("should deny a DNS name of another namespace's Service, naming the list entry", () => {
    const answer = handler()(
      request(mi("shop", "x", { dnsNames: ["payments.shop.svc", "kubernetes.default.svc"] })),
    );
    expect((answer as { message: string }).message).toContain("spec.dnsNames[1]");
  });

  it("should deny a second claimant of a SPIFFE ID another identity holds", () => {
    const id = `spiffe://${TD}/finance/ledger`;
    const holder = mi(
      "finance",
      "ledger",
      { spiffeID: id },
      { uid: "u1", creationTimestamp: "2026-12-01T10:00:00Z" },
    );
    const answer = handler({ existing: [holder] })(request(mi("finance", "copy", { spiffeID: id })));
    expect(answer).toMatchObject({ allowed: false, reason: "SpiffeIDConflict" });
    expect((answer as { message: string }).message).toContain("MachineIdentity finance/ledger");
  });

  it("should deny a secretName another identity of the namespace already names", () => {
    const victim = mi("shop", "payments", {}, { uid: "u1", creationTimestamp: "2026-12-01T10:00:00Z" });
    const answer = handler({ existing: [victim] })(
      request(mi("shop", "thief", { secretName: "payments-identity" })),
    );
    expect(answer).toMatchObject({ allowed: false, reason: "SecretConflict" });
  });

  it("should deny a reserved Secret name in the operator's namespace", () => {
    const answer = handler()(request(mi("signet-system", "x", { secretName: "signet-ca" })));
    expect(answer).toMatchObject({ allowed: false, reason: "SecretNameReserved" });
  });

  it("should allow an UPDATE that changes no claimed field, even when the claim is no longer permitted", () => {
    const old = mi("shop", "legacy", { spiffeID: `spiffe://${TD}/legacy` }, { uid: "u1" });
    const suspended = { ...old, spec: { ...old.spec, suspend: true } };
    expect(handler()(request(suspended, { operation: "UPDATE", oldObject: old }))).toEqual({ allowed: true });
  });

  it("should judge an UPDATE that changes a claimed field", () => {
    const old = mi("shop", "x", {}, { uid: "u1" });
    const changed = { ...old, spec: { ...old.spec, spiffeID: `spiffe://${TD}/elsewhere` } };
    expect(handler()(request(changed, { operation: "UPDATE", oldObject: old }))).toMatchObject({
      allowed: false,
    });
  });

  it("should refuse while its caches have not synced", () => {
    expect(handler({ synced: () => false })(request(mi("shop", "x")))).toMatchObject({ code: 503 });
  });

  it("should refuse another kind and a malformed object with 400", () => {
    expect(
      handler()({ ...request(mi("shop", "x")), kind: { group: "", version: "v1", kind: "Pod" } }),
    ).toMatchObject({ code: 400 });
    expect(handler()(request({ metadata: { namespace: "shop", name: "x" }, spec: {} }))).toMatchObject({
      code: 400,
    });
  });

  it("should let DELETE through without looking", () => {
    expect(handler({ synced: () => false })(request(mi("shop", "x"), { operation: "DELETE" }))).toEqual({
      allowed: true,
    });
  });
});
