import { generateKeyPairSync, KeyObject, webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { explicit, octetString, oid, readHeader, sequence, smallInteger } from "../pki/der.ts";
import type { KeyAlgorithm } from "../pki/keys.ts";
import * as x509 from "../pki/x509.ts";
import { keyTypeOf, requestKey, spkiOfCsr } from "./public-key.ts";
import type { PodCertificateRequest } from "./request.ts";

type Spec = PodCertificateRequest["spec"];

const SPEC: Spec = {
  signerName: "signet.dev/svid",
  podName: "payments-7d9f4",
  podUID: "pod-uid-1",
  serviceAccountName: "payments",
  serviceAccountUID: "sa-uid-1",
  nodeName: "node-a",
  nodeUID: "node-uid-1",
  maxExpirationSeconds: 86_400,
};

const spkiOf = (key: KeyObject): Buffer => key.export({ format: "der", type: "spki" });
const base64 = (der: Uint8Array): string => Buffer.from(der).toString("base64");

/** A key pair as the kubelet makes it, and the stub PKCS#10 request it signs with it. */
async function stubRequest(
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm,
  signing: webcrypto.Algorithm | webcrypto.EcdsaParams,
  options: { name?: string; extensions?: x509.Extension[] } = {},
): Promise<{ csr: Buffer; spki: Buffer; publicKey: KeyObject }> {
  const keys = (await webcrypto.subtle.generateKey(generate, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: signing,
    ...options,
  });
  const publicKey = KeyObject.from(keys.publicKey);
  return { csr: Buffer.from(csr.rawData), spki: spkiOf(publicKey), publicKey };
}

const RSA_EXPONENT = new Uint8Array([1, 0, 1]);

const SUPPORTED: {
  name: string;
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm;
  signing: webcrypto.Algorithm | webcrypto.EcdsaParams;
  algorithm: KeyAlgorithm;
}[] = [
  {
    name: "ECDSA P-256",
    generate: { name: "ECDSA", namedCurve: "P-256" } as webcrypto.EcKeyGenParams,
    signing: { name: "ECDSA", hash: "SHA-256" } as webcrypto.EcdsaParams,
    algorithm: { algorithm: "ECDSA", size: 256 },
  },
  {
    name: "ECDSA P-384",
    generate: { name: "ECDSA", namedCurve: "P-384" } as webcrypto.EcKeyGenParams,
    signing: { name: "ECDSA", hash: "SHA-384" } as webcrypto.EcdsaParams,
    algorithm: { algorithm: "ECDSA", size: 384 },
  },
  {
    name: "Ed25519",
    generate: { name: "Ed25519" },
    signing: { name: "Ed25519" },
    algorithm: { algorithm: "Ed25519" },
  },
  {
    name: "RSA 3072",
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 3072,
      publicExponent: RSA_EXPONENT,
      hash: "SHA-256",
    } as webcrypto.RsaHashedKeyGenParams,
    signing: { name: "RSASSA-PKCS1-v1_5" },
    algorithm: { algorithm: "RSA", size: 3072 },
  },
];

