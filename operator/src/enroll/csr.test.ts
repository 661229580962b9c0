import { createPublicKey, type webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import * as x509 from "../pki/x509.ts";
import { csrKey } from "./csr.ts";
import { EnrollReason } from "./decide.ts";

x509.cryptoProvider.set(globalThis.crypto);

type Params = Parameters<typeof crypto.subtle.generateKey>[0];

async function request(params: Params, signing: Params = params) {
  const keys = (await crypto.subtle.generateKey(params as never, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: signing as never,
    name: "CN=x",
  });
  const spki = Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey));
  return { pem: csr.toString("pem"), spki, der: Buffer.from(csr.rawData) };
}

const P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

describe("csrKey", () => {
  it.each([
    ["ECDSA P-256", P256, { algorithm: "ECDSA", size: 256 }],
    [
      "ECDSA P-384",
      { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" },
      { algorithm: "ECDSA", size: 384 },
    ],
    ["Ed25519", { name: "Ed25519" }, { algorithm: "Ed25519" }],
    [
      "RSA 2048",
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      { algorithm: "RSA", size: 2048 },
    ],
  ])("should take the key of a %s request whose signature verifies", async (_what, params, algorithm) => {
    const { pem, spki } = await request(params as Params);
    const key = await csrKey(pem);
    expect(key).toMatchObject({ ok: true, algorithm });
    expect(
      key.ok &&
        createPublicKey({ key: key.spki, format: "der", type: "spki" }).equals(
          createPublicKey({ key: spki, format: "der", type: "spki" }),
        ),
    ).toBe(true);
  });

  it("should refuse a P-521 key as unsupported", async () => {
    const { pem } = await request({ name: "ECDSA", namedCurve: "P-521", hash: "SHA-512" } as Params);
    expect(await csrKey(pem)).toMatchObject({ ok: false, reason: EnrollReason.UnsupportedKeyType });
  });

  it("should refuse a request whose signature is not its key's: no proof of possession", async () => {
    const { der } = await request(P256 as Params);
    // Flip a bit in the signature, the last bytes of the DER.
    const tampered = Buffer.from(der);
    tampered[tampered.length - 2] = (tampered[tampered.length - 2] ?? 0) ^ 0x01;
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${tampered.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    const key = await csrKey(pem);
    expect(key).toMatchObject({ ok: false, reason: EnrollReason.InvalidCSR });
    expect(key.ok ? "" : key.message).toMatch(/signature|parse/);
  });

  it.each([
    ["an empty text", ""],
    ["a certificate instead", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
    [
      "garbage inside the armour",
      "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGRlcg==\n-----END CERTIFICATE REQUEST-----\n",
    ],
  ])("should refuse %s as an invalid CSR", async (_what, pem) => {
    expect(await csrKey(pem)).toMatchObject({ ok: false, reason: EnrollReason.InvalidCSR });
  });

  it("should refuse two requests in one text", async () => {
    const one = (await request(P256 as Params)).pem;
    expect(await csrKey(`${one}${one}`)).toMatchObject({ ok: false, reason: EnrollReason.InvalidCSR });
  });
});
