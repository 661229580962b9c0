import { request as httpsRequest } from "node:https";
import * as k8s from "@kubernetes/client-node";
import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  type FetchImplementation,
  jwtVerify,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRootCa, mintSvid } from "../../operator/src/pki/index.ts";
import { freePort } from "../harness/ports.ts";
import {
  createIdentity,
  type IdentityFiles,
  patchIdentitySpec,
  readSecretFiles,
  waitReady,
} from "../identity/support.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, scrapeMetrics, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request to the JWT endpoint, trusting only `ca`, presenting `client` if given. */
function call(
  port: number,
  ca: string,
  options: { method?: string; path: string; body?: unknown; client?: { cert: string; key: string } },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        method: options.method ?? "GET",
        path: options.path,
        ca,
        agent: false,
        ...(options.client ?? {}),
        headers: payload ? { "content-type": "application/json" } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {}, headers: res.headers });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * JWT-SVIDs end to end: a workload authenticates with the X.509-SVID Signet put in its Secret, gets a
 * JWT-SVID, and a verifier that knows only the issuer URL (OIDC discovery, then the JWKS) checks it,
 * also after the signing key has rotated.
 */
describe("JWT-SVIDs", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: string;
  let opNs: string;
  let operator: OperatorProcess;
  let port: number;
  let issuer: string;
  /** What the caller trusts the endpoint by: Signet's serving CA. */
  let servingCa: string;
  let payments: IdentityFiles;
  let plain: IdentityFiles;
  const client = (files: IdentityFiles) => ({ cert: files["tls.crt"], key: files["tls.key"] });
  const askFor = (files: IdentityFiles | undefined, body: unknown) =>
    call(port, servingCa, {
      method: "POST",
      path: "/v1/jwt-svid",
      body,
      ...(files ? { client: client(files) } : {}),
    });
  /** fetch as a verifier that trusts Signet's serving CA. */
  const trustingFetch: FetchImplementation = async (url) => {
    const { pathname } = new URL(url);
    const answer = await call(port, servingCa, { path: pathname });
    return new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { "content-type": "application/json" },
    });
  };
  /** A verifier that knows only the issuer: discovery, then the JWKS it names. */
  const verify = async (token: string, audience: string) => {
    const discovery = (await call(port, servingCa, { path: "/.well-known/openid-configuration" })).body;
    const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)), { [customFetch]: trustingFetch });
    return jwtVerify(token, jwks, { issuer, audience, algorithms: ["ES256"] });
  };

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "jwt");
    opNs = await createNamespace(kc, "signet-jwt");
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "payments" } } });
    port = await freePort();
    issuer = `https://127.0.0.1:${port}`;
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--leader-elect=false",
      `--jwt-port=${port}`,
      "--jwt-host=127.0.0.1",
      "--jwt-ip-addresses=127.0.0.1",
      `--jwt-issuer=${issuer}`,
      // A rotation within the test: a next key 10 s ahead of each 40 s period.
      "--jwt-key-rotation=40s",
      "--jwt-publish-ahead=10s",
    ]);
    await createIdentity(kc, ns, "payments-api", {
      serviceAccounts: ["payments"],
      jwtSVID: { audiences: ["vault", "sts.example.com"], ttl: "5m" },
    });
    await createIdentity(kc, ns, "plain", { serviceAccounts: ["payments"] });
    await waitReady(kc, ns, "payments-api");
    await waitReady(kc, ns, "plain");
    payments = (await readSecretFiles(kc, ns, "payments-api-identity"))?.files as IdentityFiles;
    plain = (await readSecretFiles(kc, ns, "plain-identity"))?.files as IdentityFiles;
    servingCa = await waitFor("the JWT endpoint's serving Secret", async () => {
      const tls = await readSecretFiles(kc, opNs, "signet-jwt-tls");
      return tls?.files["ca.crt"] || undefined;
    });
    // Every replica serves once it has loaded its certificate and the keys.
    await waitFor("the JWKS to publish a key", async () => {
      const keys = await call(port, servingCa, { path: "/keys" }).catch(() => undefined);
      return (keys?.body.keys as unknown[] | undefined)?.length ? true : undefined;
    });
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
  });

  it("serves the OIDC discovery document and the JWKS without a client certificate", async () => {
    const discovery = await call(port, servingCa, { path: "/.well-known/openid-configuration" });
    expect(discovery.status).toBe(200);
    expect(discovery.body).toEqual({
      issuer,
      jwks_uri: `${issuer}/keys`,
      id_token_signing_alg_values_supported: ["ES256"],
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
    });
    const jwks = await call(port, servingCa, { path: "/keys" });
    const keys = jwks.body.keys as Record<string, unknown>[];
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
      expect(key).not.toHaveProperty("d");
    }
  });

  it("issues a JWT-SVID over mTLS that a stock OIDC verifier accepts for the issuer and audience", async () => {
    const answer = await askFor(payments, { audience: "vault", ttl: "2m" });
    expect(answer.status).toBe(200);
    const token = String(answer.body.token);
    const { payload, protectedHeader } = await verify(token, "vault");
    expect(protectedHeader).toMatchObject({ alg: "ES256", typ: "JWT" });
    expect(payload.sub).toBe(`spiffe://cluster.local/ns/${ns}/id/payments-api`);
    expect(payload.aud).toBe("vault");
    expect(payload.nbf).toBe(payload.iat);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(120);
    expect(answer.body.expiresAt).toBe(new Date((payload.exp ?? 0) * 1000).toISOString());
    await expect(verify(token, "sts.example.com")).rejects.toThrow(/aud/);
    expect(operator.log()).not.toContain(token);
    expect(await scrapeMetrics(operator.metricsPort)).toMatch(
      new RegExp(`signet_jwt_svids_issued_total\\{namespace="${ns}"\\} [1-9]`),
    );
  });

  it("caps the ttl at the identity's and issues for several allowed audiences", async () => {
    const answer = await askFor(payments, { audience: ["vault", "sts.example.com"], ttl: "1h" });
    expect(answer.status).toBe(200);
    const { payload } = await verify(String(answer.body.token), "sts.example.com");
    expect(payload.aud).toEqual(["vault", "sts.example.com"]);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
  });

  it("refuses an audience the identity does not allow with 403 and the reason", async () => {
    const answer = await askFor(payments, { audience: "gcp" });
    expect(answer.status).toBe(403);
    expect(answer.body).toEqual({
      reason: "AudienceNotAllowed",
      error: `MachineIdentity ${ns}/payments-api may not get a JWT-SVID for audience "gcp": spec.jwtSVID.audiences allows "vault", "sts.example.com"`,
    });
    expect(await scrapeMetrics(operator.metricsPort)).toMatch(
      /signet_jwt_svids_refused_total\{reason="AudienceNotAllowed"\} [1-9]/,
    );
  });

  it("refuses an identity without spec.jwtSVID with 403", async () => {
    const answer = await askFor(plain, { audience: "vault" });
    expect(answer.status).toBe(403);
    expect(answer.body.reason).toBe("JwtSvidNotEnabled");
  });

  it("refuses a suspended identity with 403, though its X.509-SVID has not expired", async () => {
    await createIdentity(kc, ns, "paused", {
      serviceAccounts: ["payments"],
      jwtSVID: { audiences: ["vault"], ttl: "1m" },
    });
    await waitReady(kc, ns, "paused");
    const files = (await readSecretFiles(kc, ns, "paused-identity"))?.files as IdentityFiles;
    expect((await askFor(files, { audience: "vault" })).status).toBe(200);
    await patchIdentitySpec(kc, ns, "paused", { suspend: true });
    const refused = await waitFor("the endpoint to refuse the suspended identity", async () => {
      const res = await askFor(files, { audience: "vault" });
      return res.status === 403 ? res : undefined;
    });
    expect(refused.body).toEqual({
      reason: "Suspended",
      error: `MachineIdentity ${ns}/paused is suspended (spec.suspend: true): no JWT-SVID is issued until it is false`,
    });
  });

  it("answers 401 without a client certificate", async () => {
    const answer = await askFor(undefined, { audience: "vault" });
    expect(answer.status).toBe(401);
    expect(answer.body.reason).toBe("NoClientCertificate");
  });

  it("refuses a client SVID of the same SPIFFE ID from another CA with 401", async () => {
    const rogue = await createRootCa({
      commonName: "rogue",
      trustDomain: "cluster.local",
      validity: 86_400_000,
      now: new Date(),
    });
    const svid = await mintSvid({
      ca: rogue.ca,
      spiffeId: `spiffe://cluster.local/ns/${ns}/id/payments-api`,
      ttlMs: 3_600_000,
      now: new Date(),
    });
    // The handshake asks for a certificate without requiring one (discovery is open to all), so an
    // untrusted one is refused per request.
    const answer = await call(port, servingCa, {
      method: "POST",
      path: "/v1/jwt-svid",
      body: { audience: "vault" },
      client: { cert: svid.chainPem, key: svid.keyPem },
    });
    expect(answer.status).toBe(401);
    expect(answer.body.reason).toBe("ClientCertificateNotTrusted");
  });

  it("answers malformed requests with 400 naming the field, and a wrong method with 405", async () => {
    const noAudience = await askFor(payments, { ttl: "2m" });
    expect(noAudience.status).toBe(400);
    expect(String(noAudience.body.error)).toMatch(/^audience: /);
    const badTtl = await askFor(payments, { audience: "vault", ttl: "soon" });
    expect(badTtl.status).toBe(400);
    expect(String(badTtl.body.error)).toMatch(/^ttl: /);
    const extra = await askFor(payments, { audience: "vault", sub: "spiffe://cluster.local/other" });
    expect(extra.status).toBe(400);
    expect(String(extra.body.error)).toMatch(/unknown field sub/);
    const get = await call(port, servingCa, { path: "/v1/jwt-svid", client: client(payments) });
    expect(get.status).toBe(405);
    const post = await call(port, servingCa, { method: "POST", path: "/keys", body: {} });
    expect(post.status).toBe(405);
  });

  it("serves the same keys and signs from another replica that runs no controllers", async () => {
    const replica = await startOperatorProcess(
      kubeconfigPath(),
      [
        `--namespace=${opNs}`,
        `--watch-namespaces=${ns}`,
        "--jwt-host=127.0.0.1",
        "--jwt-ip-addresses=127.0.0.1",
        `--jwt-issuer=${issuer}`,
      ],
      "webhook",
    );
    try {
      const answer = await waitFor("the second replica to issue a JWT-SVID", async () => {
        const res = await call(replica.jwtPort, servingCa, {
          method: "POST",
          path: "/v1/jwt-svid",
          body: { audience: "vault" },
          client: client(payments),
        }).catch(() => undefined);
        return res?.status === 200 ? res : undefined;
      });
      // Verified through the first replica's discovery and JWKS: both hold the same key set.
      const { payload } = await verify(String(answer.body.token), "vault");
      expect(payload.sub).toBe(`spiffe://cluster.local/ns/${ns}/id/payments-api`);
      // Equal once both have seen the same version of the Secret (a rotation step may be in flight).
      await waitFor("both replicas to publish the same JWKS", async () => {
        const own = (await call(replica.jwtPort, servingCa, { path: "/keys" })).body;
        const first = (await call(port, servingCa, { path: "/keys" })).body;
        return JSON.stringify(own) === JSON.stringify(first) ? true : undefined;
      });
    } finally {
      await replica.stop();
    }
  });

  it("keeps a token signed before a key rotation verifiable, and signs the next with the new kid", async () => {
    const before = String((await askFor(payments, { audience: "vault" })).body.token);
    const oldKid = decodeProtectedHeader(before).kid;
    const after = await waitFor(
      "a JWT-SVID signed by the next key",
      async () => {
        const token = String((await askFor(payments, { audience: "vault" })).body.token);
        return decodeProtectedHeader(token).kid !== oldKid ? token : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    const kids = ((await call(port, servingCa, { path: "/keys" })).body.keys as { kid: string }[]).map(
      (k) => k.kid,
    );
    expect(kids).toContain(oldKid);
    expect(kids).toContain(decodeProtectedHeader(after).kid);
    // A verifier that starts now, with nothing cached, verifies both.
    await expect(verify(before, "vault")).resolves.toBeDefined();
    await expect(verify(after, "vault")).resolves.toBeDefined();
  }, 90_000);
});
