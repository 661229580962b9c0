import { createHmac } from "node:crypto";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

type CryptoKeyLike = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

import { beforeAll, describe, expect, it } from "vitest";
import type { TrustedIssuer } from "../api/index.ts";
import { IssuerKeys } from "./issuer-keys.ts";
import { CLOCK_TOLERANCE_SECONDS, issuedAtRefusal, verifySubjectToken } from "./verify.ts";

const NOW = new Date("2026-03-02T10:00:00.000Z");
const NOW_S = NOW.getTime() / 1000;
const ISS = "https://token.actions.example.com";

type Key = { privateKey: CryptoKeyLike; jwk: JWK };

async function key(
  alg: string,
  kid: string,
  options: Parameters<typeof generateKeyPair>[1] = {},
): Promise<Key> {
  const pair = await generateKeyPair(alg, { extractable: true, ...options });
  return { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg } };
}

function trustedIssuer(name: string, keys: JWK[], spec: Partial<TrustedIssuer["spec"]> = {}): TrustedIssuer {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "TrustedIssuer",
    metadata: { name },
    spec: {
      issuer: ISS,
      jwks: JSON.stringify({ keys }),
      audiences: ["signet"],
      rules: [
        {
          identity: { namespace: "ci", name: "deployer" },
          claims: { repository: "acme/app", ref: "refs/heads/main" },
        },
        {
          identity: { namespace: "ci", name: "releaser" },
          claims: { repository: "acme/*", ref: "refs/heads/release-*" },
        },
      ],
      ...spec,
    },
  } as TrustedIssuer;
}

const CLAIMS: JWTPayload = {
  iss: ISS,
  sub: "repo:acme/app:ref:refs/heads/main",
  aud: "signet",
  repository: "acme/app",
  ref: "refs/heads/main",
  iat: NOW_S - 10,
  nbf: NOW_S - 10,
  exp: NOW_S + 300,
  jti: "j-1",
};

