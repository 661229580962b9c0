import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HOUR, intermediateCa, MINUTE, NOW, rootCa, SPIFFE_ID } from "../../../testing/pki.ts";
import { referenceSvidDer } from "../../../testing/pki-reference.ts";
import { toPem } from "./der.ts";
import { inspectSecretData, type SecretData } from "./inspect.ts";
import { DEFAULT_BACKDATE_MS, type MintSvidInput, mintSvid, svidValidity, type Usage } from "./mint.ts";
import {
  DEFAULT_RENEWAL_CHAIN,
  type DesiredSvid,
  defaultRenewBefore,
  dnsNamesChanged,
  evaluateRenewal,
  expired,
  issuerChanged,
  keyAlgorithmChanged,
  nearingRenewal,
  type RenewalInput,
  type RenewalPredicate,
  renewalContext,
  renewalTime,
  secretMalformed,
  secretMissing,
  spiffeIdChanged,
  ttlChanged,
  usagesChanged,
  windowEndChanged,
} from "./renewal.ts";
import { trustBundle } from "./rotation.ts";

const at = (ms: number) => new Date(NOW.getTime() + ms);

const desired: DesiredSvid = {
  spiffeId: SPIFFE_ID,
  dnsNames: ["payments.shop.svc"],
  keyAlgorithm: { algorithm: "ECDSA", size: 256 },
  ttlMs: HOUR,
};

async function secretFor(overrides: Partial<MintSvidInput> = {}): Promise<SecretData> {
  const { ca } = await rootCa();
  const svid = await mintSvid({ ca, ...desired, now: NOW, ...overrides });
  return { "tls.crt": svid.chainPem, "tls.key": svid.keyPem, "ca.crt": trustBundle([overrides.ca ?? ca]) };
}

/** A certificate as Signet issued it before every SVID carried both usages. */
async function singleUsageSecret(usage: Usage): Promise<SecretData> {
  const { ca } = await rootCa();
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = await referenceSvidDer({
    ca,
    spiffeId: SPIFFE_ID,
    dnsNames: desired.dnsNames ?? [],
    usages: [usage],
    keyAlgorithm: { algorithm: "ECDSA", size: 256 },
    serialNumber: "7f".repeat(16),
    ...svidValidity({ ca, ttlMs: desired.ttlMs, now: NOW, backdateMs: DEFAULT_BACKDATE_MS }),
    publicKeySpki: publicKey.export({ type: "spki", format: "der" }),
  });
  return {
    "tls.crt": toPem("CERTIFICATE", der),
    "tls.key": privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    "ca.crt": trustBundle([ca]),
  };
}

async function input(
  secret: SecretData | undefined,
  overrides: Partial<RenewalInput> = {},
): Promise<RenewalInput> {
  const { ca } = await rootCa();
  return { secret, desired, issuer: ca, now: at(MINUTE), jitterKey: "shop/payments-api", ...overrides };
}

const byReason: Record<string, RenewalPredicate> = {
  SecretMissing: secretMissing,
  SecretMalformed: secretMalformed,
  IssuerChanged: issuerChanged,
  SpiffeIdChanged: spiffeIdChanged,
  DnsNamesChanged: dnsNamesChanged,
  UsagesChanged: usagesChanged,
  KeyAlgorithmChanged: keyAlgorithmChanged,
  TtlChanged: ttlChanged,
  WindowEndChanged: windowEndChanged,
  Expired: expired,
  NearingRenewal: nearingRenewal,
};

interface PredicateCase {
  name: string;
  reason: string;
  fires: boolean;
  build: () => Promise<RenewalInput>;
}

const otherKey = async () =>
  (await secretFor({ keyAlgorithm: { algorithm: "ECDSA", size: 384 } }))["tls.key"];

