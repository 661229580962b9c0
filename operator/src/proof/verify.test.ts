import { createPrivateKey, sign as nodeSign, webcrypto, X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { issueCertificate } from "../../../testing/pki.ts";
import * as x509 from "../pki/x509.ts";
import { base64url, MAX_PROOF_LENGTH, thumbprintOf, tokenHashOf } from "./format.ts";
import { PROOF_REASONS, ProofReason } from "./reasons.ts";
import { type SignProofInput, signProof } from "./sign.ts";
import {
  CB,
  CLIENT_ID,
  craftProof,
  es256Jws,
  KEY_TYPES,
  NOW_MS,
  OTHER_CB,
  REQUEST_URL,
  rawJws,
  SERVER_ID,
  type TestSvid,
  testRoot,
  testSvid,
  validParts,
} from "./test-fixtures.ts";
import { createVerifier, type VerifierOptions, type VerifyInput } from "./verify.ts";

const TOKEN =
  "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGlmZmU6Ly9jbHVzdGVyLmxvY2FsL25zL3Nob3AvaWQvY2hlY2tvdXQifQ.c2ln";

let svid: TestSvid;
let otherSvid: TestSvid;

beforeAll(async () => {
  svid = await testSvid();
  otherSvid = await testSvid({ algorithm: "ECDSA", size: 256 }, CLIENT_ID, true);
});

/** A verifier on a clock the test moves. */
function verifierAt(options: Partial<VerifierOptions> = {}) {
  const clock = { ms: NOW_MS };
  const verifier = createVerifier({ audience: SERVER_ID, now: () => clock.ms, ...options });
  return { verifier, clock };
}

function request(
  proof: string | readonly string[] | undefined,
  changes: Partial<VerifyInput> = {},
): VerifyInput {
  return {
    proof,
    method: "POST",
    url: REQUEST_URL,
    peerCertificate: svid.certificate,
    channelBinding: CB,
    ...changes,
  };
}

function sign(changes: Partial<SignProofInput> = {}, by: TestSvid = svid): Promise<string> {
  return signProof({
    key: by.key,
    certificate: by.certificate,
    method: "POST",
    url: REQUEST_URL,
    audience: SERVER_ID,
    channelBinding: CB,
    now: new Date(NOW_MS),
    ...changes,
  });
}

async function verdictOf(proof: string | readonly string[] | undefined, changes: Partial<VerifyInput> = {}) {
  return verifierAt().verifier.verify(request(proof, changes));
}

describe("createVerifier: accepting", () => {
  for (const type of KEY_TYPES) {
    it(`should accept a ${type.name} proof for this request, connection and audience`, async () => {
      const caller = await testSvid(type.spec);
      const proof = await sign({}, caller);
      const verdict = await verdictOf(proof, { peerCertificate: caller.certificate });
      expect(verdict).toMatchObject({ ok: true, subject: CLIENT_ID });
    });

    it(`should refuse a ${type.name} proof signed by another key of the same type`, async () => {
      const caller = await testSvid(type.spec);
      const impostor = await testSvid(type.spec, CLIENT_ID, true);
      const proof = await craftProof(caller, type.alg, { signWith: impostor.key });
      const verdict = await verdictOf(proof, { peerCertificate: caller.certificate });
      expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofSignatureInvalid });
    });
  }

  it("should accept the peer certificate as DER as well as an X509Certificate", async () => {
    const verdict = await verdictOf(await sign(), { peerCertificate: svid.certificate.raw });
    expect(verdict.ok).toBe(true);
  });

  it("should accept a proof whose URL differs only in query, fragment, case, default port and encoding", async () => {
    const proof = await sign({ url: "https://Payments.Shop.SVC:443/v1/%7Echarges?id=1#top" });
    const verdict = await verdictOf(proof, { url: "https://payments.shop.svc/v1/~charges?id=2" });
    expect(verdict.ok).toBe(true);
  });

  it("should accept a proof bound to the bearer token the request carries", async () => {
    const verdict = await verdictOf(await sign({ token: TOKEN }), { token: TOKEN });
    expect(verdict.ok).toBe(true);
  });

  it("should accept a lowercase request method against its upper-case htm", async () => {
    const verdict = await verdictOf(await sign({ method: "patch" }), { method: "patch" });
    expect(verdict.ok).toBe(true);
  });
});

