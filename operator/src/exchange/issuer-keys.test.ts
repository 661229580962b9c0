import { jwtVerify, SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestCa } from "../../../testing/certs.ts";
import { issuerSigningKey, TestOidcIssuer } from "../../../testing/oidc-issuer.ts";
import type { TrustedIssuer } from "../api/index.ts";
import { fetchJson } from "./fetch.ts";
import {
  DEFAULT_ISSUER_KEY_TIMINGS,
  discoveryUrl,
  IssuerKeys,
  jwksUriOf,
  publicSigningKeys,
} from "./issuer-keys.ts";

async function signer(kid: string) {
  const key = await issuerSigningKey(kid);
  return {
    key,
    jwk: key.jwk,
    sign: () =>
      new SignJWT({ sub: "x" })
        .setProtectedHeader({ alg: "ES256", kid })
        .setExpirationTime("5m")
        .sign(key.privateKey),
  };
}

describe("IssuerKeys with discovery", () => {
  let issuer: TestOidcIssuer;
  let t: number;
  let keys: IssuerKeys;
  const trusted = (spec: Partial<TrustedIssuer["spec"]> = {}): TrustedIssuer =>
    ({
      apiVersion: "signet.dev/v1alpha1",
      kind: "TrustedIssuer",
      metadata: { name: "ci" },
      spec: {
        issuer: issuer.url,
        caBundle: issuer.ca.certPem,
        audiences: ["signet"],
        rules: [{ identity: { namespace: "ci", name: "a" }, claims: { sub: "*" } }],
        ...spec,
      },
    }) as TrustedIssuer;
  const jwksHits = () => issuer.hits.filter((h) => h === "/jwks").length;

  beforeAll(async () => {
    issuer = await TestOidcIssuer.start();
  });
  afterAll(() => issuer.stop());
  beforeEach(async () => {
    issuer.reset();
    issuer.keys = [(await signer("k1")).key];
    t = Date.parse("2026-03-02T10:00:00Z");
    keys = new IssuerKeys({ now: () => t, timings: { timeoutMs: 2_000 } });
  });

  it("should read discovery, then the JWKS it names, over https with the caBundle", async () => {
    const result = await keys.keysFor(trusted());
    expect(result).toMatchObject({ ok: true, kids: ["k1"], remote: true });
    expect(issuer.hits).toEqual(["/.well-known/openid-configuration", "/jwks"]);
  });

  it("should verify a token with the keys it read", async () => {
    const s = await signer("k7");
    issuer.keys = [s.key];
    const result = await keys.keysFor(trusted());
    if (!result.ok) throw new Error(result.message);
    expect((await jwtVerify(await s.sign(), result.getKey)).payload.sub).toBe("x");
  });

  it("should refuse to talk to the issuer without its CA", async () => {
    const result = await keys.keysFor(trusted({ caBundle: undefined }));
    expect(result).toMatchObject({ ok: false, reason: "IssuerUnavailable" });
    expect(result.ok ? "" : result.message).toMatch(
      /TrustedIssuer ci: the issuer's keys could not be read \(GET https:.*certificate/,
    );
  });

  it("should keep the keys for the ttl, then read them again", async () => {
    await keys.keysFor(trusted());
    t += DEFAULT_ISSUER_KEY_TIMINGS.ttlMs - 1;
    await keys.keysFor(trusted());
    expect(jwksHits()).toBe(1);
    t += 1;
    await keys.keysFor(trusted());
    expect(jwksHits()).toBe(2);
  });

  it("should read again for an unknown kid at most every 30 s", async () => {
    await keys.keysFor(trusted());
    issuer.keys = [...issuer.keys, (await signer("k2")).key];
    t += 10_000;
    expect(await keys.keysFor(trusted(), { unknownKid: true })).toMatchObject({ ok: true, kids: ["k1"] });
    expect(jwksHits()).toBe(1);
    t += 20_000;
    expect(await keys.keysFor(trusted(), { unknownKid: true })).toMatchObject({
      ok: true,
      kids: ["k1", "k2"],
    });
    expect(jwksHits()).toBe(2);
    t += 29_999;
    await keys.keysFor(trusted(), { unknownKid: true });
    expect(jwksHits()).toBe(2);
  });

  it("should read once for many requests at the same moment", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => keys.keysFor(trusted())));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(jwksHits()).toBe(1);
  });

  it("should keep stale keys through an outage for maxStaleMs, then refuse", async () => {
    await keys.keysFor(trusted());
    issuer.answers.set("/jwks", { status: 500 });
    t += DEFAULT_ISSUER_KEY_TIMINGS.ttlMs;
    expect(await keys.keysFor(trusted())).toMatchObject({ ok: true, kids: ["k1"] });
    expect(jwksHits()).toBe(2);
    t += DEFAULT_ISSUER_KEY_TIMINGS.retryAfterFailureMs - 1;
    await keys.keysFor(trusted());
    expect(jwksHits()).toBe(2);
    t = t + 1 + DEFAULT_ISSUER_KEY_TIMINGS.maxStaleMs;
    const refused = await keys.keysFor(trusted());
    expect(refused).toMatchObject({ ok: false, reason: "IssuerUnavailable" });
    expect(refused.ok ? "" : refused.message).toContain("/jwks: answered 500");
  });

  it("should wait retryAfterFailureMs before reading again after a failure without keys", async () => {
    issuer.answers.set("/.well-known/openid-configuration", { status: 503 });
    expect(await keys.keysFor(trusted())).toMatchObject({ ok: false, reason: "IssuerUnavailable" });
    await keys.keysFor(trusted());
    expect(issuer.hits).toHaveLength(1);
    issuer.answers.clear();
    t += DEFAULT_ISSUER_KEY_TIMINGS.retryAfterFailureMs;
    expect(await keys.keysFor(trusted())).toMatchObject({ ok: true });
  });

  it("should refuse a discovery document that names another issuer", async () => {
    issuer.discovery = (base) => ({ issuer: `${base}/other`, jwks_uri: `${base}/jwks` });
    const result = await keys.keysFor(trusted());
    expect(result.ok ? "" : result.message).toContain(
      `names the issuer "${issuer.url}/other", not "${issuer.url}"`,
    );
    expect(jwksHits()).toBe(0);
  });

  it("should refuse a jwks_uri that is not https", async () => {
    issuer.discovery = (base) => ({ issuer: base, jwks_uri: "http://127.0.0.1/jwks" });
    const result = await keys.keysFor(trusted());
    expect(result.ok ? "" : result.message).toContain("has no https jwks_uri");
  });

  it("should not follow a redirect", async () => {
    issuer.answers.set("/jwks", { status: 302, location: "https://127.0.0.1:1/jwks" });
    const result = await keys.keysFor(trusted());
    expect(result.ok ? "" : result.message).toContain("answered 302 (a redirect, which is not followed)");
  });

  it("should refuse a JWKS larger than its bound", async () => {
    issuer.answers.set("/jwks", { body: JSON.stringify({ keys: [], pad: "x".repeat(300 * 1024) }) });
    const result = await keys.keysFor(trusted());
    expect(result.ok ? "" : result.message).toMatch(/exceeds 262144/);
  });

  it("should give up on an issuer that answers too slowly", async () => {
    keys = new IssuerKeys({ now: () => t, timings: { timeoutMs: 200 } });
    issuer.answers.set("/.well-known/openid-configuration", { delayMs: 1_000 });
    const result = await keys.keysFor(trusted());
    expect(result.ok ? "" : result.message).toContain("no complete answer within 200 ms");
  });

  it("should refuse a JWKS with only a symmetric key", async () => {
    issuer.answers.set("/jwks", {
      body: JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0", kid: "s" }] }),
    });
    const result = await keys.keysFor(trusted());
    expect(result.ok ? "" : result.message).toContain(
      `the JWKS ${issuer.url}/jwks holds no public signing key`,
    );
  });

  it("should read again when the TrustedIssuer's caBundle changes", async () => {
    await keys.keysFor(trusted());
    const other = await createTestCa("another CA");
    expect(await keys.keysFor(trusted({ caBundle: other.certPem }))).toMatchObject({ ok: false });
    expect(await keys.keysFor(trusted())).toMatchObject({ ok: true });
    expect(jwksHits()).toBe(2);
  });

  it("should forget TrustedIssuers that are gone", async () => {
    await keys.keysFor(trusted());
    keys.retain(new Set(["someone-else"]));
    await keys.keysFor(trusted());
    expect(jwksHits()).toBe(2);
    keys.retain(new Set(["ci"]));
    await keys.keysFor(trusted());
    expect(jwksHits()).toBe(2);
  });
});