const cases: PredicateCase[] = [
  {
    name: "should reissue when the secret is missing",
    reason: "SecretMissing",
    fires: true,
    build: () => input(undefined),
  },
  {
    name: "should not report a missing secret that exists",
    reason: "SecretMissing",
    fires: false,
    build: async () => input(await secretFor()),
  },
  {
    name: "should reissue when tls.crt is absent",
    reason: "SecretMalformed",
    fires: true,
    build: async () => input({ ...(await secretFor()), "tls.crt": undefined }),
  },
  {
    name: "should reissue when tls.key does not parse",
    reason: "SecretMalformed",
    fires: true,
    build: async () =>
      input({
        ...(await secretFor()),
        "tls.key": "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n",
      }),
  },
  {
    name: "should reissue when tls.key belongs to another certificate",
    reason: "SecretMalformed",
    fires: true,
    build: async () => input({ ...(await secretFor()), "tls.key": await otherKey() }),
  },
  {
    name: "should accept a matching certificate and key",
    reason: "SecretMalformed",
    fires: false,
    build: async () => input(await secretFor()),
  },
  {
    name: "should reissue when another CA signed the certificate",
    reason: "IssuerChanged",
    fires: true,
    build: async () => input(await secretFor({ ca: (await rootCa(undefined, "Other Root")).ca })),
  },
  {
    name: "should reissue when the certificate does not chain to the trust bundle",
    reason: "IssuerChanged",
    fires: true,
    build: async () =>
      input(await secretFor(), { trustBundlePem: (await rootCa(undefined, "Other Root")).certPem }),
  },
  {
    name: "should reissue when tls.crt lacks the issuing intermediate",
    reason: "IssuerChanged",
    fires: true,
    build: async () => {
      const { ca, root } = await intermediateCa();
      const svid = await mintSvid({ ca, ...desired, now: NOW });
      return input(
        { "tls.crt": svid.certPem, "tls.key": svid.keyPem, "ca.crt": root.certPem },
        { issuer: ca },
      );
    },
  },
  {
    name: "should accept a certificate from an intermediate with its chain",
    reason: "IssuerChanged",
    fires: false,
    build: async () => {
      const { ca, root } = await intermediateCa();
      const svid = await mintSvid({ ca, ...desired, now: NOW });
      return input(
        { "tls.crt": svid.chainPem, "tls.key": svid.keyPem, "ca.crt": root.certPem },
        { issuer: ca },
      );
    },
  },
  {
    name: "should keep a certificate from the current CA during a rotation overlap",
    reason: "IssuerChanged",
    fires: false,
    build: async () =>
      input(await secretFor(), {
        trustBundlePem: trustBundle([(await rootCa()).ca, (await rootCa(undefined, "Next Root")).ca]),
      }),
  },
  {
    name: "should reissue when the SPIFFE ID changed",
    reason: "SpiffeIdChanged",
    fires: true,
    build: async () => input(await secretFor({ spiffeId: "spiffe://cluster.local/ns/shop/id/old" })),
  },
  {
    name: "should keep the same SPIFFE ID",
    reason: "SpiffeIdChanged",
    fires: false,
    build: async () => input(await secretFor()),
  },
  {
    name: "should reissue when a DNS name was added",
    reason: "DnsNamesChanged",
    fires: true,
    build: async () =>
      input(await secretFor(), { desired: { ...desired, dnsNames: ["payments.shop.svc", "pay.shop.svc"] } }),
  },
  {
    name: "should not reissue when only the order of DNS names differs",
    reason: "DnsNamesChanged",
    fires: false,
    build: async () =>
      input(await secretFor({ dnsNames: ["b.svc", "a.svc"] }), {
        desired: { ...desired, dnsNames: ["a.svc", "b.svc", "a.svc"] },
      }),
  },
  {
    name: "should reissue a client-only certificate, which SPIFFE section 4.4 does not allow",
    reason: "UsagesChanged",
    fires: true,
    build: async () => input(await singleUsageSecret("client")),
  },
  {
    name: "should reissue a server-only certificate, which SPIFFE section 4.4 does not allow",
    reason: "UsagesChanged",
    fires: true,
    build: async () => input(await singleUsageSecret("server")),
  },
  {
    name: "should keep a certificate that carries both serverAuth and clientAuth",
    reason: "UsagesChanged",
    fires: false,
    build: async () => input(await secretFor()),
  },
  {
    name: "should reissue when the key algorithm changed",
    reason: "KeyAlgorithmChanged",
    fires: true,
    build: async () => input(await secretFor({ keyAlgorithm: { algorithm: "Ed25519" } })),
  },
  {
    name: "should treat an ECDSA spec without size as P-256",
    reason: "KeyAlgorithmChanged",
    fires: false,
    build: async () =>
      input(await secretFor(), { desired: { ...desired, keyAlgorithm: { algorithm: "ECDSA" } } }),
  },
  {
    name: "should reissue when the ttl was shortened",
    reason: "TtlChanged",
    fires: true,
    build: async () => input(await secretFor(), { desired: { ...desired, ttlMs: 30 * MINUTE } }),
  },
  {
    name: "should reissue when the ttl was lengthened",
    reason: "TtlChanged",
    fires: true,
    build: async () => input(await secretFor(), { desired: { ...desired, ttlMs: 2 * HOUR } }),
  },
  {
    name: "should not reissue for a lifetime within the tolerance",
    reason: "TtlChanged",
    fires: false,
    build: async () => input(await secretFor({ ttlMs: HOUR + 1500 })),
  },
  {
    name: "should not count a lifetime cut short by the access window as a ttl change",
    reason: "TtlChanged",
    fires: false,
    build: async () =>
      input(await secretFor({ notAfterLimit: at(20 * MINUTE) }), { windowEnd: at(20 * MINUTE) }),
  },
  {
    name: "should reissue when the certificate outlives a window that now ends earlier",
    reason: "WindowEndChanged",
    fires: true,
    build: async () => input(await secretFor(), { windowEnd: at(30 * MINUTE) }),
  },
  {
    name: "should keep a certificate that ends within the window",
    reason: "WindowEndChanged",
    fires: false,
    build: async () => input(await secretFor(), { windowEnd: at(HOUR) }),
  },
  {
    name: "should reissue an expired certificate",
    reason: "Expired",
    fires: true,
    build: async () => input(await secretFor(), { now: at(HOUR) }),
  },
  {
    name: "should keep a certificate before its notAfter",
    reason: "Expired",
    fires: false,
    build: async () => input(await secretFor(), { now: at(HOUR - 1) }),
  },
  {
    name: "should reissue once the renewal time has passed",
    reason: "NearingRenewal",
    fires: true,
    build: async () => input(await secretFor(), { now: at(HOUR - 17 * MINUTE) }),
  },
  {
    name: "should not renew early",
    reason: "NearingRenewal",
    fires: false,
    build: async () => input(await secretFor(), { now: at(HOUR - 23 * MINUTE) }),
  },
  {
    name: "should not renew a certificate that already reaches the window's end",
    reason: "NearingRenewal",
    fires: false,
    build: async () =>
      input(await secretFor({ notAfterLimit: at(20 * MINUTE) }), {
        windowEnd: at(20 * MINUTE),
        now: at(19 * MINUTE),
      }),
  },
];