describe("createVerifier: each check, in order", () => {
  it("should refuse a request without a proof as ProofMissing", async () => {
    for (const proof of [undefined, "", []]) {
      expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofMissing });
    }
  });

  // Each case is signed for real and valid but for its one fault, so that without the check it
  // would be accepted (or refused later, for a different reason).
  const malformed: { name: string; proof: () => Promise<string | readonly string[]> }[] = [
    { name: "two Signet-Proof headers", proof: async () => [await sign(), await sign()] },
    {
      name: "two proofs joined as Node joins repeated headers",
      proof: async () => `${await sign()}, ${await sign()}`,
    },
    {
      name: "a proof longer than the limit",
      proof: async () =>
        craftProof(svid, "ES256", { claims: { htu: `${REQUEST_URL}/${"a".repeat(MAX_PROOF_LENGTH)}` } }),
    },
    { name: "a JWS with two parts", proof: async () => (await sign()).split(".").slice(0, 2).join(".") },
    {
      name: "a header that is not JSON",
      proof: async () => `bm90IGpzb24.${(await sign()).split(".").slice(1).join(".")}`,
    },
    {
      name: "a header that is a JSON array",
      proof: async () => rawJws(["ES256"], validParts(svid, "ES256").claims),
    },
    {
      name: "a header in non-canonical base64url",
      proof: async () => {
        const [h, p, s] = (await sign()).split(".");
        return `${h}=.${p}.${s}`;
      },
    },
    { name: 'typ "JWT"', proof: () => craftProof(svid, "ES256", { header: { typ: "JWT" } }) },
    { name: "typ missing", proof: () => craftProof(svid, "ES256", { header: { typ: undefined } }) },
    {
      name: "typ in another case",
      proof: () => craftProof(svid, "ES256", { header: { typ: "Signet-Proof+JWT" } }),
    },
    {
      name: 'alg "none"',
      proof: async () => {
        const { header, claims } = validParts(svid, "none");
        return `${rawJws(header, claims).split(".").slice(0, 2).join(".")}.`;
      },
    },
    {
      name: "alg HS256",
      proof: async () => {
        const { header, claims } = validParts(svid, "HS256");
        return rawJws(header, claims, Buffer.alloc(32, 1));
      },
    },
    {
      name: "alg ES512",
      proof: async () => {
        const { header, claims } = validParts(svid, "ES512");
        return rawJws(header, claims, Buffer.alloc(132, 1));
      },
    },
    {
      name: "alg RS256",
      proof: async () => {
        const { header, claims } = validParts(svid, "RS256");
        return rawJws(header, claims);
      },
    },
    {
      name: "a jwk header member",
      proof: () =>
        craftProof(svid, "ES256", { header: { jwk: svid.certificate.publicKey.export({ format: "jwk" }) } }),
    },
    {
      name: "an x5c header member",
      proof: () => craftProof(svid, "ES256", { header: { x5c: [svid.certificate.raw.toString("base64")] } }),
    },
    { name: "a kid header member", proof: () => craftProof(svid, "ES256", { header: { kid: "checkout" } }) },
    {
      name: "a crit header member",
      proof: async () => {
        const { header, claims } = validParts(svid, "ES256");
        return es256Jws({ ...header, crit: ["exp"] }, claims, svid.key);
      },
    },
    {
      name: "an x5t#S256 that is no SHA-256 digest",
      proof: () => craftProof(svid, "ES256", { header: { "x5t#S256": "abc" } }),
    },
    {
      name: "a claim proofs do not carry",
      proof: () => craftProof(svid, "ES256", { claims: { scope: "admin" } }),
    },
    { name: "no jti", proof: () => craftProof(svid, "ES256", { claims: { jti: undefined } }) },
    {
      name: "a jti of 21 characters",
      proof: () => craftProof(svid, "ES256", { claims: { jti: "A".repeat(21) } }),
    },
    {
      name: "a jti of 24 bytes",
      proof: () => craftProof(svid, "ES256", { claims: { jti: base64url(Buffer.alloc(24, 3)) } }),
    },
    {
      name: "a jti in non-canonical base64url",
      proof: () => craftProof(svid, "ES256", { claims: { jti: `${"A".repeat(21)}B` } }),
    },
    {
      name: "an iat in milliseconds with a fraction",
      proof: () => craftProof(svid, "ES256", { claims: { iat: NOW_MS / 1000 + 0.5 } }),
    },
    {
      name: "an iat as a string",
      proof: () => craftProof(svid, "ES256", { claims: { iat: String(NOW_MS / 1000) } }),
    },
    {
      name: "an exp not after iat",
      proof: () => craftProof(svid, "ES256", { claims: { exp: NOW_MS / 1000 } }),
    },
    { name: "a lowercase htm", proof: () => craftProof(svid, "ES256", { claims: { htm: "post" } }) },
    { name: "an aud array", proof: () => craftProof(svid, "ES256", { claims: { aud: [SERVER_ID] } }) },
    {
      name: "a cb of 16 bytes",
      proof: () => craftProof(svid, "ES256", { claims: { cb: base64url(CB.subarray(0, 16)) } }),
    },
    {
      name: "an ath that is not a digest",
      proof: () => craftProof(svid, "ES256", { claims: { ath: "token" } }),
    },
    { name: "a nonce with spaces", proof: () => craftProof(svid, "ES256", { claims: { nonce: "a b" } }) },
  ];
  for (const { name, proof } of malformed) {
    it(`should refuse ${name} as ProofMalformed`, async () => {
      expect(await verdictOf(await proof())).toMatchObject({ ok: false, reason: ProofReason.ProofMalformed });
    });
  }

  it("should refuse a payload in non-canonical base64url, even when signed so, as ProofMalformed", async () => {
    const { header, claims } = validParts(svid, "ES256");
    // Whitespace lets the payload end in a partial group, whose unused low bits can be set.
    let json = JSON.stringify(claims);
    while (base64url(Buffer.from(json)).length % 4 === 0) json += " ";
    const canonical = base64url(Buffer.from(json));
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const variant = [...alphabet]
      .map((c) => `${canonical.slice(0, -1)}${c}`)
      .find((v) => v !== canonical && Buffer.from(v, "base64url").equals(Buffer.from(json)));
    const input = `${base64url(Buffer.from(JSON.stringify(header)))}.${variant}`;
    const proof = `${input}.${base64url(nodeSign("sha256", Buffer.from(input), { key: svid.key, dsaEncoding: "ieee-p1363" }))}`;
    expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofMalformed });
  });

  it("should refuse a proof whose x5t#S256 names another certificate as ProofBindingMismatch", async () => {
    const proof = await craftProof(svid, "ES256", {
      header: { "x5t#S256": thumbprintOf(otherSvid.certificate.raw) },
    });
    expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofBindingMismatch });
  });

  it("should refuse a proof made with another SVID of the same identity as ProofBindingMismatch", async () => {
    const verdict = await verdictOf(await sign({}, otherSvid));
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofBindingMismatch });
  });

  it("should refuse a proof with a changed claim as ProofSignatureInvalid", async () => {
    const [header, payload, signature] = (await sign()).split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const changed = base64url(Buffer.from(JSON.stringify({ ...claims, htm: "DELETE" })));
    const verdict = await verdictOf(`${header}.${changed}.${signature}`, { method: "DELETE" });
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofSignatureInvalid });
  });

  it("should refuse a proof whose alg is not the one the presented key signs as ProofSignatureInvalid", async () => {
    const p384 = await testSvid({ algorithm: "ECDSA", size: 384 });
    const proof = await craftProof(svid, "ES384", { signWith: p384.key });
    expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofSignatureInvalid });
  });

  it("should refuse a proof with a sub other than the leaf's SPIFFE ID as ProofSubjectMismatch", async () => {
    const proof = await craftProof(svid, "ES256", {
      claims: { sub: "spiffe://cluster.local/ns/shop/id/admin" },
    });
    expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofSubjectMismatch });
  });

  it("should refuse a proof from a certificate without a workload SPIFFE ID as ProofSubjectMismatch", async () => {
    // A CA-style certificate whose only URI SAN is the bare trust domain: it names no workload.
    const { ca } = await testRoot();
    const issued = await issueCertificate({
      issuer: ca,
      commonName: "not a workload",
      notBefore: new Date(NOW_MS - 3_600_000),
    });
    const certificate = new X509Certificate(issued.certPem);
    const holder = {
      ...svid,
      certificate,
      key: createPrivateKey(issued.keyPem),
      spiffeId: "spiffe://cluster.local",
    };
    const proof = await craftProof(holder, "ES256");
    expect(await verdictOf(proof, { peerCertificate: certificate })).toMatchObject({
      ok: false,
      reason: ProofReason.ProofSubjectMismatch,
    });
  });

  it("should refuse a proof for another audience as ProofAudienceMismatch", async () => {
    const proof = await sign({ audience: "spiffe://cluster.local/ns/shop/id/ledger" });
    expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofAudienceMismatch });
  });

  it("should refuse a proof for another method as ProofMethodMismatch", async () => {
    const proof = await sign({ method: "GET" });
    expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofMethodMismatch });
  });

  for (const [what, url] of [
    ["path", "https://payments.shop.svc:8443/v1/refunds"],
    ["host", "https://ledger.shop.svc:8443/v1/charges"],
    ["port", "https://payments.shop.svc:9443/v1/charges"],
    ["trailing slash", "https://payments.shop.svc:8443/v1/charges/"],
    ["encoded slash", "https://payments.shop.svc:8443/v1%2Fcharges"],
  ] as const) {
    it(`should refuse a proof for another ${what} as ProofUrlMismatch`, async () => {
      const proof = await sign({ url });
      expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofUrlMismatch });
    });
  }

  it("should refuse a proof when the request's own URL is not https as ProofUrlMismatch", async () => {
    const verdict = await verdictOf(await sign(), { url: "http://payments.shop.svc:8443/v1/charges" });
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofUrlMismatch });
  });

  it("should refuse a proof whose htu is not in normal form as ProofUrlMismatch", async () => {
    const proof = await craftProof(svid, "ES256", {
      claims: { htu: "https://Payments.shop.svc:8443/v1/charges" },
    });
    expect(await verdictOf(proof)).toMatchObject({ ok: false, reason: ProofReason.ProofUrlMismatch });
  });

  it("should refuse a proof made for another connection as ProofChannelMismatch", async () => {
    const verdict = await verdictOf(await sign(), { channelBinding: OTHER_CB });
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofChannelMismatch });
  });

  it("should refuse a channel binding of the wrong length as ProofChannelMismatch", async () => {
    const verdict = await verdictOf(await sign(), { channelBinding: CB.subarray(0, 16) });
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofChannelMismatch });
  });

  it("should refuse a proof bound to another token as ProofTokenMismatch", async () => {
    const verdict = await verdictOf(await sign({ token: TOKEN }), { token: `${TOKEN}x` });
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofTokenMismatch });
  });

  it("should refuse a request that carries a token its proof has no ath for as ProofTokenMismatch", async () => {
    const verdict = await verdictOf(await sign(), { token: TOKEN });
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofTokenMismatch });
  });

  it("should refuse a proof bound to a token the request does not carry as ProofTokenMismatch", async () => {
    const verdict = await verdictOf(await sign({ token: TOKEN }));
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofTokenMismatch });
  });

  it("should accept a proof until exp + skew and refuse it a millisecond later as ProofExpired", async () => {
    const proof = await sign({ lifetimeSeconds: 30 });
    const exp = Math.floor(NOW_MS / 1000) + 30;
    const atEnd = verifierAt();
    atEnd.clock.ms = (exp + 5) * 1000;
    expect((await atEnd.verifier.verify(request(proof))).ok).toBe(true);
    const after = verifierAt();
    after.clock.ms = (exp + 5) * 1000 + 1;
    expect(await after.verifier.verify(request(proof))).toMatchObject({
      ok: false,
      reason: ProofReason.ProofExpired,
    });
  });

  it("should accept a proof issued up to skew ahead and refuse one further ahead as ProofNotYetValid", async () => {
    const early = await sign({ now: new Date(NOW_MS + 5_000) });
    expect((await verdictOf(early)).ok).toBe(true);
    const tooEarly = await sign({ now: new Date(NOW_MS + 6_000) });
    expect(await verdictOf(tooEarly)).toMatchObject({ ok: false, reason: ProofReason.ProofNotYetValid });
  });

  it("should accept a lifetime of 60 s and refuse 61 s as ProofLifetimeTooLong", async () => {
    const iat = Math.floor(NOW_MS / 1000);
    expect((await verdictOf(await craftProof(svid, "ES256", { claims: { exp: iat + 60 } }))).ok).toBe(true);
    const tooLong = await craftProof(svid, "ES256", { claims: { exp: iat + 61 } });
    expect(await verdictOf(tooLong)).toMatchObject({ ok: false, reason: ProofReason.ProofLifetimeTooLong });
  });

  it("should refuse a proof accepted before as ProofReplayed", async () => {
    const { verifier } = verifierAt();
    const proof = await sign();
    expect((await verifier.verify(request(proof))).ok).toBe(true);
    expect(await verifier.verify(request(proof))).toMatchObject({
      ok: false,
      reason: ProofReason.ProofReplayed,
    });
  });

  it("should refuse a proof with the jti of an accepted one but a new signature as ProofReplayed", async () => {
    const { verifier } = verifierAt();
    const jti = base64url(Buffer.alloc(16, 9));
    expect((await verifier.verify(request(await craftProof(svid, "ES256", { claims: { jti } })))).ok).toBe(
      true,
    );
    // ECDSA signs with fresh randomness, so this is a different token with the same jti.
    const again = await craftProof(svid, "ES256", { claims: { jti } });
    expect(await verifier.verify(request(again))).toMatchObject({
      ok: false,
      reason: ProofReason.ProofReplayed,
    });
  });

  it("should refuse new proofs as ReplayCacheFull while it is full, and accept them once entries expire", async () => {
    const { verifier, clock } = verifierAt({ maxEntries: 2 });
    expect((await verifier.verify(request(await sign()))).ok).toBe(true);
    expect((await verifier.verify(request(await sign()))).ok).toBe(true);
    const third = await sign({ lifetimeSeconds: 60 });
    expect(await verifier.verify(request(third))).toMatchObject({
      ok: false,
      reason: ProofReason.ReplayCacheFull,
    });
    expect(verifier.stats().entries).toBe(2);
    clock.ms = NOW_MS + 35_001; // the first two expire at iat + 30 + 5
    expect(verifier.stats().entries).toBe(0);
    expect((await verifier.verify(request(third))).ok).toBe(true);
  });

  it("should still call a replay ProofReplayed when the cache is full", async () => {
    const { verifier } = verifierAt({ maxEntries: 1 });
    const proof = await sign();
    expect((await verifier.verify(request(proof))).ok).toBe(true);
    expect(await verifier.verify(request(proof))).toMatchObject({
      ok: false,
      reason: ProofReason.ProofReplayed,
    });
  });

  it("should report the first failed check when several fail", async () => {
    const proof = await sign({
      audience: "spiffe://cluster.local/ns/shop/id/ledger",
      method: "GET",
      now: new Date(NOW_MS - 3_600_000),
    });
    const verdict = await verdictOf(proof, { channelBinding: OTHER_CB, token: TOKEN });
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofAudienceMismatch });
    const unbound = await verdictOf(await sign({}, otherSvid), { method: "GET" });
    expect(unbound).toMatchObject({ ok: false, reason: ProofReason.ProofBindingMismatch });
  });
});

