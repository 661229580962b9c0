import { describe, expect, it } from "vitest";
import { IDENTITY_SECRET_ANNOTATIONS, type MachineIdentity } from "../../api/index.ts";
import { contentHash, desiredIdentity, tamperedWith } from "./desired.ts";

const policy = { trustDomain: "cluster.local", minTtlMs: 300_000, maxTtlMs: 86_400_000 };

function identity(
  spec: Partial<MachineIdentity["spec"]>,
  namespace = "shop",
  name = "payments-api",
): MachineIdentity {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: { name, namespace },
    spec: {
      serviceAccounts: ["payments"],
      ttl: "1h",
      privateKey: { algorithm: "ECDSA", size: 256 },
      suspend: false,
      ...spec,
    },
  } as MachineIdentity;
}

describe("desiredIdentity", () => {
  it("should default the SPIFFE ID, the Secret name and renewBefore to a third of the ttl", () => {
    const out = desiredIdentity(identity({}), policy);
    expect(out).toMatchObject({
      ok: true,
      secretName: "payments-api-identity",
      svid: {
        spiffeId: "spiffe://cluster.local/ns/shop/id/payments-api",
        ttlMs: 3_600_000,
        renewBeforeMs: 1_200_000,
      },
    });
  });

  it.each([
    [
      "a spiffeID claiming another namespace",
      { spiffeID: "spiffe://cluster.local/ns/finance/id/ledger" },
      /spec\.spiffeID.*finance/,
    ],
    [
      "a spiffeID in another trust domain",
      { spiffeID: "spiffe://evil.example/ns/shop/id/x" },
      /trust domain cluster\.local/,
    ],
    ["a ttl below the operator's minimum", { ttl: "1m" }, /outside this operator's bounds 5m\.\.24h/],
    ["a ttl above the operator's maximum", { ttl: "48h" }, /outside this operator's bounds/],
  ])("should refuse %s", (_name, spec, message) => {
    const out = desiredIdentity(identity(spec), policy);
    expect(out.ok).toBe(false);
    expect(out.ok ? "" : out.message).toMatch(message);
    expect(out.ok ? "" : out.message).toContain("MachineIdentity shop/payments-api");
  });

  it("should accept a spiffeID of its own namespace or outside /ns/", () => {
    expect(desiredIdentity(identity({ spiffeID: "spiffe://cluster.local/ns/shop/id/api" }), policy).ok).toBe(
      true,
    );
    expect(desiredIdentity(identity({ spiffeID: "spiffe://cluster.local/payments" }), policy).ok).toBe(true);
  });
});

describe("tamperedWith", () => {
  const data = { "tls.crt": "Y3J0", "tls.key": "a2V5", "ca.crt": "Y2E=" };
  const written = {
    metadata: { annotations: { [IDENTITY_SECRET_ANNOTATIONS.contentHash]: contentHash(data) } },
    data,
  };

  it.each([
    ["should find nothing in the Secret as Signet wrote it", written, undefined],
    [
      "should notice the content-hash annotation removed",
      { ...written, metadata: { annotations: {} } },
      "its content-hash annotation was removed",
    ],
    [
      "should notice a changed tls.crt",
      { ...written, data: { ...data, "tls.crt": "b3RoZXI=" } },
      "its data was changed after Signet wrote it",
    ],
    [
      "should notice a replaced trust bundle",
      { ...written, data: { ...data, "ca.crt": "b3RoZXI=" } },
      "its data was changed after Signet wrote it",
    ],
    [
      "should notice a removed key",
      { ...written, data: { "tls.crt": data["tls.crt"], "ca.crt": data["ca.crt"] } },
      "its data was changed after Signet wrote it",
    ],
  ])("%s", (_name, secret, expected) => {
    expect(tamperedWith(secret)).toBe(expected);
  });

  it("should not let a value moved from one key to another keep the same hash", () => {
    const moved = { "tls.crt": data["tls.key"], "tls.key": data["tls.crt"], "ca.crt": data["ca.crt"] };
    expect(contentHash(moved)).not.toBe(contentHash(data));
  });
});