async function sign(k: Key, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload = Object.fromEntries(
    Object.entries({ ...CLAIMS, ...claims }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload)
    .setProtectedHeader({ alg: String(k.jwk.alg), kid: k.jwk.kid, typ: "JWT", ...header })
    .sign(k.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("verifySubjectToken", () => {
  let es256: Key;
  let other: Key;
  let issuers: TrustedIssuer[];
  const verify = (token: string, list: readonly TrustedIssuer[] = issuers, now = NOW) =>
    verifySubjectToken(token, { issuers: list, keys: new IssuerKeys({ now: () => now.getTime() }), now });

  beforeAll(async () => {
    es256 = await key("ES256", "k1");
    other = await key("ES256", "k1");
    issuers = [trustedIssuer("ci", [es256.jwk])];
  });

  it("should verify a token of a trusted issuer and pick the first matching rule", async () => {
    const result = await verify(await sign(es256));
    expect(result).toMatchObject({
      ok: true,
      ruleIndex: 0,
      rule: { identity: { namespace: "ci", name: "deployer" } },
      claims: { sub: CLAIMS.sub, repository: "acme/app" },
    });
    expect(result.ok && result.trustedIssuer.metadata.name).toBe("ci");
  });

  it("should pick a later rule by its glob", async () => {
    const result = await verify(await sign(es256, { repository: "acme/lib", ref: "refs/heads/release-1.4" }));
    expect(result).toMatchObject({ ok: true, ruleIndex: 1, rule: { identity: { name: "releaser" } } });
  });

  it.each([
    ["RS256", {}],
    ["PS384", {}],
    ["ES384", {}],
    ["ES512", {}],
    ["EdDSA", { crv: "Ed25519" }],
  ] as const)("should accept the asymmetric algorithm %s", async (alg, options) => {
    const k = await key(alg, `kid-${alg}`, options);
    const result = await verify(await sign(k), [trustedIssuer("ci", [k.jwk])]);
    expect(result.ok).toBe(true);
  });

  it("should refuse an unsigned token (alg none)", async () => {
    const token = `${b64({ alg: "none", typ: "JWT" })}.${b64(CLAIMS)}.`;
    expect(await verify(token)).toMatchObject({
      ok: false,
      error: "invalid_grant",
      reason: "UnsupportedAlgorithm",
      issuer: ISS,
      sub: CLAIMS.sub,
      verified: false,
    });
  });

  it.each(["HS256", "HS384", "HS512"])(
    "should refuse an HMAC token (%s), even keyed with the issuer's public key",
    async (alg) => {
      const secret = JSON.stringify(es256.jwk);
      const input = `${b64({ alg, kid: "k1", typ: "JWT" })}.${b64(CLAIMS)}`;
      const mac = createHmac(`sha${alg.slice(2)}`, secret)
        .update(input)
        .digest("base64url");
      const refused = await verify(`${input}.${mac}`);
      expect(refused).toMatchObject({ ok: false, reason: "UnsupportedAlgorithm" });
      expect(refused.ok ? "" : refused.description).toMatch(/never "none" or an HMAC such as HS256/);
    },
  );

  it("should refuse an HMAC token even when the JWKS holds a symmetric key", async () => {
    const secret = Buffer.from("a-shared-secret-of-thirty-two-b!");
    const oct: JWK = { kty: "oct", k: secret.toString("base64url"), kid: "s1", alg: "HS256" };
    const input = `${b64({ alg: "HS256", kid: "s1" })}.${b64(CLAIMS)}`;
    const mac = createHmac("sha256", secret).update(input).digest("base64url");
    const result = await verify(`${input}.${mac}`, [trustedIssuer("ci", [es256.jwk, oct])]);
    expect(result).toMatchObject({ ok: false, reason: "UnsupportedAlgorithm" });
  });

  it.each([
    ["text that is not a JWT", "not-a-token"],
    ["a header that is not JSON", "eyJub3Q.eyJpc3MiOiJ4In0.c2ln"],
    ["an encrypted JWT (five parts)", "a.b.c.d.e"],
  ])("should refuse %s as malformed", async (_name, token) => {
    expect(await verify(token)).toMatchObject({ ok: false, reason: "MalformedToken", verified: false });
  });

  it("should refuse a token without iss", async () => {
    expect(await verify(await sign(es256, { iss: undefined }))).toMatchObject({
      ok: false,
      error: "invalid_grant",
      reason: "UnknownIssuer",
    });
  });

  it("should refuse a token of an issuer no TrustedIssuer names", async () => {
    const refused = await verify(await sign(es256, { iss: "https://evil.example.com" }));
    expect(refused).toMatchObject({ ok: false, reason: "UnknownIssuer", issuer: "https://evil.example.com" });
    expect(refused.ok ? "" : refused.description).toContain(
      'no TrustedIssuer has spec.issuer "https://evil.example.com"',
    );
  });

  it("should refuse an issuer that differs only by a trailing slash", async () => {
    expect(await verify(await sign(es256, { iss: `${ISS}/` }))).toMatchObject({
      ok: false,
      reason: "UnknownIssuer",
    });
  });

  it("should refuse a token signed by another key with the same kid", async () => {
    const refused = await verify(await sign(other));
    expect(refused).toMatchObject({
      ok: false,
      reason: "InvalidSignature",
      trustedIssuer: "ci",
      verified: false,
    });
    expect(refused.ok ? "" : refused.description).toContain("does not verify with TrustedIssuer ci's keys");
  });

  it("should refuse a token whose kid no key has", async () => {
    const stranger = await key("ES256", "k9");
    const refused = await verify(await sign(stranger));
    expect(refused).toMatchObject({ ok: false, reason: "InvalidSignature" });
    expect(refused.ok ? "" : refused.description).toContain("no key of TrustedIssuer ci matches");
  });

  it("should refuse a token whose signature was altered", async () => {
    const token = await sign(es256);
    const tampered = `${token.slice(0, token.lastIndexOf(".") + 1)}${"A".repeat(86)}`;
    expect(await verify(tampered)).toMatchObject({ ok: false, reason: "InvalidSignature" });
  });

  it("should refuse a token whose claims were altered after signing", async () => {
    const [header, , signature] = (await sign(es256)).split(".");
    const forged = `${header}.${b64({ ...CLAIMS, repository: "acme/app", ref: "refs/heads/release-1" })}.${signature}`;
    expect(await verify(forged)).toMatchObject({ ok: false, reason: "InvalidSignature" });
  });

  it("should try every key when the token has no kid and several keys match", async () => {
    const second = await key("ES256", "k2");
    const token = await new SignJWT(CLAIMS).setProtectedHeader({ alg: "ES256" }).sign(second.privateKey);
    const result = await verify(token, [trustedIssuer("ci", [es256.jwk, second.jwk])]);
    expect(result.ok).toBe(true);
    const stranger = await key("ES256", "k3");
    const unsigned = await new SignJWT(CLAIMS).setProtectedHeader({ alg: "ES256" }).sign(stranger.privateKey);
    expect(await verify(unsigned, [trustedIssuer("ci", [es256.jwk, second.jwk])])).toMatchObject({
      ok: false,
      reason: "InvalidSignature",
    });
  });

  const times: [string, JWTPayload, string | undefined][] = [
    ["should refuse an expired token", { exp: NOW_S - CLOCK_TOLERANCE_SECONDS - 1 }, "TokenExpired"],
    [
      "should accept a token expired within the clock tolerance",
      { exp: NOW_S - CLOCK_TOLERANCE_SECONDS + 1 },
      undefined,
    ],
    ["should refuse a token without exp", { exp: undefined }, "InvalidClaims"],
    [
      "should refuse a token whose exp is not a number",
      { exp: "tomorrow" as unknown as number },
      "InvalidClaims",
    ],
    ["should refuse a token not valid yet", { nbf: NOW_S + CLOCK_TOLERANCE_SECONDS + 1 }, "TokenNotYetValid"],
    [
      "should accept a nbf within the clock tolerance",
      { nbf: NOW_S + CLOCK_TOLERANCE_SECONDS - 1 },
      undefined,
    ],
    ["should accept a token without nbf", { nbf: undefined }, undefined],
    [
      "should refuse a token issued in the future",
      { iat: NOW_S + CLOCK_TOLERANCE_SECONDS + 1 },
      "TokenNotYetValid",
    ],
    [
      "should accept an iat within the clock tolerance",
      { iat: NOW_S + CLOCK_TOLERANCE_SECONDS - 1 },
      undefined,
    ],
    ["should accept a token without iat", { iat: undefined }, undefined],
  ];
  it.each(times)("%s", async (_name, claims, reason) => {
    const result = await verify(await sign(es256, claims));
    if (reason === undefined) expect(result.ok).toBe(true);
    else expect(result).toMatchObject({ ok: false, error: "invalid_grant", reason });
  });

  it("should say when an expired token expired", async () => {
    const refused = await verify(await sign(es256, { exp: NOW_S - 3600 }));
    expect(refused.ok ? "" : refused.description).toContain(
      `expired (exp ${NOW_S - 3600}, at ${new Date((NOW_S - 3600) * 1000).toISOString()})`,
    );
  });

  it("should judge time by the clock it is given", async () => {
    const token = await sign(es256);
    const later = new Date(NOW.getTime() + 3600_000);
    expect(await verify(token, issuers, later)).toMatchObject({ ok: false, reason: "TokenExpired" });
    expect((await verify(token, issuers, NOW)).ok).toBe(true);
  });

  it.each([
    ["a string audience off the list", "sts.amazonaws.com"],
    ["a list without an accepted audience", ["a", "b"]],
    ["no audience", undefined],
  ])("should refuse %s", async (_name, aud) => {
    const refused = await verify(await sign(es256, { aud }));
    expect(refused).toMatchObject({ ok: false, reason: "WrongAudience", verified: true, sub: CLAIMS.sub });
    expect(refused.ok ? "" : refused.description).toContain(
      `holds none of TrustedIssuer ci's spec.audiences ("signet")`,
    );
  });

  it("should accept a list of audiences holding an accepted one", async () => {
    expect((await verify(await sign(es256, { aud: ["other", "signet"] }))).ok).toBe(true);
  });

  it("should refuse a token no rule matches, naming each rule's claim", async () => {
    const refused = await verify(await sign(es256, { repository: "evil/app", ref: "refs/heads/main" }));
    expect(refused).toMatchObject({
      ok: false,
      error: "invalid_grant",
      reason: "NoMatchingRule",
      verified: true,
    });
    expect(refused.ok ? "" : refused.description).toBe(
      'no rule of TrustedIssuer ci matches the subject_token: rule 0 (ci/deployer): repository must match "acme/app" but the token has "evil/app"; rule 1 (ci/releaser): repository must match "acme/*" but the token has "evil/app"',
    );
  });

  it("should name the branch when only it is wrong", async () => {
    const refused = await verify(await sign(es256, { ref: "refs/heads/dev" }));
    expect(refused.ok ? "" : refused.description).toContain(
      'rule 0 (ci/deployer): ref must match "refs/heads/main" but the token has "refs/heads/dev"; rule 1 (ci/releaser): ref must match "refs/heads/release-*"',
    );
  });

  it("should answer IssuerMisconfigured for static jwks that is not JSON", async () => {
    const broken = trustedIssuer("ci", [], { jwks: "{not json" });
    const refused = await verify(await sign(es256), [broken]);
    expect(refused).toMatchObject({
      ok: false,
      status: 500,
      error: "server_error",
      reason: "IssuerMisconfigured",
    });
    expect(refused.ok ? "" : refused.description).toBe("TrustedIssuer ci: spec.jwks is not JSON");
  });

  it("should answer IssuerMisconfigured for static jwks without a public signing key", async () => {
    const onlyOct = trustedIssuer("ci", [{ kty: "oct", k: "c2VjcmV0", kid: "s" }]);
    const refused = await verify(await sign(es256), [onlyOct]);
    expect(refused).toMatchObject({ ok: false, reason: "IssuerMisconfigured" });
    expect(refused.ok ? "" : refused.description).toContain("holds no public signing key");
  });

  describe("with two TrustedIssuers of one issuer", () => {
    it("should accept a token that the second one's keys verify", async () => {
      const second = await key("ES256", "k2");
      const list = [trustedIssuer("b-team", [second.jwk]), trustedIssuer("a-team", [es256.jwk])];
      const result = await verify(await sign(second, {}, { kid: "k2" }), list);
      expect(result.ok && result.trustedIssuer.metadata.name).toBe("b-team");
    });

    it("should try them in name order and take the first that matches a rule", async () => {
      const list = [
        trustedIssuer("b-team", [es256.jwk]),
        trustedIssuer("a-team", [es256.jwk], {
          rules: [{ identity: { namespace: "a", name: "x" }, claims: { repository: "acme/*" } }],
        }),
      ];
      const result = await verify(await sign(es256), list);
      expect(result).toMatchObject({ ok: true, rule: { identity: { namespace: "a", name: "x" } } });
    });

    it("should answer with the refusal that got furthest", async () => {
      const second = await key("ES256", "k2");
      const list = [trustedIssuer("a-team", [second.jwk]), trustedIssuer("b-team", [es256.jwk])];
      const refused = await verify(await sign(es256, { repository: "evil/app" }), list);
      expect(refused).toMatchObject({ ok: false, reason: "NoMatchingRule", trustedIssuer: "b-team" });
    });
  });
});

describe("issuedAtRefusal", () => {
  const cases: [string, JWTPayload, string | undefined][] = [
    ["should pass a token without iat", {}, undefined],
    ["should pass an iat in the past", { iat: NOW_S - 1000 }, undefined],
    ["should pass an iat now", { iat: NOW_S }, undefined],
    ["should pass an iat at the tolerance", { iat: NOW_S + CLOCK_TOLERANCE_SECONDS }, undefined],
    [
      "should refuse an iat past the tolerance",
      { iat: NOW_S + CLOCK_TOLERANCE_SECONDS + 1 },
      "TokenNotYetValid",
    ],
    ["should refuse an iat that is not a number", { iat: "now" as unknown as number }, "InvalidClaims"],
    ["should refuse an iat that is not finite", { iat: Number.POSITIVE_INFINITY }, "InvalidClaims"],
  ];
  it.each(cases)("%s", (_name, claims, reason) => {
    const refusal = issuedAtRefusal(claims, NOW_S);
    if (reason === undefined) expect(refusal).toBeUndefined();
    else expect(refusal).toMatchObject({ ok: false, error: "invalid_grant", reason });
  });
});