describe("createVerifier: time and concurrency", () => {
  it("should accept exactly one of many concurrent verifications of one proof", async () => {
    const { verifier } = verifierAt();
    const proof = await sign();
    const verdicts = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(request(proof))));
    expect(verdicts.filter((v) => v.ok)).toHaveLength(1);
    expect(verdicts.filter((v) => !v.ok && v.reason === ProofReason.ProofReplayed)).toHaveLength(19);
  });

  it("should not accept a forgotten proof again when the clock steps back", async () => {
    const { verifier, clock } = verifierAt();
    const proof = await sign();
    expect((await verifier.verify(request(proof))).ok).toBe(true);
    clock.ms = NOW_MS + 60_000; // the jti is forgotten: the proof is past exp + skew
    expect(verifier.stats().entries).toBe(0);
    clock.ms = NOW_MS; // e.g. an NTP step back
    expect(await verifier.verify(request(proof))).toMatchObject({
      ok: false,
      reason: ProofReason.ProofExpired,
    });
  });

  it("should remember a jti until exp + skew and forget it after", async () => {
    const { verifier, clock } = verifierAt();
    await verifier.verify(request(await sign({ lifetimeSeconds: 10 })));
    await verifier.verify(request(await sign({ lifetimeSeconds: 20 })));
    const iatMs = Math.floor(NOW_MS / 1000) * 1000;
    clock.ms = iatMs + 15_000;
    expect(verifier.stats().entries).toBe(2);
    clock.ms = iatMs + 15_001;
    expect(verifier.stats().entries).toBe(1);
    clock.ms = iatMs + 25_001;
    expect(verifier.stats().entries).toBe(0);
  });

  it("should count accepted proofs and refusals by reason", async () => {
    const { verifier } = verifierAt();
    const proof = await sign();
    await verifier.verify(request(proof));
    await verifier.verify(request(proof));
    await verifier.verify(request(undefined));
    const stats = verifier.stats();
    expect(stats.accepted).toBe(1);
    expect(stats.rejected.ProofReplayed).toBe(1);
    expect(stats.rejected.ProofMissing).toBe(1);
    expect(Object.keys(stats.rejected)).toEqual([...PROOF_REASONS]);
    expect(stats.maxEntries).toBe(1_000_000);
  });
});

