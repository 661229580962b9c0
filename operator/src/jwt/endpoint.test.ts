import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestCa, issueClientCert, issueServingCert, type PemPair } from "../../../testing/certs.ts";
import { createRootCa, mintSvid } from "../pki/index.ts";
import { createLogger } from "../telemetry/logger.ts";
import { type IssueAnswer, type IssueRequest, type JwtServer, startJwtServer } from "./endpoint.ts";

const ISSUER = "https://signet-jwt.signet-system.svc:8444";
const SPIFFE_ID = "spiffe://cluster.local/ns/shop/id/payments-api";

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

describe("the JWT-SVID endpoint", () => {
  let server: JwtServer;
  let servingCa: string;
  let svid: PemPair;
  let otherDomain: PemPair;
  let noUri: PemPair;
  let untrusted: PemPair;
  const asked: IssueRequest[] = [];
  const outcomes: unknown[] = [];
  let answer: IssueAnswer = {
    refused: false,
    token: "header.payload.signature",
    expiresAt: new Date("2026-03-02T10:05:00Z"),
    identity: "shop/payments-api",
    kid: "kid-1",
  };

  const call = (options: {
    method?: string;
    path: string;
    body?: string;
    type?: string;
    client?: PemPair | undefined;
  }): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port: server.port,
          method: options.method ?? "GET",
          path: options.path,
          ca: servingCa,
          agent: false,
          ...(options.client ? { cert: options.client.certPem, key: options.client.keyPem } : {}),
          headers: options.body !== undefined ? { "content-type": options.type ?? "application/json" } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            resolve({
              status: res.statusCode ?? 0,
              body: text ? JSON.parse(text) : {},
              headers: res.headers,
            });
          });
        },
      );
      req.on("error", reject);
      req.end(options.body);
    });
  /** POST /v1/jwt-svid as `client`: the payments SVID unless another, or "none", is given. */
  const post = (body: unknown, client: PemPair | "none" = svid) =>
    call({
      method: "POST",
      path: "/v1/jwt-svid",
      body: JSON.stringify(body),
      client: client === "none" ? undefined : client,
    });

  beforeAll(async () => {
    const serving = await createTestCa("serving");
    servingCa = serving.certPem;
    const now = new Date();
    const workload = await createRootCa({
      commonName: "workload",
      trustDomain: "cluster.local",
      validity: 86_400_000,
      now,
    });
    const mint = (spiffeId: string) => mintSvid({ ca: workload.ca, spiffeId, ttlMs: 3_600_000, now });
    const toPair = (m: { chainPem: string; keyPem: string }) => ({ certPem: m.chainPem, keyPem: m.keyPem });
    svid = toPair(await mint(SPIFFE_ID));
    // An SVID of another trust domain whose root the bundle holds too (a federated bundle).
    const other = await createRootCa({
      commonName: "other",
      trustDomain: "other.example",
      validity: 86_400_000,
      now,
    });
    otherDomain = toPair(
      await mintSvid({
        ca: other.ca,
        spiffeId: "spiffe://other.example/ns/shop/id/payments-api",
        ttlMs: 3_600_000,
        now,
      }),
    );
    // A client certificate of a trusted CA that is no SVID: it has no URI SAN.
    const plainCa = await createTestCa("plain");
    noUri = await issueClientCert(plainCa, "payments");
    untrusted = await issueClientCert(await createTestCa("stranger"), "payments");
    server = await startJwtServer({
      issuer: ISSUER,
      trustDomain: "cluster.local",
      issue: async (request) => {
        asked.push(request);
        return answer;
      },
      jwks: () => ({
        keys: [{ kty: "EC", crv: "P-256", x: "x", y: "y", kid: "kid-1", alg: "ES256", use: "sig" }],
      }),
      onOutcome: (outcome) => outcomes.push(outcome),
      cacheMaxAgeSeconds: 300,
      logger: createLogger({ level: "silent" }),
      port: 0,
      host: "127.0.0.1",
    });
    const tls = await issueServingCert(serving, ["localhost"], ["127.0.0.1"]);
    server.setTls(tls.certPem, tls.keyPem, workload.certPem + other.certPem + plainCa.certPem);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("should serve the discovery document and the JWKS to a caller without a certificate, cacheable", async () => {
    const discovery = await call({ path: "/.well-known/openid-configuration" });
    expect(discovery.status).toBe(200);
    expect(discovery.body).toEqual({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/keys`,
      id_token_signing_alg_values_supported: ["ES256"],
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
    });
    expect(discovery.headers["cache-control"]).toBe("public, max-age=300");
    const keys = await call({ path: "/keys" });
    expect(keys.body).toEqual({
      keys: [{ kty: "EC", crv: "P-256", x: "x", y: "y", kid: "kid-1", alg: "ES256", use: "sig" }],
    });
  });

  it("should issue for the SPIFFE ID of the verified client certificate, with the audiences and ttl asked", async () => {
    asked.length = 0;
    const res = await post({ audience: ["vault", "sts", "vault"], ttl: "90s" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ token: "header.payload.signature", expiresAt: "2026-03-02T10:05:00.000Z" });
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(asked).toEqual([{ spiffeId: SPIFFE_ID, audiences: ["vault", "sts"], ttlMs: 90_000 }]);
    expect(outcomes.at(-1)).toEqual({ issued: true, identity: "shop/payments-api" });
  });

  it("should pass no ttl when none is asked for", async () => {
    asked.length = 0;
    await post({ audience: "vault" });
    expect(asked).toEqual([{ spiffeId: SPIFFE_ID, audiences: ["vault"], ttlMs: undefined }]);
  });

  it.each([
    ["no client certificate", undefined, "NoClientCertificate"],
    ["a certificate of a CA outside the workload bundle", "untrusted", "ClientCertificateNotTrusted"],
    ["a trusted certificate without a URI SAN", "noUri", "NotAnSvid"],
    ["an SVID of another trust domain", "otherDomain", "NotAnSvid"],
  ] as const)("should answer 401 to %s, without asking for a token", async (_name, which, reason) => {
    asked.length = 0;
    const client = which === undefined ? "none" : { untrusted, noUri, otherDomain }[which];
    const res = await post({ audience: "vault" }, client);
    expect(res.status).toBe(401);
    expect(res.body.reason).toBe(reason);
    expect(asked).toEqual([]);
    expect(outcomes.at(-1)).toEqual({ issued: false, reason });
  });

  it.each([
    ["no audience", { ttl: "2m" }, /^audience: /],
    ["an empty audience list", { audience: [] }, /^audience: /],
    ["an audience with a space", { audience: "a b" }, /^audience: /],
    ["17 audiences", { audience: Array.from({ length: 17 }, (_, i) => `a${i}`) }, /^audience: /],
    ["a ttl that is no duration", { audience: "vault", ttl: "2 minutes" }, /^ttl: /],
    ["a ttl under a second", { audience: "vault", ttl: "500ms" }, /^ttl: /],
    ["an unknown field", { audience: "vault", sub: "spiffe://cluster.local/x" }, /^unknown field sub/],
    ["a body that is not an object", ["vault"], /^body: /],
  ])("should answer 400 naming the field to %s", async (_name, body, error) => {
    asked.length = 0;
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("InvalidRequest");
    expect(String(res.body.error)).toMatch(error);
    expect(asked).toEqual([]);
  });

  it("should answer 400 to a body that is not JSON, 415 to another content type, 413 to a huge body", async () => {
    const send = (body: string, type?: string) =>
      call({ method: "POST", path: "/v1/jwt-svid", body, client: svid, ...(type ? { type } : {}) });
    expect((await send("{")).status).toBe(400);
    expect((await send("audience=vault", "application/x-www-form-urlencoded")).status).toBe(415);
    expect((await send(JSON.stringify({ audience: "a".repeat(20_000) }))).status).toBe(413);
  });

  it("should answer 403 with the refusal, and 503 while it has no signing key", async () => {
    answer = {
      refused: true,
      reason: "AudienceNotAllowed",
      message: "MachineIdentity shop/payments-api may not ...",
    };
    const refused = await post({ audience: "gcp" });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      error: "MachineIdentity shop/payments-api may not ...",
      reason: "AudienceNotAllowed",
    });
    answer = { refused: true, reason: "NoSigningKey", message: "no key yet" };
    expect((await post({ audience: "vault" })).status).toBe(503);
  });

  it("should answer 405 to another method with Allow, and 404 elsewhere", async () => {
    const get = await call({ path: "/v1/jwt-svid", client: svid });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    const postKeys = await call({ method: "POST", path: "/keys", body: "{}" });
    expect(postKeys.status).toBe(405);
    expect(postKeys.headers.allow).toBe("GET, HEAD");
    expect((await call({ path: "/v1/other" })).status).toBe(404);
  });

  it("should refuse a serving key that is not the certificate's and keep serving the old one", async () => {
    const serving = await createTestCa("serving-2");
    const a = await issueServingCert(serving, ["localhost"], ["127.0.0.1"]);
    const b = await issueServingCert(serving, ["localhost"], ["127.0.0.1"]);
    expect(() => server.setTls(a.certPem, b.keyPem, svid.certPem)).toThrow(/does not belong/);
    expect((await call({ path: "/keys" })).status).toBe(200);
  });
});