describe("requestKey", () => {
  describe.each(SUPPORTED)("with a $name key", ({ generate, signing, algorithm }) => {
    it("should read the key of a stub PKCS#10 request, byte for byte", async () => {
      const { csr, spki, publicKey } = await stubRequest(generate, signing);
      const key = requestKey({ ...SPEC, stubPKCS10Request: base64(csr) });
      if (!key.ok) throw new Error(key.message);
      expect(key.algorithm).toEqual(algorithm);
      expect(key.spki.toString("hex")).toBe(spki.toString("hex"));
      expect(key.key.equals(publicKey)).toBe(true);
      expect(spkiOfCsr(csr).toString("hex")).toBe(spki.toString("hex"));
    });

    it("should read the same key from the 1.35 pkixPublicKey", async () => {
      const { spki, publicKey } = await stubRequest(generate, signing);
      const key = requestKey({ ...SPEC, pkixPublicKey: base64(spki) });
      if (!key.ok) throw new Error(key.message);
      expect(key.algorithm).toEqual(algorithm);
      expect(key.spki.toString("hex")).toBe(spki.toString("hex"));
      expect(key.key.equals(publicKey)).toBe(true);
    });
  });

  it("should read the key of a request with a subject and extension attributes", async () => {
    const { csr, spki } = await stubRequest(
      { name: "ECDSA", namedCurve: "P-256" } as webcrypto.EcKeyGenParams,
      { name: "ECDSA", hash: "SHA-256" } as webcrypto.EcdsaParams,
      {
        name: "CN=payments, O=shop",
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "payments.shop.svc" }])],
      },
    );
    const key = requestKey({ ...SPEC, stubPKCS10Request: base64(csr) });
    expect(key.ok && key.spki.toString("hex")).toBe(spki.toString("hex"));
  });

  it("should prefer the stub PKCS#10 request when a request carries both forms", async () => {
    const stub = await stubRequest({ name: "Ed25519" }, { name: "Ed25519" });
    const other = spkiOf(generateKeyPairSync("ed25519").publicKey);
    const key = requestKey({ ...SPEC, stubPKCS10Request: base64(stub.csr), pkixPublicKey: base64(other) });
    expect(key.ok && key.spki.toString("hex")).toBe(stub.spki.toString("hex"));
  });

  describe("a key in a lax encoding", () => {
    const ed25519 = spkiOf(generateKeyPairSync("ed25519").publicKey);
    const rsa = spkiOf(generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey);
    const rsaOuter = readHeader(rsa, 0);
    const rsaAlgorithm = readHeader(rsa, rsaOuter.contentStart);
    it.each([
      { name: "trailing bytes", der: Buffer.concat([ed25519, Buffer.of(0, 0)]), canonical: ed25519 },
      {
        name: "a long-form length where a short one fits",
        der: Buffer.concat([Buffer.of(0x30, 0x81, ed25519[1] as number), ed25519.subarray(2)]),
        canonical: ed25519,
      },
      {
        name: "an RSA AlgorithmIdentifier without its NULL parameters",
        der: sequence(sequence(oid("1.2.840.113549.1.1.1")), rsa.subarray(rsaAlgorithm.end, rsaOuter.end)),
        canonical: rsa,
      },
    ])("should re-encode a pkixPublicKey with $name as canonical DER", ({ der, canonical }) => {
      expect(der.equals(canonical)).toBe(false);
      const key = requestKey({ ...SPEC, pkixPublicKey: base64(der) });
      expect(key.ok && key.spki.toString("hex")).toBe(canonical.toString("hex"));
    });
  });

  describe("keys Signet issues for no identity", () => {
    it("should call a P-521 stub request unsupported", async () => {
      const { csr, spki } = await stubRequest(
        { name: "ECDSA", namedCurve: "P-521" } as webcrypto.EcKeyGenParams,
        { name: "ECDSA", hash: "SHA-512" } as webcrypto.EcdsaParams,
      );
      const expected = {
        ok: false,
        unsupported: true,
        message: "Signet issues no certificate for a ec secp521r1 key",
      };
      expect(requestKey({ ...SPEC, stubPKCS10Request: base64(csr) })).toEqual(expected);
      expect(requestKey({ ...SPEC, pkixPublicKey: base64(spki) })).toEqual(expected);
    });

    it.each([
      { name: "an Ed448 key", key: () => generateKeyPairSync("ed448").publicKey, what: "ed448" },
      { name: "an X25519 key", key: () => generateKeyPairSync("x25519").publicKey, what: "x25519" },
      {
        name: "an RSA 1024 key",
        key: () => generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey,
        what: "rsa 1024",
      },
      {
        name: "a P-224 key",
        key: () => generateKeyPairSync("ec", { namedCurve: "P-224" }).publicKey,
        what: "ec secp224r1",
      },
    ])("should call $name unsupported, naming what it is", ({ key, what }) => {
      expect(requestKey({ ...SPEC, pkixPublicKey: base64(spkiOf(key())) })).toEqual({
        ok: false,
        unsupported: true,
        message: `Signet issues no certificate for a ${what} key`,
      });
    });

    it("should read an RSA 2048 key, which only an identity's spec.privateKey refuses", () => {
      const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const key = requestKey({ ...SPEC, pkixPublicKey: base64(spkiOf(publicKey)) });
      expect(key).toMatchObject({ ok: true, algorithm: { algorithm: "RSA", size: 2048 } });
    });
  });

  describe("requests whose key cannot be read", () => {
    it.each([
      { name: "neither form", spec: {} },
      { name: "both forms empty", spec: { stubPKCS10Request: "", pkixPublicKey: "" } },
    ])("should refuse a request with $name", ({ spec }) => {
      expect(requestKey({ ...SPEC, ...spec })).toEqual({
        ok: false,
        unsupported: false,
        message: "the request carries neither spec.stubPKCS10Request nor spec.pkixPublicKey",
      });
    });

    const INTEGER_0 = smallInteger(0);
    const EMPTY_NAME = sequence();
    const ED25519_SPKI = spkiOf(generateKeyPairSync("ed25519").publicKey);
    it.each([
      // Read as DER, "no" is a tag and a length of 111 bytes that the text does not have.
      { name: "text", der: Buffer.from("not a certificate request"), problem: "truncated DER" },
      {
        name: "an OCTET STRING",
        der: octetString(Buffer.from("garbage")),
        problem: "not a PKCS#10 request: no outer SEQUENCE",
      },
      { name: "nothing but a tag", der: Buffer.of(0x30), problem: "truncated DER" },
      {
        name: "a SEQUENCE of an INTEGER",
        der: sequence(smallInteger(1)),
        problem: "not a PKCS#10 request: no CertificationRequestInfo",
      },
      {
        name: "a CertificationRequestInfo without a version",
        der: sequence(sequence(EMPTY_NAME, ED25519_SPKI)),
        problem: "not a PKCS#10 request: no version",
      },
      {
        name: "a CertificationRequestInfo without a subject",
        der: sequence(sequence(INTEGER_0, INTEGER_0, ED25519_SPKI)),
        problem: "not a PKCS#10 request: no subject",
      },
      {
        name: "a CertificationRequestInfo without a key",
        der: sequence(sequence(INTEGER_0, EMPTY_NAME, explicit(0))),
        problem: "not a PKCS#10 request: no SubjectPublicKeyInfo",
      },
      {
        name: "a key outside the CertificationRequestInfo",
        der: sequence(sequence(INTEGER_0, EMPTY_NAME), ED25519_SPKI),
        problem: "not a PKCS#10 request: no SubjectPublicKeyInfo",
      },
      {
        name: "a length of more than three bytes",
        der: Buffer.of(0x30, 0x84, 0, 0, 0, 1, 0),
        problem: "unsupported DER length",
      },
    ])("should refuse a stub request of $name", ({ der, problem }) => {
      expect(requestKey({ ...SPEC, stubPKCS10Request: base64(der) })).toEqual({
        ok: false,
        unsupported: false,
        message: `spec.stubPKCS10Request: ${problem}`,
      });
    });

    it.each([1, 2, 40, 100, 150])("should refuse a real stub request truncated by %i bytes", async (cut) => {
      const { csr } = await stubRequest(
        { name: "ECDSA", namedCurve: "P-256" } as webcrypto.EcKeyGenParams,
        { name: "ECDSA", hash: "SHA-256" } as webcrypto.EcdsaParams,
      );
      expect(requestKey({ ...SPEC, stubPKCS10Request: base64(csr.subarray(0, csr.length - cut)) })).toEqual({
        ok: false,
        unsupported: false,
        message: "spec.stubPKCS10Request: truncated DER",
      });
    });

    it("should refuse a well-formed request whose key is not a key", () => {
      const der = sequence(
        sequence(INTEGER_0, EMPTY_NAME, sequence(sequence(oid("1.3.101.112")), INTEGER_0)),
      );
      const key = requestKey({ ...SPEC, stubPKCS10Request: base64(der) });
      expect(key).toMatchObject({ ok: false, unsupported: false });
      expect(key.ok ? "" : key.message).toMatch(/^the request's public key does not parse: \S/);
    });

    it.each([
      { name: "garbage bytes", der: Buffer.from("garbage") },
      { name: "a truncated SPKI", der: ED25519_SPKI.subarray(0, ED25519_SPKI.length - 1) },
    ])("should refuse a pkixPublicKey of $name", ({ der }) => {
      const key = requestKey({ ...SPEC, pkixPublicKey: base64(der) });
      expect(key).toMatchObject({ ok: false, unsupported: false });
      expect(key.ok ? "" : key.message).toMatch(/^the request's public key does not parse: \S/);
    });
  });
});

describe("keyTypeOf", () => {
  it.each([
    { algorithm: { algorithm: "ECDSA", size: 256 }, keyType: "ECDSAP256" },
    { algorithm: { algorithm: "ECDSA", size: 384 }, keyType: "ECDSAP384" },
    { algorithm: { algorithm: "Ed25519" }, keyType: "ED25519" },
    { algorithm: { algorithm: "RSA", size: 3072 }, keyType: "RSA3072" },
    { algorithm: { algorithm: "RSA", size: 4096 }, keyType: "RSA4096" },
    { algorithm: { algorithm: "RSA", size: 2048 }, keyType: undefined },
  ] as { algorithm: KeyAlgorithm; keyType: string | undefined }[])(
    "should map $algorithm to the kubelet's keyType $keyType",
    ({ algorithm, keyType }) => {
      expect(keyTypeOf(algorithm)).toBe(keyType);
    },
  );
});