describe("IssuerKeys with static jwks", () => {
  it("should use the keys as given and read nothing", async () => {
    const s = await signer("k1");
    let reads = 0;
    const keys = new IssuerKeys({
      fetch: async (url, options) => {
        reads++;
        return fetchJson(url, options);
      },
    });
    const ti = {
      metadata: { name: "apiserver" },
      spec: {
        issuer: "https://kubernetes.default.svc",
        jwks: JSON.stringify({ keys: [s.jwk] }),
        audiences: ["a"],
        rules: [],
      },
    } as unknown as TrustedIssuer;
    const result = await keys.keysFor(ti);
    expect(result).toMatchObject({ ok: true, remote: false, kids: ["k1"] });
    if (result.ok) expect((await jwtVerify(await s.sign(), result.getKey)).payload.sub).toBe("x");
    expect(await keys.keysFor(ti, { unknownKid: true })).toMatchObject({ ok: true });
    expect(reads).toBe(0);
  });
});

describe("publicSigningKeys", () => {
  const ec = { kty: "EC", crv: "P-256", x: "x", y: "y", kid: "e" };
  const cases: [string, unknown, string[] | RegExp][] = [
    [
      "should keep RSA, EC and OKP keys",
      { keys: [ec, { kty: "RSA", n: "n", e: "AQAB" }, { kty: "OKP", crv: "Ed25519", x: "x" }] },
      ["EC", "RSA", "OKP"],
    ],
    ["should drop a symmetric key", { keys: [ec, { kty: "oct", k: "c2VjcmV0" }] }, ["EC"]],
    ["should drop a key with private parts", { keys: [ec, { ...ec, d: "secret" }] }, ["EC"]],
    ["should drop an encryption key", { keys: [ec, { ...ec, use: "enc" }] }, ["EC"]],
    ["should keep a key marked for signatures", { keys: [{ ...ec, use: "sig" }] }, ["EC"]],
    ["should drop entries that are not objects", { keys: [ec, "x", null, 1] }, ["EC"]],
    ["should refuse a document without keys", { issuer: "x" }, /needs a "keys" list/],
    ["should refuse a list", [ec], /needs a "keys" list/],
    ["should refuse null", null, /needs a "keys" list/],
    [
      "should refuse a set with no usable key",
      { keys: [{ kty: "oct", k: "x" }] },
      /holds no public signing key/,
    ],
    [
      "should refuse more than 100 keys",
      { keys: Array.from({ length: 101 }, () => ec) },
      /more than 100 keys/,
    ],
  ];
  it.each(cases)("%s", (_name, doc, expected) => {
    if (expected instanceof RegExp) expect(() => publicSigningKeys(doc, "the JWKS")).toThrow(expected);
    else expect(publicSigningKeys(doc, "the JWKS").keys.map((k) => k.kty)).toEqual(expected);
  });
});

