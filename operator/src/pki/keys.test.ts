import { createPrivateKey, createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { lengthBytes, namedBits, oid, smallInteger, time, unsignedInteger } from "./der.ts";
import { generateKey, type KeyAlgorithm, keyAlgorithmOf, resolveKeyAlgorithm } from "./keys.ts";

describe("generateKey", () => {
  const cases: { name: string; key: KeyAlgorithm; runs: number }[] = [
    { name: "ECDSA P-256", key: { algorithm: "ECDSA", size: 256 }, runs: 300 },
    { name: "ECDSA P-384", key: { algorithm: "ECDSA", size: 384 }, runs: 100 },
    { name: "Ed25519", key: { algorithm: "Ed25519" }, runs: 300 },
    { name: "RSA 2048", key: { algorithm: "RSA", size: 2048 }, runs: 2 },
    { name: "RSA 4096", key: { algorithm: "RSA", size: 4096 }, runs: 1 },
  ];
  it.each(cases)("should write $name keys exactly as OpenSSL encodes them", async ({ key, runs }) => {
    for (let i = 0; i < runs; i++) {
      const generated = await generateKey(key);
      const privateKey = createPrivateKey(generated.privateKeyPem);
      expect(generated.privateKeyPem).toBe(privateKey.export({ type: "pkcs8", format: "pem" }));
      expect(
        generated.publicKeySpki.equals(createPublicKey(privateKey).export({ type: "spki", format: "der" })),
      ).toBe(true);
      expect(keyAlgorithmOf(privateKey)).toEqual(key);
    }
  });

  it("should generate RSA keys off the event loop", () => {
    expect(generateKey({ algorithm: "RSA", size: 2048 })).toBeInstanceOf(Promise);
  });
});

describe("resolveKeyAlgorithm", () => {
  it.each([
    { spec: { algorithm: "ECDSA" as const }, want: { algorithm: "ECDSA", size: 256 } },
    { spec: { algorithm: "ECDSA" as const, size: 384 }, want: { algorithm: "ECDSA", size: 384 } },
    { spec: { algorithm: "RSA" as const }, want: { algorithm: "RSA", size: 2048 } },
    { spec: { algorithm: "RSA" as const, size: 4096 }, want: { algorithm: "RSA", size: 4096 } },
    { spec: { algorithm: "Ed25519" as const }, want: { algorithm: "Ed25519" } },
  ])("should resolve $spec.algorithm $spec.size with the API defaults", ({ spec, want }) => {
    expect(resolveKeyAlgorithm(spec)).toEqual(want);
  });
});

describe("der", () => {
  it.each([
    { length: 0, hex: "00" },
    { length: 127, hex: "7f" },
    { length: 128, hex: "8180" },
    { length: 255, hex: "81ff" },
    { length: 256, hex: "820100" },
    { length: 65_536, hex: "83010000" },
  ])("should encode length $length as $hex", ({ length, hex }) => {
    expect(lengthBytes(length).toString("hex")).toBe(hex);
  });

  it.each([
    { value: "1.2.840.10045.4.3.2", hex: "06082a8648ce3d040302" },
    { value: "2.5.29.17", hex: "0603551d11" },
    { value: "1.3.6.1.5.5.7.3.1", hex: "06082b06010505070301" },
  ])("should encode OID $value", ({ value, hex }) => {
    expect(oid(value).toString("hex")).toBe(hex);
  });

  it.each([
    { bits: [0], hex: "03020780" },
    { bits: [0, 2], hex: "030205a0" },
    { bits: [5, 6], hex: "03020106" },
    { bits: [8], hex: "0303070080" },
  ])("should encode named bits $bits without trailing zero bits", ({ bits, hex }) => {
    expect(namedBits(bits).toString("hex")).toBe(hex);
  });

  it("should encode integers minimally and positive", () => {
    expect(smallInteger(0).toString("hex")).toBe("020100");
    expect(smallInteger(2).toString("hex")).toBe("020102");
    expect(smallInteger(128).toString("hex")).toBe("02020080");
    expect(unsignedInteger(Buffer.from("0000ff", "hex")).toString("hex")).toBe("020200ff");
  });

  it.each([
    { date: "2026-03-02T09:30:05.999Z", hex: Buffer.from("260302093005Z").toString("hex"), tag: "17" },
    { date: "2049-12-31T23:59:59Z", hex: Buffer.from("491231235959Z").toString("hex"), tag: "17" },
    { date: "2050-01-01T00:00:00Z", hex: Buffer.from("20500101000000Z").toString("hex"), tag: "18" },
  ])("should encode $date as UTCTime before 2050 and GeneralizedTime from 2050", ({ date, hex, tag }) => {
    expect(time(new Date(date)).toString("hex")).toBe(
      `${tag}${(hex.length / 2).toString(16).padStart(2, "0")}${hex}`,
    );
  });
});
