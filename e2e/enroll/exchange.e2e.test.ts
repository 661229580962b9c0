import { execFile } from "node:child_process";
import { createHmac, createPublicKey, randomBytes, type webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTPayload, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrustedIssuer } from "../../operator/src/api/index.ts";
import {
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ID_TOKEN,
  TOKEN_TYPE_JWT,
  TOKEN_TYPE_X509_SVID,
} from "../../operator/src/exchange/request.ts";
import { resourceClient, TRUSTED_ISSUERS } from "../../operator/src/kube/resources.ts";
import * as x509 from "../../operator/src/pki/x509.ts";
import { issuerSigningKey, TestOidcIssuer } from "../../testing/oidc-issuer.ts";
import { freePort } from "../harness/ports.ts";
import {
  createIdentity,
  readSecretFiles,
  uriSans,
  verifiedLeaf,
  waitReady,
  waitReadyReason,
} from "../identity/support.ts";
import { createNamespace, kubeClient, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, scrapeMetrics, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

x509.cryptoProvider.set(globalThis.crypto);
const run = promisify(execFile);

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request on loopback, trusting only `ca`. */
function call(
  port: number,
  ca: string,
  options: { method?: string; path: string; body?: string; contentType?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        method: options.method ?? "GET",
        path: options.path,
        ca,
        agent: false,
        headers:
          options.body === undefined ? {} : { "content-type": options.contentType ?? "application/json" },
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
    req.end(options.body);
  });
}

/** A fresh P-256 key and a PKCS#10 request for it; the SPKI is what the certificate must carry. */
async function keyAndCsr(): Promise<{ csr: string; spki: Buffer }> {
  const params = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const keys = (await crypto.subtle.generateKey(params, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: params });
  return {
    csr: csr.toString("pem"),
    spki: Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey)),
  };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** The sum of signet_enrollment_requests_total{operation="exchange"} over the series with these labels. */
function exchanges(metricsText: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of metricsText.split("\n")) {
    const m = /^signet_enrollment_requests_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const series = Object.fromEntries(
      [...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((p) => [p[1] ?? "", p[2] ?? ""]),
    );
    if (series.operation !== "exchange") continue;
    if (Object.entries(labels).every(([k, v]) => series[k] === v)) sum += Number(m[2]);
  }
  return sum;
}

/**
 * Pipelines exchange a trusted OIDC token for a short-lived SVID (RFC 8693 at POST /v1/token of the
 * enrollment endpoint): the API server's own service account tokens, and a CI-like issuer on
 * loopback with discovery, a CA of its own and claim rules on repository and branch. Every wrong
 * token is refused with its reason, and every exchange is audited without the token.
 */