describe("renewal predicates", () => {
  it("should cover every predicate of the default chain", () => {
    expect(new Set(Object.values(byReason))).toEqual(new Set(DEFAULT_RENEWAL_CHAIN));
    expect(new Set(cases.filter((c) => c.fires).map((c) => c.reason))).toEqual(
      new Set(Object.keys(byReason)),
    );
    expect(new Set(cases.filter((c) => !c.fires).map((c) => c.reason))).toEqual(
      new Set(Object.keys(byReason)),
    );
  });

  it.each(cases)("$name ($reason)", async ({ reason, fires, build }) => {
    const context = renewalContext(await build());
    const predicate = byReason[reason] as RenewalPredicate;
    const decision = predicate(context);
    expect(decision.reason).toBe(reason);
    expect(decision.reissue).toBe(fires);
  });

  it("should never quote the key in a malformed-secret message", async () => {
    const key = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n";
    const decision = evaluateRenewal(await input({ ...(await secretFor()), "tls.key": key }));
    expect(decision).toMatchObject({ reissue: true, reason: "SecretMalformed" });
    expect(decision.message).not.toContain("TOPSECRET");
  });

  it("should report the first predicate that fires, in chain order", async () => {
    const decision = evaluateRenewal(
      await input(
        await secretFor({ keyAlgorithm: { algorithm: "Ed25519" }, spiffeId: "spiffe://cluster.local/old" }),
        { now: at(2 * HOUR) },
      ),
    );
    expect(decision).toMatchObject({ reissue: true, reason: "SpiffeIdChanged" });
  });

  it("should say UpToDate with the renewal time when nothing fires", async () => {
    const decision = evaluateRenewal(await input(await secretFor()));
    expect(decision.reissue).toBe(false);
    expect(decision.reason).toBe("UpToDate");
    expect(decision.renewalTime?.getTime()).toBeGreaterThanOrEqual(at(HOUR - 22 * MINUTE).getTime());
    expect(decision.renewalTime?.getTime()).toBeLessThanOrEqual(at(HOUR - 18 * MINUTE).getTime());
  });
});

