import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { compactVerify, decodeProtectedHeader } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { base64url, JTI_SYNTAX, thumbprintOf, tokenHashOf } from "./format.ts";
import { type SignProofInput, signProof } from "./sign.ts";
import {
  CB,
  CLIENT_ID,
  KEY_TYPES,
  NOW_MS,
  REQUEST_URL,
  SERVER_ID,
  type TestSvid,
  testRoot,
  testSvid,
} from "./test-fixtures.ts";

let svid: TestSvid;
beforeAll(async () => {
  svid = await testSvid();
});

function input(changes: Partial<SignProofInput> = {}): SignProofInput {
  return {
    key: svid.key,
    certificate: svid.certificate,
    method: "post",
    url: `${REQUEST_URL}?amount=10#x`,
    audience: SERVER_ID,
    channelBinding: CB,
    now: new Date(NOW_MS + 999),
    ...changes,
  };
}

const claimsOf = (proof: string) =>
  JSON.parse(Buffer.from(proof.split(".")[1] as string, "base64url").toString()) as Record<string, unknown>;

describe("signProof", () => {
  for (const type of KEY_TYPES) {
    it(`should sign with ${type.alg} for a ${type.name} SVID, verifiable with the leaf's public key`, async () => {
      const caller = await testSvid(type.spec);
      const proof = await signProof(input({ key: caller.key, certificate: caller.certificate }));
      expect(decodeProtectedHeader(proof)).toEqual({
        alg: type.alg,
        typ: "signet-proof+jwt",
        "x5t#S256": thumbprintOf(caller.certificate.raw),
      });
      const { payload } = await compactVerify(proof, caller.certificate.publicKey, {
        algorithms: [type.alg],
      });
      expect(JSON.parse(Buffer.from(payload).toString())).toEqual(claimsOf(proof));
    });
  }

  it("should write exactly the claims of the format, in normal form", async () => {
    const proof = await signProof(input());
    const claims = claimsOf(proof);
    const iat = Math.floor(NOW_MS / 1000);
    expect(claims).toEqual({
      jti: expect.stringMatching(JTI_SYNTAX),
      iat,
      exp: iat + 30,
      htm: "POST",
      htu: REQUEST_URL,
      sub: CLIENT_ID,
      aud: SERVER_ID,
      cb: base64url(CB),
    });
    expect(Object.keys(claims)).toEqual(["jti", "iat", "exp", "htm", "htu", "sub", "aud", "cb"]);
  });

  it("should add ath for a bearer token and the nonce when given, and honour the lifetime", async () => {
    const claims = claimsOf(
      await signProof(input({ token: "header.payload.sig", nonce: "abc_-1", lifetimeSeconds: 60 })),
    );
    expect(claims.ath).toBe(tokenHashOf("header.payload.sig"));
    expect(claims.ath).toHaveLength(43);
    expect(claims.nonce).toBe("abc_-1");
    expect((claims.exp as number) - (claims.iat as number)).toBe(60);
  });

  it("should give every proof a new 128-bit jti", async () => {
    const jtis = new Set<unknown>();
    for (let i = 0; i < 50; i++) jtis.add(claimsOf(await signProof(input())).jti);
    expect(jtis.size).toBe(50);
  });

  it("should take the key and the certificate as PEM, the certificate as a chain with the leaf first", async () => {
    const proof = await signProof(input({ key: svid.keyPem, certificate: svid.chainPem }));
    expect(decodeProtectedHeader(proof)["x5t#S256"]).toBe(thumbprintOf(svid.certificate.raw));
    const der = await signProof(input({ certificate: new Uint8Array(svid.certificate.raw) }));
    expect(decodeProtectedHeader(der)["x5t#S256"]).toBe(thumbprintOf(svid.certificate.raw));
  });

  const refusals: [string, () => Promise<Partial<SignProofInput>>, RegExp][] = [
    [
      "another SVID's key",
      async () => ({ key: (await testSvid({ algorithm: "Ed25519" })).key }),
      /not the private key of certificate/,
    ],
    ["a public key", async () => ({ key: svid.certificate.publicKey }), /must be a private key/],
    [
      "a P-521 key",
      async () => ({ key: generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey }),
      /ECDSA P-256 or P-384, Ed25519, or RSA/,
    ],
    [
      "an audience that is no SPIFFE ID",
      async () => ({ audience: "payments" }),
      /audience: SPIFFE ID "payments" is invalid/,
    ],
    ["a URL over plain http", async () => ({ url: "http://payments.shop.svc/v1" }), /must be https/],
    ["a method that is no token", async () => ({ method: "GET /" }), /not an HTTP method token/],
    [
      "a channel binding of 16 bytes",
      async () => ({ channelBinding: CB.subarray(0, 16) }),
      /16 bytes, not 32/,
    ],
    ["a lifetime of 61 s", async () => ({ lifetimeSeconds: 61 }), /from 1 to 60/],
    ["a lifetime of 0 s", async () => ({ lifetimeSeconds: 0 }), /from 1 to 60/],
    ["a fractional lifetime", async () => ({ lifetimeSeconds: 1.5 }), /from 1 to 60/],
    ["a nonce with spaces", async () => ({ nonce: "a b" }), /not a Signet-Nonce/],
  ];
  for (const [what, changes, why] of refusals) {
    it(`should refuse ${what}`, async () => {
      await expect(signProof(input(await changes()))).rejects.toThrow(why);
    });
  }

  it("should refuse a certificate without a workload SPIFFE ID", async () => {
    const { ca, keyPem } = await testRoot();
    await expect(
      signProof(input({ key: createPrivateKey(keyPem), certificate: new X509Certificate(ca.certPem) })),
    ).rejects.toThrow(/no single SPIFFE ID/);
  });
});