describe("createVerifier: nonces", () => {
  const SECRET = Buffer.alloc(32, 5);

  it("should refuse a proof without a nonce as NonceRequired and hand out one that then works", async () => {
    const { verifier } = verifierAt({ nonces: { secret: SECRET } });
    const first = await verifier.verify(request(await sign()));
    expect(first).toMatchObject({ ok: false, reason: ProofReason.NonceRequired });
    const nonce = !first.ok ? first.nonce : undefined;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((await verifier.verify(request(await sign({ nonce })))).ok).toBe(true);
  });

  it("should accept a nonce of another replica that shares the secret", async () => {
    const a = verifierAt({ nonces: { secret: SECRET } });
    const b = verifierAt({ nonces: { secret: SECRET } });
    const first = await a.verifier.verify(request(await sign()));
    const nonce = !first.ok ? first.nonce : undefined;
    expect((await b.verifier.verify(request(await sign({ nonce })))).ok).toBe(true);
  });

  it("should refuse a forged, foreign, other-audience or stale nonce as NonceInvalid", async () => {
    const { verifier, clock } = verifierAt({ nonces: { secret: SECRET, windowSeconds: 20 } });
    const issued = await verifier.verify(request(await sign()));
    const nonce = (!issued.ok && issued.nonce) || "";
    const foreign = await verifierAt({ nonces: true }).verifier.verify(request(await sign()));
    const otherAudience = await createVerifier({
      audience: "spiffe://cluster.local/ns/shop/id/ledger",
      now: () => NOW_MS,
      nonces: { secret: SECRET },
    }).verify(request(await sign({ audience: "spiffe://cluster.local/ns/shop/id/ledger" })));
    const refused = [
      base64url(Buffer.alloc(24, 1)),
      `${nonce.slice(0, -2)}AA`,
      (!foreign.ok && foreign.nonce) || "",
      (!otherAudience.ok && otherAudience.nonce) || "",
    ];
    for (const bad of refused) {
      const verdict = await verifier.verify(request(await sign({ nonce: bad })));
      expect(verdict).toMatchObject({ ok: false, reason: ProofReason.NonceInvalid });
      expect(!verdict.ok && verdict.nonce).toMatch(/^[A-Za-z0-9_-]{32}$/);
    }
    clock.ms = NOW_MS + 21_000;
    const stale = await verifier.verify(request(await sign({ nonce, now: new Date(clock.ms) })));
    expect(stale).toMatchObject({ ok: false, reason: ProofReason.NonceInvalid });
    clock.ms = NOW_MS + 20_000;
    // The clock moved forward already: the verifier keeps the later time.
    expect((await verifier.verify(request(await sign({ nonce, now: new Date(NOW_MS + 20_000) })))).ok).toBe(
      false,
    );
  });

  it("should accept a nonce at the end of its window", async () => {
    const { verifier, clock } = verifierAt({ nonces: { secret: SECRET, windowSeconds: 20 } });
    const issued = await verifier.verify(request(await sign()));
    const nonce = !issued.ok ? issued.nonce : undefined;
    clock.ms = Math.floor(NOW_MS / 1000) * 1000 + 20_000;
    expect((await verifier.verify(request(await sign({ nonce, now: new Date(clock.ms) })))).ok).toBe(true);
  });
});