describe("discoveryUrl", () => {
  it.each([
    [
      "https://token.actions.githubusercontent.com",
      "https://token.actions.githubusercontent.com/.well-known/openid-configuration",
    ],
    ["https://127.0.0.1:6443/", "https://127.0.0.1:6443/.well-known/openid-configuration"],
    [
      "https://accounts.example.com/tenant/v2.0",
      "https://accounts.example.com/tenant/v2.0/.well-known/openid-configuration",
    ],
  ])("should put discovery of %s at %s", (issuer, url) => {
    expect(discoveryUrl(issuer)).toBe(url);
  });
});

describe("jwksUriOf", () => {
  const cases: [string, unknown, string | RegExp][] = [
    ["should take the jwks_uri", { issuer: "https://i", jwks_uri: "https://i/keys" }, "https://i/keys"],
    [
      "should refuse another issuer",
      { issuer: "https://j", jwks_uri: "https://i/keys" },
      /names the issuer "https:\/\/j", not "https:\/\/i"/,
    ],
    [
      "should refuse an issuer that differs by a slash",
      { issuer: "https://i/", jwks_uri: "https://i/keys" },
      /names the issuer/,
    ],
    [
      "should refuse an http jwks_uri",
      { issuer: "https://i", jwks_uri: "http://i/keys" },
      /no https jwks_uri/,
    ],
    ["should refuse a missing jwks_uri", { issuer: "https://i" }, /no https jwks_uri/],
    ["should refuse a document that is not an object", "x", /not a JSON object/],
  ];
  it.each(cases)("%s", (_name, doc, expected) => {
    if (expected instanceof RegExp) expect(() => jwksUriOf(doc, "https://i", "discovery")).toThrow(expected);
    else expect(jwksUriOf(doc, "https://i", "discovery")).toBe(expected);
  });
});

describe("fetchJson", () => {
  it.each([
    ["http://127.0.0.1/x", /is not an https URL/],
    ["file:///etc/passwd", /is not an https URL/],
    ["not a url", /is not a URL/],
  ])("should refuse %s", async (url, message) => {
    await expect(fetchJson(url, { timeoutMs: 100, maxBytes: 10 })).rejects.toThrow(message);
  });
});