describe("renewalTime", () => {
  const notBefore = at(-MINUTE);
  const notAfter = at(HOUR);
  const renewBeforeMs = 20 * MINUTE;

  it("should spread 1,000 identities over the ±10% band and give each the same time every time", () => {
    const times = Array.from({ length: 1000 }, (_, i) =>
      renewalTime({
        notBefore,
        notAfter,
        renewBeforeMs,
        jitterKey: `ns/identity-${i}`,
        serialNumber: "8f00",
      }).getTime(),
    );
    const earliest = notAfter.getTime() - renewBeforeMs * 1.1;
    const latest = notAfter.getTime() - renewBeforeMs * 0.9;
    for (const t of times) {
      expect(t).toBeGreaterThanOrEqual(earliest);
      expect(t).toBeLessThanOrEqual(latest);
    }
    const band = latest - earliest;
    expect(Math.min(...times) - earliest).toBeLessThan(band * 0.01);
    expect(latest - Math.max(...times)).toBeLessThan(band * 0.01);
    const deciles = new Array(10).fill(0);
    for (const t of times) deciles[Math.min(9, Math.floor(((t - earliest) / band) * 10))]++;
    for (const count of deciles) expect(count).toBeGreaterThan(60);
    expect(new Set(times).size).toBeGreaterThan(990);
    const again = renewalTime({
      notBefore,
      notAfter,
      renewBeforeMs,
      jitterKey: "ns/identity-7",
      serialNumber: "8f00",
    });
    expect(again.getTime()).toBe(times[7]);
  });

  it("should move when the serial changes, so each new certificate gets its own time", () => {
    const a = renewalTime({ notBefore, notAfter, renewBeforeMs, jitterKey: "ns/x", serialNumber: "8a" });
    const b = renewalTime({ notBefore, notAfter, renewBeforeMs, jitterKey: "ns/x", serialNumber: "8b" });
    expect(a.getTime()).not.toBe(b.getTime());
  });

  it.each([
    { name: "a zero renewBefore", renewBeforeMs: 0 },
    { name: "a negative renewBefore", renewBeforeMs: -5 },
    { name: "a renewBefore as long as the lifetime", renewBeforeMs: HOUR + MINUTE },
    { name: "a renewBefore whose band would reach before notBefore", renewBeforeMs: 56 * MINUTE },
  ])("should fall back to a third of the lifetime for $name", ({ renewBeforeMs: rb }) => {
    const third = (HOUR + MINUTE) / 3;
    for (let i = 0; i < 200; i++) {
      const t = renewalTime({ notBefore, notAfter, renewBeforeMs: rb, jitterKey: `k${i}` }).getTime();
      expect(t).toBeGreaterThanOrEqual(notAfter.getTime() - third * 1.1);
      expect(t).toBeLessThanOrEqual(notAfter.getTime() - third * 0.9);
      expect(t).toBeGreaterThan(notBefore.getTime());
    }
  });

  it("should default renewBefore to a third of the ttl", () => {
    expect(defaultRenewBefore(HOUR)).toBe(20 * MINUTE);
    expect(defaultRenewBefore(1000)).toBe(333);
  });
});

describe("inspectSecretData", () => {
  it("should describe a minted SVID", async () => {
    const { ca } = await rootCa();
    const svid = await mintSvid({ ca, ...desired, dnsNames: ["b.svc", "a.svc"], now: NOW });
    const inspection = inspectSecretData({
      "tls.crt": svid.chainPem,
      "tls.key": svid.keyPem,
      "ca.crt": ca.rootPem,
    });
    expect(inspection.status).toBe("Parsed");
    if (inspection.status !== "Parsed") return;
    expect(inspection.view).toMatchObject({
      serialNumber: svid.serialNumber,
      notBefore: svid.notBefore,
      notAfter: svid.notAfter,
      spiffeId: SPIFFE_ID,
      dnsNames: ["a.svc", "b.svc"],
      usages: ["server", "client"],
      keyAlgorithm: { algorithm: "ECDSA", size: 256 },
      keyDescription: "ECDSA 256",
      isCa: false,
      chainVerified: true,
    });
  });

  it("should detect a ca.crt swapped for another root", async () => {
    const secret = await secretFor();
    const inspection = inspectSecretData({
      ...secret,
      "ca.crt": (await rootCa(undefined, "Other Root")).certPem,
    });
    expect(inspection.status === "Parsed" && inspection.view.chainVerified).toBe(false);
    expect(inspection.status === "Parsed" && inspection.view.chainProblem).toMatch(
      /not signed by any trusted root/,
    );
  });

  it.each([
    { name: "no Secret", data: undefined, status: "Missing" },
    { name: "an empty Secret", data: {}, status: "Malformed", message: "tls.crt is missing or empty" },
    {
      name: "a PEM without certificates",
      data: { "tls.crt": "junk", "tls.key": "junk" },
      status: "Malformed",
      message: "no PEM CERTIFICATE",
    },
  ])("should classify $name as $status", ({ data, status, message }) => {
    const inspection = inspectSecretData(data);
    expect(inspection.status).toBe(status);
    if (message && inspection.status === "Malformed") expect(inspection.message).toContain(message);
  });
});