describe("createVerifier: what it tells", () => {
  it("should never put the proof or the bearer token into a message", async () => {
    const proofs = [
      await sign({ token: TOKEN }),
      await craftProof(svid, "ES256", {
        claims: { ath: tokenHashOf(TOKEN), sub: "spiffe://cluster.local/x" },
      }),
      await sign({ token: TOKEN, method: "GET" }),
    ];
    for (const proof of proofs) {
      for (const changes of [{ token: `${TOKEN}x` }, { token: TOKEN, channelBinding: OTHER_CB }, {}]) {
        const { verifier } = verifierAt();
        await verifier.verify(request(proof, changes));
        const verdict = await verifier.verify(request(proof, changes));
        const text = JSON.stringify(verdict);
        expect(text).not.toContain(proof);
        expect(text).not.toContain(proof.split(".")[2]);
        expect(text).not.toContain(TOKEN);
      }
    }
  });

  it("should refuse bad options with the field and the fix", () => {
    expect(() => createVerifier({ audience: "payments" })).toThrow(
      /audience: SPIFFE ID "payments" is invalid/,
    );
    expect(() => createVerifier({ audience: SERVER_ID, skewSeconds: 61 })).toThrow(/skewSeconds 61/);
    expect(() => createVerifier({ audience: SERVER_ID, maxEntries: 0 })).toThrow(/maxEntries 0/);
    expect(() => createVerifier({ audience: SERVER_ID, nonces: { secret: Buffer.alloc(16) } })).toThrow(
      /at least 32/,
    );
    expect(() => createVerifier({ audience: SERVER_ID, nonces: { windowSeconds: 0 } })).toThrow(
      /windowSeconds 0/,
    );
  });

  it("should say why a certificate whose key type has no proof algorithm cannot be verified", async () => {
    const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-521" }, true, [
      "sign",
      "verify",
    ])) as webcrypto.CryptoKeyPair;
    const leaf = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=p521",
      notBefore: new Date(NOW_MS - 3_600_000),
      notAfter: new Date(NOW_MS + 3_600_000),
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-512" },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: CLIENT_ID }])],
    });
    const certificate = new X509Certificate(Buffer.from(leaf.rawData));
    const { header, claims } = validParts({ ...svid, certificate }, "ES256");
    const verdict = await verdictOf(rawJws(header, claims), { peerCertificate: certificate });
    expect(verdict).toMatchObject({ ok: false, reason: ProofReason.ProofSignatureInvalid });
    expect(!verdict.ok && verdict.message).toMatch(/key cannot sign proofs/);
  });
});