describe("token exchange", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const trustedIssuers = resourceClient(kubeClient(), TRUSTED_ISSUERS);
  const suffix = randomBytes(4).toString("hex");
  const created: string[] = [];
  let ns: string;
  let opNs: string;
  let operator: OperatorProcess;
  let servingCa: string;
  let jwtServingCa: string;
  let jwtIssuer: string;
  let ci: TestOidcIssuer;

  const exchange = (
    params: Record<string, string | string[]>,
    contentType = "application/x-www-form-urlencoded",
  ) => {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(params))
      for (const v of Array.isArray(value) ? value : [value]) form.append(name, v);
    return call(operator.enrollmentPort, servingCa, {
      method: "POST",
      path: "/v1/token",
      body: form.toString(),
      contentType,
    });
  };
  const forX509 = (token: string, csr: string, type = TOKEN_TYPE_ID_TOKEN) =>
    exchange({
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
      subject_token: token,
      subject_token_type: type,
      requested_token_type: TOKEN_TYPE_X509_SVID,
      csr,
    });
  const forJwt = (token: string, audience: string | string[]) =>
    exchange({
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
      subject_token: token,
      subject_token_type: TOKEN_TYPE_JWT,
      requested_token_type: TOKEN_TYPE_JWT,
      audience,
    });
  /** A verifier of JWT-SVIDs that knows only Signet's issuer URL: discovery, then the JWKS. */
  const verifyJwtSvid = async (token: string, audience: string) => {
    const port = operator.jwtPort;
    const trustingFetch: FetchImplementation = async (url) => {
      const answer = await call(port, jwtServingCa, { path: new URL(url).pathname });
      return new Response(JSON.stringify(answer.body), { status: answer.status });
    };
    const discovery = (await call(port, jwtServingCa, { path: "/.well-known/openid-configuration" })).body;
    const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)), { [customFetch]: trustingFetch });
    return jwtVerify(token, jwks, { issuer: jwtIssuer, audience, algorithms: ["ES256"] });
  };
  const createTrustedIssuer = async (name: string, spec: TrustedIssuer["spec"]) => {
    await trustedIssuers.create({
      apiVersion: "signet.dev/v1alpha1",
      kind: "TrustedIssuer",
      metadata: { name, labels: { "signet.dev/e2e": "true" } },
      spec,
    } as TrustedIssuer);
    created.push(name);
  };
  const expectIssuedX509 = async (answer: Answer, identity: string, spki: Buffer) => {
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.headers["cache-control"]).toBe("no-store");
    expect(answer.body).toMatchObject({
      issued_token_type: TOKEN_TYPE_X509_SVID,
      token_type: "N_A",
      spiffe_id: `spiffe://cluster.local/ns/${ns}/id/${identity}`,
      identity: `${ns}/${identity}`,
    });
    const leaf = verifiedLeaf({
      "tls.crt": String(answer.body.access_token),
      "ca.crt": String(answer.body.bundle),
      "tls.key": "",
    });
    expect(uriSans(leaf)).toEqual([`spiffe://cluster.local/ns/${ns}/id/${identity}`]);
    expect(leaf.publicKey.export({ type: "spki", format: "der" }).equals(spki)).toBe(true);
    const lifetime = (Date.parse(leaf.validTo) - Date.now()) / 1000;
    expect(Math.abs(Number(answer.body.expires_in) - lifetime)).toBeLessThan(5);
    return leaf;
  };

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "exchange");
    opNs = await createNamespace(kc, "signet-exchange");
    const jwtPort = await freePort();
    jwtIssuer = `https://127.0.0.1:${jwtPort}`;
    ci = await TestOidcIssuer.start();
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--leader-elect=false",
      "--enrollment-host=127.0.0.1",
      "--enrollment-ip-addresses=127.0.0.1",
      `--jwt-port=${jwtPort}`,
      "--jwt-host=127.0.0.1",
      "--jwt-ip-addresses=127.0.0.1",
      `--jwt-issuer=${jwtIssuer}`,
    ]);
    const external = {
      delivery: "External" as const,
      ttl: "1h",
      jwtSVID: { audiences: ["vault"], ttl: "5m" },
    };
    await createIdentity(kc, ns, "sa-pipeline", external);
    await createIdentity(kc, ns, "deployer", external);
    await createIdentity(kc, ns, "releaser", { delivery: "External", ttl: "30m" });
    await createIdentity(kc, ns, "paused", { ...external, suspend: true });
    // Held by pods, and allowed JWT-SVIDs for vault in-cluster: never by a pipeline.
    await createIdentity(kc, ns, "in-cluster", {
      serviceAccounts: ["default"],
      jwtSVID: { audiences: ["vault"], ttl: "5m" },
    });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "pipeline" } } });
    await waitReadyReason(kc, ns, "deployer", "EnrollmentReady");
    servingCa = await waitFor("the enrollment endpoint's serving Secret", async () => {
      const tls = await readSecretFiles(kc, opNs, "signet-enrollment-tls");
      return tls?.files["ca.crt"] || undefined;
    });
    jwtServingCa = await waitFor("the JWT endpoint's serving Secret", async () => {
      const tls = await readSecretFiles(kc, opNs, "signet-jwt-tls");
      return tls?.files["ca.crt"] || undefined;
    });
    await waitFor("the JWKS to publish a key", async () => {
      const keys = await call(jwtPort, jwtServingCa, { path: "/keys" }).catch(() => undefined);
      return (keys?.body.keys as unknown[] | undefined)?.length ? true : undefined;
    });
  }, 180_000);

  afterAll(async () => {
    for (const name of created) await trustedIssuers.delete("", name).catch(() => undefined);
    await operator?.stop();
    await ci?.stop();
  });

  describe("with the API server's own service account issuer", () => {
    let audience: string;
    let saToken: string;

    beforeAll(async () => {
      const kube = kubeClient();
      const discovery = await kube.request<{ issuer: string; jwks_uri: string }>(
        "GET",
        "/.well-known/openid-configuration",
      );
      const jwks = await kube.request<{ keys: unknown[] }>("GET", "/openid/v1/jwks", {
        accept: "application/jwk-set+json",
      });
      expect(jwks.keys.length).toBeGreaterThan(0);
      audience = `signet-e2e-${suffix}`;
      await createTrustedIssuer(`apiserver-${suffix}`, {
        issuer: discovery.issuer,
        jwks: JSON.stringify(jwks),
        audiences: [audience],
        rules: [
          {
            identity: { namespace: ns, name: "sa-pipeline" },
            claims: { sub: `system:serviceaccount:${ns}:pipeline` },
          },
        ],
      });
      const requested = await core.createNamespacedServiceAccountToken({
        namespace: ns,
        name: "pipeline",
        body: { spec: { audiences: [audience], expirationSeconds: 600 } },
      });
      saToken = requested.status?.token ?? "";
      expect(saToken).not.toBe("");
    });

    it("should exchange a TokenRequest token for an X.509-SVID of the CSR's key that chains to the returned bundle", async () => {
      const { csr, spki } = await keyAndCsr();
      const answer = await waitFor("the exchange to be served", async () => {
        const res = await forX509(saToken, csr, TOKEN_TYPE_JWT);
        return res.status === 503 || res.body.reason === "UnknownIssuer" ? undefined : res;
      });
      await expectIssuedX509(answer, "sa-pipeline", spki);
      const audit = await waitFor("the audit line", () =>
        operator
          .log()
          .split("\n")
          .find((l) => l.includes('"token exchanged"') && l.includes(`"identity":"${ns}/sa-pipeline"`)),
      );
      expect(JSON.parse(audit)).toMatchObject({
        audit: "exchange",
        outcome: "issued",
        trustedIssuer: `apiserver-${suffix}`,
        sub: `system:serviceaccount:${ns}:pipeline`,
        rule: 0,
        requested: "x509-svid",
        address: "127.0.0.1",
      });
      expect(operator.log()).not.toContain(saToken);
    });

    it("should exchange it for a JWT-SVID that Signet's JWKS verifies", async () => {
      const answer = await forJwt(saToken, "vault");
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body).toMatchObject({ issued_token_type: TOKEN_TYPE_JWT, token_type: "N_A" });
      const { payload } = await verifyJwtSvid(String(answer.body.access_token), "vault");
      expect(payload.sub).toBe(`spiffe://cluster.local/ns/${ns}/id/sa-pipeline`);
      expect(payload.aud).toBe("vault");
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
      expect(Number(answer.body.expires_in)).toBeGreaterThan(290);
      expect(Number(answer.body.expires_in)).toBeLessThanOrEqual(300);
      expect(operator.log()).not.toContain(String(answer.body.access_token));
    });

    it("should refuse a token of another service account by the rule on sub", async () => {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "intruder" } } });
      const other = await core.createNamespacedServiceAccountToken({
        namespace: ns,
        name: "intruder",
        body: { spec: { audiences: [audience], expirationSeconds: 600 } },
      });
      const answer = await forX509(other.status?.token ?? "", (await keyAndCsr()).csr);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: "invalid_grant", reason: "NoMatchingRule" });
      expect(String(answer.body.error_description)).toContain(
        `rule 0 (${ns}/sa-pipeline): sub must match "system:serviceaccount:${ns}:pipeline" but the token has "system:serviceaccount:${ns}:intruder"`,
      );
    });

    it("should refuse a service account token for the API server's own audience", async () => {
      const other = await core.createNamespacedServiceAccountToken({
        namespace: ns,
        name: "pipeline",
        body: { spec: { expirationSeconds: 600 } },
      });
      const answer = await forX509(other.status?.token ?? "", (await keyAndCsr()).csr);
      expect(answer.body).toMatchObject({ error: "invalid_grant", reason: "WrongAudience" });
    });
  });

  describe("with a CI issuer that serves discovery over https with a CA of its own", () => {
    const name = `ci-${suffix}`;
    const now = () => Math.floor(Date.now() / 1000);
    const claims = (overrides: JWTPayload = {}): JWTPayload => ({
      sub: "repo:acme/app:ref:refs/heads/main",
      aud: "signet",
      repository: "acme/app",
      ref: "refs/heads/main",
      iat: now() - 5,
      nbf: now() - 5,
      exp: now() + 300,
      jti: randomBytes(8).toString("hex"),
      ...overrides,
    });

    beforeAll(async () => {
      await createTrustedIssuer(name, {
        issuer: ci.url,
        caBundle: ci.ca.certPem,
        audiences: ["signet"],
        rules: [
          {
            identity: { namespace: ns, name: "deployer" },
            claims: { repository: "acme/app", ref: "refs/heads/main" },
          },
          {
            identity: { namespace: ns, name: "releaser" },
            claims: { repository: "acme/*", ref: "refs/heads/release-*" },
          },
          { identity: { namespace: ns, name: "paused" }, claims: { repository: "acme/paused" } },
          { identity: { namespace: ns, name: "in-cluster" }, claims: { repository: "acme/in-cluster" } },
        ],
      });
      await waitFor("the CI issuer to be trusted", async () => {
        const res = await forX509(await ci.sign(claims()), (await keyAndCsr()).csr);
        return res.status === 200 ? true : undefined;
      });
    });

    it("should read the issuer's discovery and JWKS, and exchange for an X.509-SVID by the first rule", async () => {
      expect(ci.hits).toContain("/.well-known/openid-configuration");
      expect(ci.hits).toContain("/jwks");
      const { csr, spki } = await keyAndCsr();
      const answer = await forX509(await ci.sign(claims()), csr);
      const leaf = await expectIssuedX509(answer, "deployer", spki);
      // spec.ttl of the identity bounds the certificate, whatever the subject token's exp.
      expect(Date.parse(leaf.validTo) - Date.now()).toBeGreaterThan(50 * 60_000);
      // The bundle is the workload trust bundle: the one in-cluster peers hold and chain to.
      await waitReady(kc, ns, "in-cluster");
      const inCluster = await readSecretFiles(kc, ns, "in-cluster-identity");
      expect(answer.body.bundle).toBe(inCluster?.files["ca.crt"]);
    });

    it("should take a CSR made by openssl req, as docs/token-exchange.md shows", async () => {
      const dir = mkdtempSync(join(tmpdir(), "signet-exchange-"));
      try {
        await run("openssl", [
          "req",
          "-new",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-subj",
          "/",
          "-keyout",
          join(dir, "tls.key"),
          "-out",
          join(dir, "tls.csr"),
        ]);
        const spki = createPublicKey(readFileSync(join(dir, "tls.key"))).export({
          type: "spki",
          format: "der",
        });
        const answer = await forX509(await ci.sign(claims()), readFileSync(join(dir, "tls.csr"), "utf8"));
        await expectIssuedX509(answer, "deployer", spki);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("should pick a later rule by its glob on the branch", async () => {
      const { csr, spki } = await keyAndCsr();
      const token = await ci.sign(claims({ repository: "acme/lib", ref: "refs/heads/release-2.1" }));
      await expectIssuedX509(await forX509(token, csr), "releaser", spki);
      // The log is written by the operator process as it goes: the line may land a moment later.
      const audit = await waitFor("the audit line of the release", () =>
        operator
          .log()
          .split("\n")
          .find((l) => l.includes('"token exchanged"') && l.includes(`"identity":"${ns}/releaser"`)),
      );
      expect(JSON.parse(audit)).toMatchObject({ rule: 1, issuer: ci.url, trustedIssuer: name });
    });

    it("should exchange for a JWT-SVID of an audience the identity lists, and refuse another as invalid_target", async () => {
      const answer = await forJwt(await ci.sign(claims()), "vault");
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      const { payload } = await verifyJwtSvid(String(answer.body.access_token), "vault");
      expect(payload.sub).toBe(`spiffe://cluster.local/ns/${ns}/id/deployer`);
      const refused = await forJwt(await ci.sign(claims()), "gcp");
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: "invalid_target", reason: "AudienceNotAllowed" });
      expect(String(refused.body.error_description)).toContain(
        `MachineIdentity ${ns}/deployer may not get a JWT-SVID for audience "gcp"`,
      );
      const noJwt = await forJwt(
        await ci.sign(claims({ repository: "acme/lib", ref: "refs/heads/release-1" })),
        "vault",
      );
      expect(noJwt.body).toMatchObject({ error: "invalid_target", reason: "JwtSvidNotEnabled" });
    });

    const refusals: [string, () => Promise<string>, string, string, RegExp][] = [
      [
        "a token of an issuer no TrustedIssuer names",
        () => ci.sign(claims({ iss: "https://127.0.0.1:1" })),
        "invalid_grant",
        "UnknownIssuer",
        /no TrustedIssuer has spec.issuer "https:\/\/127.0.0.1:1"/,
      ],
      [
        "a token for another audience",
        () => ci.sign(claims({ aud: "sts.amazonaws.com" })),
        "invalid_grant",
        "WrongAudience",
        /aud "sts.amazonaws.com" holds none of TrustedIssuer ci-.*'s spec.audiences \("signet"\)/,
      ],
      [
        "a token of another repository",
        () => ci.sign(claims({ repository: "evil/app" })),
        "invalid_grant",
        "NoMatchingRule",
        /rule 0 \(.*\/deployer\): repository must match "acme\/app" but the token has "evil\/app"/,
      ],
      [
        "a token of another branch",
        () => ci.sign(claims({ ref: "refs/heads/feature-x" })),
        "invalid_grant",
        "NoMatchingRule",
        /rule 0 \(.*\/deployer\): ref must match "refs\/heads\/main" but the token has "refs\/heads\/feature-x"; rule 1 \(.*\/releaser\): ref must match "refs\/heads\/release-\*"/,
      ],
      [
        "an expired token",
        () => ci.sign(claims({ iat: now() - 900, nbf: now() - 900, exp: now() - 120 })),
        "invalid_grant",
        "TokenExpired",
        /the subject_token expired/,
      ],
      [
        "a token signed by another key under the issuer's kid",
        async () => ci.sign(claims(), await issuerSigningKey("k1")),
        "invalid_grant",
        "InvalidSignature",
        /signature does not verify with TrustedIssuer ci-.*'s keys/,
      ],
      [
        "a token signed by a key the issuer never published",
        async () => ci.sign(claims(), await issuerSigningKey("rogue")),
        "invalid_grant",
        "InvalidSignature",
        /no key of TrustedIssuer ci-.* matches the subject_token's kid/,
      ],
      [
        "an unsigned token (alg none)",
        async () => `${b64({ alg: "none", typ: "JWT" })}.${b64({ iss: ci.url, ...claims() })}.`,
        "invalid_grant",
        "UnsupportedAlgorithm",
        /alg "none" is not accepted/,
      ],
      [
        "an HS256 token keyed with the issuer's public key",
        async () => {
          const input = `${b64({ alg: "HS256", kid: "k1", typ: "JWT" })}.${b64({ iss: ci.url, ...claims() })}`;
          const mac = createHmac("sha256", JSON.stringify(ci.keys[0]?.jwk)).update(input).digest("base64url");
          return `${input}.${mac}`;
        },
        "invalid_grant",
        "UnsupportedAlgorithm",
        /alg "HS256" is not accepted/,
      ],
      [
        "a token for a suspended identity",
        () => ci.sign(claims({ repository: "acme/paused" })),
        "invalid_grant",
        "Suspended",
        /MachineIdentity .*\/paused is suspended \(spec.suspend: true\)/,
      ],
      [
        "a token for an identity with delivery Secret",
        () => ci.sign(claims({ repository: "acme/in-cluster" })),
        "invalid_grant",
        "DeliveryNotExternal",
        /MachineIdentity .*\/in-cluster has spec.delivery Secret: only an identity with delivery External is held outside the cluster/,
      ],
    ];
    it.each(refusals)("should refuse %s", async (_name, token, error, reason, description) => {
      const subject = await token();
      const answer = await forX509(subject, (await keyAndCsr()).csr);
      expect(answer.status).toBe(400);
      expect(answer.headers["cache-control"]).toBe("no-store");
      expect(answer.body).toMatchObject({ error, reason });
      expect(String(answer.body.error_description)).toMatch(description);
      expect(operator.log()).not.toContain(subject);
    });

    it("should refuse JWT-SVIDs for a suspended identity too", async () => {
      const answer = await forJwt(await ci.sign(claims({ repository: "acme/paused" })), "vault");
      expect(answer.body).toMatchObject({ error: "invalid_grant", reason: "Suspended" });
    });

    it("should refuse JWT-SVIDs for an identity with delivery Secret, though its spec.jwtSVID allows the audience", async () => {
      const answer = await forJwt(await ci.sign(claims({ repository: "acme/in-cluster" })), "vault");
      expect(answer.body).toMatchObject({ error: "invalid_grant", reason: "DeliveryNotExternal" });
    });

    it("should refuse malformed requests with invalid_request naming the parameter", async () => {
      const token = await ci.sign(claims());
      const json = await exchange({ subject_token: token }, "application/json");
      expect(json.status).toBe(400);
      expect(json.body).toMatchObject({ error: "invalid_request", reason: "InvalidRequest" });
      const noCsr = await exchange({
        grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
        subject_token: token,
        subject_token_type: TOKEN_TYPE_ID_TOKEN,
        requested_token_type: TOKEN_TYPE_X509_SVID,
      });
      expect(noCsr.body).toMatchObject({ error: "invalid_request" });
      expect(String(noCsr.body.error_description)).toContain("csr is required");
      const badCsr = await forX509(
        token,
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
      );
      expect(badCsr.body).toMatchObject({ error: "invalid_request", reason: "InvalidCSR" });
      const grant = await exchange({ grant_type: "client_credentials" });
      expect(grant.body).toMatchObject({ error: "unsupported_grant_type" });
      const get = await call(operator.enrollmentPort, servingCa, { path: "/v1/token" });
      expect(get.status).toBe(405);
    });

    it("should audit each refusal with the issuer, sub and reason, and count it", async () => {
      await waitFor("the audit line of the last refusal", () =>
        operator.log().includes('"reason":"UnsupportedGrantType"') ? true : undefined,
      );
      const refused = operator
        .log()
        .split("\n")
        .filter((l) => l.includes('"token exchange refused"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(refused.find((l) => l.reason === "NoMatchingRule" && l.trustedIssuer === name)).toMatchObject({
        audit: "exchange",
        outcome: "refused",
        issuer: ci.url,
        sub: "repo:acme/app:ref:refs/heads/main",
        verified: true,
        address: "127.0.0.1",
      });
      expect(refused.find((l) => l.reason === "UnsupportedAlgorithm")).toMatchObject({ verified: false });
      const metrics = await scrapeMetrics(operator.metricsPort);
      const refusedIn = (namespace: string, reason: string) =>
        exchanges(metrics, { outcome: "refused", reason, namespace });
      for (const reason of [
        "UnknownIssuer",
        "WrongAudience",
        "NoMatchingRule",
        "TokenExpired",
        "InvalidSignature",
        "UnsupportedAlgorithm",
      ])
        expect(refusedIn("", reason), reason).toBeGreaterThanOrEqual(1);
      // Of the cases above: another service account, another repository, another branch.
      expect(refusedIn("", "NoMatchingRule")).toBe(3);
      expect(refusedIn("", "InvalidSignature")).toBe(2);
      expect(refusedIn("", "UnsupportedAlgorithm")).toBe(2);
      expect(refusedIn(ns, "Suspended")).toBe(2);
      expect(refusedIn(ns, "DeliveryNotExternal")).toBe(2);
      expect(exchanges(metrics, { outcome: "issued", namespace: ns })).toBeGreaterThanOrEqual(5);
    });

    it("should stop exchanging once the admin deletes the TrustedIssuer", async () => {
      await trustedIssuers.delete("", name);
      const answer = await waitFor("the exchange to refuse the deleted issuer", async () => {
        const res = await forX509(await ci.sign(claims()), (await keyAndCsr()).csr);
        return res.status === 400 ? res : undefined;
      });
      expect(answer.body).toMatchObject({ error: "invalid_grant", reason: "UnknownIssuer" });
    });
  });

  it("should never have put a private key or token into the log", () => {
    const log = operator.log();
    expect(log).not.toMatch(/PRIVATE KEY/);
    expect(log).not.toMatch(/"subject_token"/);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  });
});
