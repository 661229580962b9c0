import { describe, expect, it } from "vitest";
import { type MachineIdentity, validateMachineIdentity } from "../api/index.ts";
import { ClaimIndex } from "./claim-index.ts";

const TD = "cluster.local";

function mi(namespace: string, name: string, spec: Record<string, unknown> = {}): MachineIdentity {
  const parsed = validateMachineIdentity({
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: { name, namespace },
    spec: { serviceAccounts: ["sa"], ...spec },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.value;
}

const names = (list: MachineIdentity[]) =>
  list.map((m) => `${m.metadata.namespace}/${m.metadata.name}`).sort();

describe("ClaimIndex", () => {
  it("should find the claimants of a default and an explicit SPIFFE ID across namespaces", () => {
    const index = new ClaimIndex(TD);
    index.upsert(mi("shop", "payments"));
    index.upsert(mi("shop", "thief", { spiffeID: `spiffe://${TD}/ns/shop/id/payments` }));
    index.upsert(mi("finance", "other", { spiffeID: `spiffe://${TD}/shared` }));
    index.upsert(mi("shop", "another", { spiffeID: `spiffe://${TD}/shared` }));
    index.upsert(mi("shop", "checkout"));
    expect(names(index.bySpiffeId(`spiffe://${TD}/ns/shop/id/payments`))).toEqual([
      "shop/payments",
      "shop/thief",
    ]);
    expect(names(index.bySpiffeId(`spiffe://${TD}/shared`))).toEqual(["finance/other", "shop/another"]);
    expect(names(index.bySpiffeId(`spiffe://${TD}/nothing`))).toEqual([]);
  });

  it("should find the claimants of a Secret within one namespace only", () => {
    const index = new ClaimIndex(TD);
    index.upsert(mi("shop", "payments"));
    index.upsert(mi("shop", "thief", { secretName: "payments-identity" }));
    index.upsert(mi("finance", "x", { secretName: "payments-identity" }));
    expect(names(index.bySecretName("shop", "payments-identity"))).toEqual(["shop/payments", "shop/thief"]);
  });

  it("should move an identity when its claims change, keep the latest version, and tell who let go", () => {
    const index = new ClaimIndex(TD);
    const released: string[] = [];
    const stop = index.onReleased((id, key) => released.push(`${key} ${id}`));
    index.upsert(mi("shop", "a", { spiffeID: `spiffe://${TD}/one` }));
    index.upsert(mi("shop", "a", { spiffeID: `spiffe://${TD}/one`, suspend: true }));
    expect(index.bySpiffeId(`spiffe://${TD}/one`)[0]?.spec.suspend).toBe(true);
    expect(released).toEqual([]);
    index.upsert(mi("shop", "a", { spiffeID: `spiffe://${TD}/two`, secretName: "s" }));
    expect(index.bySpiffeId(`spiffe://${TD}/one`)).toEqual([]);
    expect(names(index.bySpiffeId(`spiffe://${TD}/two`))).toEqual(["shop/a"]);
    expect(index.bySecretName("shop", "a-identity")).toEqual([]);
    expect(names(index.bySecretName("shop", "s"))).toEqual(["shop/a"]);
    index.remove(mi("shop", "a", { spiffeID: `spiffe://${TD}/two` }));
    expect(index.bySpiffeId(`spiffe://${TD}/two`)).toEqual([]);
    expect(index.bySecretName("shop", "s")).toEqual([]);
    expect(released).toEqual([`shop/a spiffe://${TD}/one`, `shop/a spiffe://${TD}/two`]);
    stop();
    index.upsert(mi("shop", "b"));
    index.remove(mi("shop", "b"));
    expect(released).toHaveLength(2);
  });

  it("should ignore the removal of an identity it never saw", () => {
    const index = new ClaimIndex(TD);
    const released: string[] = [];
    index.onReleased((id) => released.push(id));
    index.remove(mi("shop", "ghost"));
    expect(released).toEqual([]);
  });
});
