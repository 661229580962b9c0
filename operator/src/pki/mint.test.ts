import { generateKeyPairSync, type KeyObject, X509Certificate } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ALGORITHMS,
  DAY,
  expectCompliantSvid,
  HOUR,
  intermediateCa,
  MINUTE,
  NOW,
  rootCa,
  SPIFFE_ID,
  TRUST_DOMAIN,
} from "../../../testing/pki.ts";
import { referenceSvidDer } from "../../../testing/pki-reference.ts";
import { createRootCa } from "./ca.ts";
import { readHeader } from "./der.ts";
import { chainProblem } from "./inspect.ts";
import { type KeyAlgorithm, keyAlgorithmOf, resolveKeyAlgorithm } from "./keys.ts";
import { detachedTemplate, type MintSvidInput, mintSvid, mintSvidForKey } from "./mint.ts";
import * as x509 from "./x509.ts";

const tbsOf = (der: Buffer): Buffer => {
  const outer = readHeader(der, 0);
  const tbs = readHeader(der, outer.contentStart);
  return der.subarray(tbs.start, tbs.end);
};

describe("mintSvid", () => {
  describe.each(ALGORITHMS)("with a $name leaf key", ({ spec }) => {
    it("should mint an SVID that parses, verifies and obeys the X.509-SVID standard", async () => {
      const { ca } = await rootCa();
      const svid = await mintSvid({
        ca,
        spiffeId: SPIFFE_ID,
        dnsNames: ["payments.shop.svc"],
        ttlMs: HOUR,
        keyAlgorithm: spec,
        now: NOW,
      });
      await expectCompliantSvid(svid, ca, {
        spiffeId: SPIFFE_ID,
        dnsNames: ["payments.shop.svc"],
        keyAlgorithm: spec,
      });
    });
  });

  describe.each(ALGORITHMS)("under a $name CA", ({ spec }) => {
    it("should sign with the CA's scheme so that the SVID verifies", async () => {
      const { ca } = await rootCa(spec);
      const svid = await mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR, now: NOW });
      await expectCompliantSvid(svid, ca, { spiffeId: SPIFFE_ID });
    });
  });

  describe("against a reference certificate built with @peculiar/x509", () => {
    const cases = [
      ...ALGORITHMS.map(({ name, spec }) => ({
        name: `a ${name} leaf under a P-256 CA`,
        leaf: spec,
        ca: ALGORITHMS[0]?.spec,
      })),
      ...ALGORITHMS.map(({ name, spec }) => ({
        name: `a P-256 leaf under a ${name} CA`,
        leaf: ALGORITHMS[0]?.spec,
        ca: spec,
      })),
    ];
    it.each(cases)("should produce the same TBSCertificate for $name", async ({ leaf, ca: caSpec }) => {
      const { ca } = await rootCa(caSpec);
      const svid = await mintSvid({
        ca,
        spiffeId: SPIFFE_ID,
        dnsNames: ["b.shop.svc", "a.shop.svc"],
        ttlMs: HOUR,
        keyAlgorithm: leaf,
        now: NOW,
      });
      const minted = new X509Certificate(svid.certPem);
      const reference = await referenceSvidDer({
        ca,
        spiffeId: SPIFFE_ID,
        dnsNames: ["a.shop.svc", "b.shop.svc"],
        keyAlgorithm: resolveKeyAlgorithm(leaf ?? { algorithm: "ECDSA" }),
        serialNumber: svid.serialNumber,
        notBefore: svid.notBefore,
        notAfter: svid.notAfter,
        publicKeySpki: minted.publicKey.export({ type: "spki", format: "der" }),
      });
      expect(tbsOf(minted.raw).toString("hex")).toBe(tbsOf(reference).toString("hex"));
      const referenceCert = new X509Certificate(reference);
      expect(referenceCert.verify(ca.certificate.publicKey)).toBe(true);
      for (const field of [
        "subject",
        "issuer",
        "serialNumber",
        "validFrom",
        "validTo",
        "subjectAltName",
        "ca",
      ] as const) {
        expect(minted[field], field).toEqual(referenceCert[field]);
      }
      // Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic, so the whole certificate must match.
      if (caSpec?.algorithm !== "ECDSA") expect(minted.raw.equals(reference)).toBe(true);
    });
  });

  describe("usages", () => {
    const cases: { name: string; input: Partial<MintSvidInput>; keyEncipherment: boolean }[] = [
      { name: "should carry serverAuth and clientAuth on an ECDSA key", input: {}, keyEncipherment: false },
      {
        name: "should carry serverAuth and clientAuth on an Ed25519 key",
        input: { keyAlgorithm: { algorithm: "Ed25519" } },
        keyEncipherment: false,
      },
      {
        name: "should carry serverAuth and clientAuth and add keyEncipherment on an RSA key",
        input: { keyAlgorithm: { algorithm: "RSA", size: 2048 } },
        keyEncipherment: true,
      },
    ];
    it.each(cases)("$name", async ({ input, keyEncipherment }) => {
      const { ca } = await rootCa();
      const svid = await mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR, now: NOW, ...input });
      const parsed = new x509.X509Certificate(svid.certPem);
      expect(parsed.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]);
      const flags = parsed.getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
      expect((flags & x509.KeyUsageFlags.keyEncipherment) !== 0).toBe(keyEncipherment);
    });
  });

  it("should de-duplicate and sort DNS names after the single URI SAN", async () => {
    const { ca } = await rootCa();
    const svid = await mintSvid({
      ca,
      spiffeId: SPIFFE_ID,
      dnsNames: ["z.svc", "a.svc", "z.svc"],
      ttlMs: HOUR,
      now: NOW,
    });
    await expectCompliantSvid(svid, ca, { spiffeId: SPIFFE_ID, dnsNames: ["a.svc", "z.svc"] });
    expect(new X509Certificate(svid.certPem).subjectAltName).toBe(`URI:${SPIFFE_ID}, DNS:a.svc, DNS:z.svc`);
  });

  it("should give every SVID a distinct, positive 128-bit serial", async () => {
    const { ca } = await rootCa();
    const serials = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const svid = await mintSvid({
        ca,
        spiffeId: SPIFFE_ID,
        ttlMs: HOUR,
        now: NOW,
        keyAlgorithm: { algorithm: "Ed25519" },
      });
      expect(svid.serialNumber).toMatch(/^[89a-f][0-9a-f]{31}$/);
      serials.add(svid.serialNumber);
    }
    expect(serials.size).toBe(2000);
  });

  it("should generate a fresh key for every SVID", async () => {
    const { ca } = await rootCa();
    const keys = new Set<string>();
    const publicKeys = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const svid = await mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR, now: NOW });
      keys.add(svid.keyPem);
      publicKeys.add(
        new X509Certificate(svid.certPem).publicKey.export({ type: "spki", format: "der" }).toString("hex"),
      );
    }
    expect(keys.size).toBe(50);
    expect(publicKeys.size).toBe(50);
  });

  describe("validity", () => {
    const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);
    it.each([
      { name: "should backdate notBefore by 60 s by default", backdateMs: undefined, notBefore: at(-MINUTE) },
      {
        name: "should backdate notBefore by the given amount",
        backdateMs: 5 * MINUTE,
        notBefore: at(-5 * MINUTE),
      },
      { name: "should not backdate when the backdate is zero", backdateMs: 0, notBefore: NOW },
    ])("$name", async ({ backdateMs, notBefore }) => {
      const { ca } = await rootCa();
      const svid = await mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR, now: NOW, backdateMs });
      expect(svid.notBefore).toEqual(notBefore);
      expect(svid.notAfter).toEqual(at(HOUR));
    });

    it("should never backdate before the CA's notBefore", async () => {
      const { ca } = await createRootCa({
        commonName: "Young Root",
        trustDomain: TRUST_DOMAIN,
        validity: DAY,
        now: at(-10_000),
        backdateMs: 0,
      });
      const svid = await mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR, now: NOW });
      expect(svid.notBefore).toEqual(at(-10_000));
      expect(svid.notBefore).toEqual(ca.notBefore);
    });

    it("should floor sub-second times so the certificate says exactly what is reported", async () => {
      const { ca } = await rootCa();
      const svid = await mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR + 999, now: at(750) });
      expect(svid.notBefore).toEqual(at(-MINUTE));
      expect(svid.notAfter).toEqual(at(HOUR + 1000));
    });

    it("should clamp notAfter to the CA's notAfter", async () => {
      const { ca } = await createRootCa({
        commonName: "Old Root",
        trustDomain: TRUST_DOMAIN,
        validity: 30 * MINUTE,
        now: NOW,
      });
      const svid = await mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR, now: at(MINUTE) });
      expect(svid.notAfter).toEqual(ca.notAfter);
      expect(svid.notAfter).toEqual(at(30 * MINUTE));
    });

    it("should clamp notAfter to the end of the access window", async () => {
      const { ca } = await rootCa();
      const svid = await mintSvid({
        ca,
        spiffeId: SPIFFE_ID,
        ttlMs: HOUR,
        now: NOW,
        notAfterLimit: at(17 * MINUTE + 500),
      });
      expect(svid.notAfter).toEqual(at(17 * MINUTE));
    });

    it("should keep the ttl when the window ends later", async () => {
      const { ca } = await rootCa();
      const svid = await mintSvid({
        ca,
        spiffeId: SPIFFE_ID,
        ttlMs: HOUR,
        now: NOW,
        notAfterLimit: at(3 * HOUR),
      });
      expect(svid.notAfter).toEqual(at(HOUR));
    });
  });

  describe("refusals", () => {
    const cases: { name: string; input: Partial<MintSvidInput>; error: RegExp }[] = [
      {
        name: "a SPIFFE ID with another scheme",
        input: { spiffeId: "https://cluster.local/x" },
        error: /must start with "spiffe:\/\/"/,
      },
      {
        name: "a SPIFFE ID with an uppercase trust domain",
        input: { spiffeId: "spiffe://Cluster.local/x" },
        error: /trust domain/,
      },
      {
        name: "a SPIFFE ID with a trailing slash",
        input: { spiffeId: "spiffe://cluster.local/ns/" },
        error: /trailing slash|end with a slash/,
      },
      {
        name: "a SPIFFE ID with a dot segment",
        input: { spiffeId: "spiffe://cluster.local/ns/../x" },
        error: /"\." or "\.\."/,
      },
      {
        name: "a SPIFFE ID with an empty segment",
        input: { spiffeId: "spiffe://cluster.local//x" },
        error: /empty segment/,
      },
      {
        name: "a SPIFFE ID with a query",
        input: { spiffeId: "spiffe://cluster.local/x?y=1" },
        error: /path segments/,
      },
      {
        name: "a SPIFFE ID of another trust domain",
        input: { spiffeId: "spiffe://example.org/x" },
        error: /outside the CA's trust domain/,
      },
      {
        name: "an invalid DNS name",
        input: { dnsNames: ["Not_A.Host"] },
        error: /DNS name "Not_A.Host" is invalid/,
      },
      {
        name: "an unsupported ECDSA size",
        input: { keyAlgorithm: { algorithm: "ECDSA", size: 521 } },
        error: /use 256 or 384/,
      },
      {
        name: "an unsupported RSA size",
        input: { keyAlgorithm: { algorithm: "RSA", size: 1024 } },
        error: /use 2048, 3072 or 4096/,
      },
      {
        name: "a size for Ed25519",
        input: { keyAlgorithm: { algorithm: "Ed25519", size: 256 } },
        error: /must not be set for Ed25519/,
      },
      { name: "a zero ttl", input: { ttlMs: 0 }, error: /ttl must be positive/ },
      { name: "a negative backdate", input: { backdateMs: -1 }, error: /backdate must not be negative/ },
      { name: "a window that has ended", input: { notAfterLimit: NOW }, error: /access window ended/ },
      {
        name: "a window that ends within the second",
        input: { notAfterLimit: new Date(NOW.getTime() + 999) },
        error: /would expire within the second/,
      },
      {
        name: "a CA that has expired",
        input: { now: new Date(NOW.getTime() + 400 * DAY) },
        error: /issuing CA expired/,
      },
      {
        name: "a CA that is not valid yet",
        input: { now: new Date(NOW.getTime() - 2 * DAY) },
        error: /not valid before/,
      },
    ];
    it.each(cases)("should refuse $name", async ({ input, error }) => {
      const { ca } = await rootCa();
      await expect(mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR, now: NOW, ...input })).rejects.toThrow(
        error,
      );
    });
  });

  describe("with a user-supplied intermediate CA", () => {
    it("should put the intermediate, not the root, after the leaf and chain to the root", async () => {
      const { root, ca, certPem } = await intermediateCa();
      expect(ca.isRoot).toBe(false);
      expect(ca.intermediatesPem).toBe(certPem);
      expect(ca.rootPem).toBe(root.certPem);
      const svid = await mintSvid({ ca, spiffeId: SPIFFE_ID, ttlMs: HOUR, now: NOW });
      await expectCompliantSvid(svid, ca, { spiffeId: SPIFFE_ID });
      expect(svid.chainPem).toBe(svid.certPem + certPem);
      expect(svid.chainPem).not.toContain(root.certPem.split("\n")[1]);
      const leaf = new X509Certificate(svid.certPem);
      const intermediate = new X509Certificate(certPem);
      const rootCert = new X509Certificate(root.certPem);
      expect(leaf.verify(rootCert.publicKey)).toBe(false);
      expect(chainProblem(leaf, [intermediate], [rootCert])).toBeUndefined();
      expect(chainProblem(leaf, [], [rootCert])).toMatch(/the leaf is not signed by any trusted root/);
    });
  });

  it("should only mint certificates that parse and verify, for any valid input", async () => {
    const { ca } = await rootCa();
    const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== "." && s !== "..");
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
    await fc.assert(
      fc.asyncProperty(
        fc.array(segment, { minLength: 0, maxLength: 4 }),
        fc.array(
          fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join(".")),
          { maxLength: 3 },
        ),
        fc.integer({ min: 1000, max: 30 * DAY }),
        fc.integer({ min: 0, max: 10 * MINUTE }),
        fc.integer({ min: 0, max: 300 * DAY }),
        fc.option(fc.integer({ min: 2000, max: 40 * DAY }), { nil: undefined }),
        fc.constantFrom(ALGORITHMS[0]?.spec, ALGORITHMS[1]?.spec, ALGORITHMS[2]?.spec),
        async (segments, dnsNames, ttlMs, backdateMs, nowOffset, windowOffset, keyAlgorithm) => {
          const now = new Date(NOW.getTime() + nowOffset);
          const spiffeId = `spiffe://${TRUST_DOMAIN}${segments.map((s) => `/${s}`).join("")}`;
          const notAfterLimit =
            windowOffset === undefined ? undefined : new Date(now.getTime() + windowOffset);
          const svid = await mintSvid({
            ca,
            spiffeId,
            dnsNames,
            ttlMs,
            backdateMs,
            now,
            keyAlgorithm,
            notAfterLimit,
          });
          await expectCompliantSvid(svid, ca, {
            spiffeId,
            dnsNames: [...new Set(dnsNames)].sort(),
            ...(keyAlgorithm ? { keyAlgorithm } : {}),
          });
          expect(svid.notBefore.getTime()).toBeGreaterThanOrEqual(
            Math.max(ca.notBefore.getTime(), now.getTime() - backdateMs - 1000),
          );
          expect(svid.notBefore.getTime()).toBeLessThanOrEqual(now.getTime());
          expect(svid.notAfter.getTime()).toBeGreaterThan(now.getTime());
          expect(svid.notAfter.getTime()).toBeLessThanOrEqual(
            Math.min(now.getTime() + ttlMs, ca.notAfter.getTime()),
          );
          if (notAfterLimit) expect(svid.notAfter.getTime()).toBeLessThanOrEqual(notAfterLimit.getTime());
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("detachedTemplate", () => {
  const pooled = (hex: string) => Buffer.from(hex, "hex");
  const template = {
    beforeSerial: pooled("a003020102021100"),
    afterSerial: pooled("300a06082a8648ce3d040302"),
    afterValidity: pooled("3000"),
    extensionsUpToSki: pooled("a381a030819d"),
    signatureAlgorithm: pooled("300a06082a8648ce3d040302"),
    chainTail: "-----BEGIN CERTIFICATE-----\n",
  };
  const parts = [
    "beforeSerial",
    "afterSerial",
    "afterValidity",
    "extensionsUpToSki",
    "signatureAlgorithm",
  ] as const;
  const total = parts.reduce((sum, part) => sum + template[part].length, 0);

  it("should start from Buffers that share Node's pool slab, or the case below proves nothing", () => {
    expect(template.beforeSerial.buffer.byteLength).toBe(Buffer.poolSize);
  });

  it("should keep every part's bytes and the chain tail", () => {
    const detached = detachedTemplate(template);
    for (const part of parts) expect(detached[part].toString("hex")).toBe(template[part].toString("hex"));
    expect(detached.chainTail).toBe(template.chainTail);
  });

  it("should hold all parts in one allocation of exactly their size, not in a pool slab", () => {
    const detached = detachedTemplate(template);
    const backing = detached.beforeSerial.buffer;
    expect(backing.byteLength).toBe(total);
    for (const part of parts) expect(detached[part].buffer).toBe(backing);
  });

  it("should not share memory with the template it copies", () => {
    const detached = detachedTemplate(template);
    const original = template.afterValidity.toString("hex");
    detached.afterValidity.fill(0xff);
    expect(template.afterValidity.toString("hex")).toBe(original);
  });
});

describe("mintSvidForKey", () => {
  const notBefore = new Date(NOW.getTime() - MINUTE);
  const notAfter = new Date(NOW.getTime() + DAY - MINUTE);
  const spkiOf = (key: KeyObject): Buffer => key.export({ format: "der", type: "spki" });
  const p256 = () => spkiOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
  const P256: KeyAlgorithm = { algorithm: "ECDSA", size: 256 };

  const leafKeys: { name: string; algorithm: KeyAlgorithm; spki: () => Buffer; keyEncipherment: boolean }[] =
    [
      { name: "ECDSA P-256", algorithm: P256, spki: p256, keyEncipherment: false },
      {
        name: "ECDSA P-384",
        algorithm: { algorithm: "ECDSA", size: 384 },
        spki: () => spkiOf(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey),
        keyEncipherment: false,
      },
      {
        name: "Ed25519",
        algorithm: { algorithm: "Ed25519" },
        spki: () => spkiOf(generateKeyPairSync("ed25519").publicKey),
        keyEncipherment: false,
      },
      {
        name: "RSA 3072",
        algorithm: { algorithm: "RSA", size: 3072 },
        spki: () => spkiOf(generateKeyPairSync("rsa", { modulusLength: 3072 }).publicKey),
        keyEncipherment: true,
      },
    ];

  describe.each(leafKeys)("for a $name key", ({ algorithm, spki: makeSpki, keyEncipherment }) => {
    it("should sign exactly the given key with exactly the given validity, verifiable by the CA", async () => {
      const { ca } = await rootCa();
      const spki = makeSpki();
      const minted = mintSvidForKey({
        ca,
        spiffeId: SPIFFE_ID,
        keyAlgorithm: algorithm,
        publicKeySpki: spki,
        notBefore,
        notAfter,
      });
      const leaf = new X509Certificate(minted.certPem);
      expect(leaf.publicKey.export({ format: "der", type: "spki" }).toString("hex")).toBe(
        spki.toString("hex"),
      );
      expect(leaf.raw.includes(spki)).toBe(true);
      expect(keyAlgorithmOf(leaf.publicKey)).toEqual(algorithm);
      expect(new Date(leaf.validFrom)).toEqual(notBefore);
      expect(new Date(leaf.validTo)).toEqual(notAfter);
      expect(minted.notBefore).toEqual(notBefore);
      expect(minted.notAfter).toEqual(notAfter);
      expect(leaf.verify(ca.certificate.publicKey)).toBe(true);
      expect(leaf.checkIssued(ca.certificate)).toBe(true);
      expect(leaf.ca).toBe(false);
      expect(leaf.subjectAltName).toBe(`URI:${SPIFFE_ID}`);
      expect(minted.spiffeId).toBe(SPIFFE_ID);
      expect(leaf.serialNumber.toLowerCase()).toBe(minted.serialNumber);
      expect(minted.chainPem).toBe(minted.certPem);
      const flags = new x509.X509Certificate(minted.certPem).getExtension(x509.KeyUsagesExtension)?.usages;
      expect(flags).toBe(
        x509.KeyUsageFlags.digitalSignature | (keyEncipherment ? x509.KeyUsageFlags.keyEncipherment : 0),
      );
    });

    it("should produce the same TBSCertificate as @peculiar/x509 for the same key", async () => {
      const { ca } = await rootCa();
      const spki = makeSpki();
      const minted = mintSvidForKey({
        ca,
        spiffeId: SPIFFE_ID,
        dnsNames: ["payments.shop.svc"],
        keyAlgorithm: algorithm,
        publicKeySpki: spki,
        notBefore,
        notAfter,
      });
      const reference = await referenceSvidDer({
        ca,
        spiffeId: SPIFFE_ID,
        dnsNames: ["payments.shop.svc"],
        keyAlgorithm: algorithm,
        serialNumber: minted.serialNumber,
        notBefore,
        notAfter,
        publicKeySpki: spki,
      });
      expect(tbsOf(new X509Certificate(minted.certPem).raw).toString("hex")).toBe(
        tbsOf(reference).toString("hex"),
      );
    });
  });

  it("should return the chain and no private key", async () => {
    const { ca } = await rootCa();
    const minted = mintSvidForKey({
      ca,
      spiffeId: SPIFFE_ID,
      keyAlgorithm: P256,
      publicKeySpki: p256(),
      notBefore,
      notAfter,
    });
    expect(Object.keys(minted).sort()).toEqual([
      "certPem",
      "chainPem",
      "notAfter",
      "notBefore",
      "serialNumber",
      "spiffeId",
    ]);
    expect(minted.chainPem).not.toContain("PRIVATE KEY");
  });

  it("should sort and de-duplicate DNS names after the SPIFFE ID", async () => {
    const { ca } = await rootCa();
    const minted = mintSvidForKey({
      ca,
      spiffeId: SPIFFE_ID,
      dnsNames: ["b.shop.svc", "a.shop.svc", "b.shop.svc"],
      keyAlgorithm: P256,
      publicKeySpki: p256(),
      notBefore,
      notAfter,
    });
    expect(new X509Certificate(minted.certPem).subjectAltName).toBe(
      `URI:${SPIFFE_ID}, DNS:a.shop.svc, DNS:b.shop.svc`,
    );
  });

  it("should put the intermediate after the leaf and chain to the root", async () => {
    const { root, ca, certPem } = await intermediateCa();
    const minted = mintSvidForKey({
      ca,
      spiffeId: SPIFFE_ID,
      keyAlgorithm: P256,
      publicKeySpki: p256(),
      notBefore,
      notAfter,
    });
    expect(minted.chainPem).toBe(minted.certPem + certPem);
    const leaf = new X509Certificate(minted.certPem);
    const rootCert = new X509Certificate(root.certPem);
    expect(leaf.verify(new X509Certificate(certPem).publicKey)).toBe(true);
    expect(leaf.verify(rootCert.publicKey)).toBe(false);
    expect(chainProblem(leaf, [new X509Certificate(certPem)], [rootCert])).toBeUndefined();
  });

  it("should accept a validity that is exactly the CA's", async () => {
    const { ca } = await rootCa();
    const minted = mintSvidForKey({
      ca,
      spiffeId: SPIFFE_ID,
      keyAlgorithm: P256,
      publicKeySpki: p256(),
      notBefore: ca.notBefore,
      notAfter: ca.notAfter,
    });
    const leaf = new X509Certificate(minted.certPem);
    expect(new Date(leaf.validFrom)).toEqual(ca.notBefore);
    expect(new Date(leaf.validTo)).toEqual(ca.notAfter);
  });

  describe("refusals", () => {
    const second = 1000;
    const cases: {
      name: string;
      input: (ca: { notBefore: Date; notAfter: Date }) => Partial<Parameters<typeof mintSvidForKey>[0]>;
      error: RegExp;
    }[] = [
      {
        name: "a notBefore before the CA's",
        input: (ca) => ({ notBefore: new Date(ca.notBefore.getTime() - second) }),
        error: /^the validity .* is not inside the issuing CA's /,
      },
      {
        name: "a notAfter after the CA's",
        input: (ca) => ({ notAfter: new Date(ca.notAfter.getTime() + second) }),
        error: /^the validity .* is not inside the issuing CA's /,
      },
      {
        name: "a notBefore that is not a whole second",
        input: () => ({ notBefore: new Date(notBefore.getTime() + 1) }),
        error: /^notBefore and notAfter must be whole seconds$/,
      },
      {
        name: "a notAfter that is not a whole second",
        input: () => ({ notAfter: new Date(notAfter.getTime() + 500) }),
        error: /^notBefore and notAfter must be whole seconds$/,
      },
      {
        name: "a notAfter equal to notBefore",
        input: () => ({ notAfter: notBefore }),
        error: /^notAfter must be after notBefore$/,
      },
      {
        name: "a notAfter before notBefore",
        input: () => ({ notBefore: notAfter, notAfter: notBefore }),
        error: /^notAfter must be after notBefore$/,
      },
      {
        name: "a SPIFFE ID of another trust domain",
        input: () => ({ spiffeId: "spiffe://example.org/x" }),
        error: /outside the CA's trust domain/,
      },
      {
        name: "an invalid DNS name",
        input: () => ({ dnsNames: ["Not_A.Host"] }),
        error: /DNS name "Not_A.Host" is invalid/,
      },
    ];
    it.each(cases)("should refuse $name", async ({ input, error }) => {
      const { ca } = await rootCa();
      expect(() =>
        mintSvidForKey({
          ca,
          spiffeId: SPIFFE_ID,
          keyAlgorithm: P256,
          publicKeySpki: p256(),
          notBefore,
          notAfter,
          ...input(ca),
        }),
      ).toThrow(error);
    });

    it("should name both validities when the given one is not inside the CA's", async () => {
      const { ca } = await rootCa();
      const late = new Date(ca.notAfter.getTime() + second);
      expect(() =>
        mintSvidForKey({
          ca,
          spiffeId: SPIFFE_ID,
          keyAlgorithm: P256,
          publicKeySpki: p256(),
          notBefore,
          notAfter: late,
        }),
      ).toThrow(
        `the validity ${notBefore.toISOString()}..${late.toISOString()} is not inside the issuing CA's ${ca.notBefore.toISOString()}..${ca.notAfter.toISOString()}`,
      );
    });
  });
});
