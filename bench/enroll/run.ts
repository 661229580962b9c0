import { randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { createLocalJWKSet, jwtVerify } from "jose";
import { startControlPlane } from "../../e2e/harness/controlplane.ts";
import { identity } from "../../e2e/identity/support.ts";
import { reuseConnections } from "../../e2e/support/connections.ts";
import { installCrds } from "../../e2e/support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../../e2e/support/operator.ts";
import type { Enrollment, MachineIdentity, TrustedIssuer } from "../../operator/src/api/index.ts";
import { enrollmentFor } from "../../operator/src/cli/enroll.ts";
import { generateToken } from "../../operator/src/enroll/token.ts";
import {
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ID_TOKEN,
  TOKEN_TYPE_JWT,
  TOKEN_TYPE_X509_SVID,
} from "../../operator/src/exchange/request.ts";
import { KubeClient } from "../../operator/src/kube/client.ts";
import { loadConnection } from "../../operator/src/kube/kubeconfig.ts";
import {
  ENROLLMENTS,
  MACHINE_IDENTITIES,
  resourceClient,
  SECRETS,
  TRUSTED_ISSUERS,
} from "../../operator/src/kube/resources.ts";
import * as x509 from "../../operator/src/pki/x509.ts";
import { build } from "../../scripts/build.ts";
import { TestOidcIssuer } from "../../testing/oidc-issuer.ts";
import {
  childRunning,
  cpuModel,
  cpuSeconds,
  load,
  procStatusKb,
  retryThrottled,
  sleep,
  table,
} from "../measure.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Outside machines per second through the enrollment endpoint of one operator, on a real control
 * plane: N Enrollments are created through the API with tokens of enroll/token.ts, then each token
 * is used once with a fresh CSR against POST /v1/enroll (the token consumed by a
 * resourceVersion-guarded status write, an Event on the Enrollment and one on the identity); then
 * POST /v1/token exchanges tokens of a CI-like OIDC issuer on loopback (discovery, a CA of its
 * own) for X.509-SVIDs of fresh CSRs and for JWT-SVIDs. Every request is a new TLS connection, as
 * separate machines make them. Keys, CSRs, tokens and Enrollments are prepared before the clock
 * starts; every answer is checked after it. Figures are reported, not asserted; the exit code is
 * non-zero only on errors.
 *
 *   npm run bench:enroll -- --enrollments 500 --exchanges 1000 --concurrency 16
 */

const { values } = parseArgs({
  options: {
    enrollments: { type: "string", default: "500" },
    exchanges: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    /** Run the operator from its TypeScript sources instead of the JavaScript the image ships. */
    "from-source": { type: "boolean", default: false },
  },
});
const positive = (name: string, text: string | undefined) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
  return n;
};
const enrollmentCount = positive("enrollments", values.enrollments);
const exchangeCount = positive("exchanges", values.exchanges);
const concurrency = positive("concurrency", values.concurrency);

const NAMESPACE = "signet-bench";
const IDENTITY = "agent";
const TRUST_DOMAIN = "cluster.local";
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
x509.cryptoProvider.set(globalThis.crypto);

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** One POST on a new TLS connection, trusting only `ca`. */
function post(port: number, ca: string, path: string, contentType: string, payload: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path,
        ca,
        agent: false,
        headers: { "content-type": contentType, "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} });
          } catch {
            resolve({ status: res.statusCode ?? 0, body: { error: text.slice(0, 200) } });
          }
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function getJson(port: number, ca: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/** A fresh P-256 key and its PEM PKCS#10 request; the SPKI is what the certificate must carry. */
async function keyAndCsr(): Promise<{ csr: string; spki: Buffer }> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: ALGORITHM });
  return {
    csr: csr.toString("pem"),
    spki: Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey)),
  };
}

/** Runs `task(i)` for i in [0, n) with `width` in flight. */
async function inParallel(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const ms = (n: number) => `${n.toFixed(1)} ms`;

interface Phase {
  name: string;
  count: number;
  seconds: number;
  latencies: number[];
  outcomes: Map<string, number>;
  operatorCpu: number;
  loadBefore: string;
  loadAfter: string;
}

/** Sends `count` requests of `requestOf(i)` with `concurrency` in flight and times them. */
async function measure(
  name: string,
  count: number,
  requestOf: (i: number) => Promise<Answer>,
  operatorPid: number,
  answers: Answer[],
): Promise<Phase> {
  const latencies: number[] = [];
  const outcomes = new Map<string, number>();
  const loadBefore = load();
  const cpuBefore = cpuSeconds(operatorPid);
  console.error(`${name}: ${count} requests, ${concurrency} in flight (load ${loadBefore})`);
  const t0 = performance.now();
  await inParallel(count, concurrency, async (i) => {
    const sent = performance.now();
    const answer = await requestOf(i);
    latencies.push(performance.now() - sent);
    answers[i] = answer;
    const outcome =
      answer.status === 200 ? "200" : `${answer.status} ${String(answer.body.reason ?? answer.body.error)}`;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  });
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    name,
    count,
    seconds,
    latencies,
    outcomes,
    operatorCpu: cpuSeconds(operatorPid) - cpuBefore,
    loadBefore,
    loadAfter: load(),
  };
}

const stops: (() => Promise<void> | void)[] = [];
const stopAll = async () => {
  for (const stop of stops.splice(0).reverse()) {
    try {
      await stop();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

try {
  const loadAtStart = load();
  console.error(`starting the control plane (load ${loadAtStart})`);
  const cp = await startControlPlane();
  stops.push(() => cp.stop());
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  reuseConnections(kc);
  await installCrds(kc);
  const kube = new KubeClient(loadConnection({ env: { KUBECONFIG: cp.kubeconfigPath } }));
  stops.push(() => kube.close());
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  const ci = await TestOidcIssuer.start();
  stops.push(() => ci.stop());

  let entry: string | undefined;
  if (!values["from-source"]) {
    build(join(repoRoot, "dist"));
    entry = join(repoRoot, "dist/operator/src/cli/main.js");
  }
  const operator: OperatorProcess = await startOperatorProcess(
    cp.kubeconfigPath,
    [
      "--leader-elect=false",
      `--namespace=${NAMESPACE}`,
      `--watch-namespaces=${NAMESPACE}`,
      `--trust-domain=${TRUST_DOMAIN}`,
      "--enrollment-host=127.0.0.1",
      "--enrollment-ip-addresses=127.0.0.1",
      "--jwt-host=127.0.0.1",
      "--jwt-ip-addresses=127.0.0.1",
    ],
    "run",
    { entry },
  );
  stops.push(() => operator.process.stop(15_000));

  await resourceClient(kube, MACHINE_IDENTITIES).create(
    identity(NAMESPACE, IDENTITY, {
      delivery: "External",
      ttl: "1h",
      jwtSVID: { audiences: ["vault"], ttl: "5m" },
    }) as MachineIdentity,
  );
  const trustedIssuer = `bench-ci-${randomBytes(3).toString("hex")}`;
  await resourceClient(kube, TRUSTED_ISSUERS).create({
    apiVersion: "signet.dev/v1alpha1",
    kind: "TrustedIssuer",
    metadata: { name: trustedIssuer },
    spec: {
      issuer: ci.url,
      caBundle: ci.ca.certPem,
      audiences: ["signet"],
      rules: [
        {
          identity: { namespace: NAMESPACE, name: IDENTITY },
          claims: { repository: "acme/*", ref: "refs/heads/main" },
        },
      ],
    },
  } as TrustedIssuer);
  stops.push(() =>
    resourceClient(kube, TRUSTED_ISSUERS)
      .delete("", trustedIssuer)
      .then(() => undefined),
  );

  const secrets = resourceClient(kube, SECRETS);
  const caOf = async (name: string) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const secret = await secrets.find(NAMESPACE, name);
      const pem = Buffer.from(secret?.data?.["ca.crt"] ?? "", "base64").toString("utf8");
      if (pem) return pem;
      if (Date.now() > deadline)
        throw new Error(`Secret ${NAMESPACE}/${name} has no ca.crt:\n${operator.log()}`);
      await sleep(200);
    }
  };
  const servingCa = await caOf("signet-enrollment-tls");
  const jwtServingCa = await caOf("signet-jwt-tls");
  const port = operator.enrollmentPort;

  const now = () => Math.floor(Date.now() / 1000);
  const ciToken = () =>
    ci.sign({
      sub: "repo:acme/app:ref:refs/heads/main",
      aud: "signet",
      repository: "acme/app",
      ref: "refs/heads/main",
      iat: now(),
      nbf: now(),
      exp: now() + 900,
      jti: randomBytes(8).toString("hex"),
    });
  const exchangeForm = (token: string, extra: Record<string, string>) =>
    new URLSearchParams({
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
      subject_token: token,
      subject_token_type: TOKEN_TYPE_ID_TOKEN,
      ...extra,
    }).toString();
  const form = "application/x-www-form-urlencoded";

  // The endpoint is ready once an exchange succeeds (caches, CA, issuer keys, signing keys).
  const ready = await keyAndCsr();
  const deadline = Date.now() + 120_000;
  for (;;) {
    const token = await ciToken();
    const x = await post(
      port,
      servingCa,
      "/v1/token",
      form,
      exchangeForm(token, { requested_token_type: TOKEN_TYPE_X509_SVID, csr: ready.csr }),
    ).catch(() => undefined);
    const j = await post(
      port,
      servingCa,
      "/v1/token",
      form,
      exchangeForm(token, { requested_token_type: TOKEN_TYPE_JWT, audience: "vault" }),
    ).catch(() => undefined);
    if (x?.status === 200 && j?.status === 200) break;
    if (Date.now() > deadline)
      throw new Error(
        `the endpoint does not exchange: ${JSON.stringify(x?.body)} ${JSON.stringify(j?.body)}`,
      );
    await sleep(500);
  }

  // Not timed: Enrollments through the API, keys and CSRs, subject tokens.
  const tPrep = performance.now();
  const enrollments = resourceClient(kube, ENROLLMENTS);
  const tokens: string[] = new Array(enrollmentCount);
  await inParallel(enrollmentCount, concurrency, async (i) => {
    const name = `m-${String(i).padStart(5, "0")}`;
    const token = generateToken({ namespace: NAMESPACE, name });
    tokens[i] = token;
    await retryThrottled(() =>
      enrollments.create(enrollmentFor({ namespace: NAMESPACE, name }, IDENTITY, token, "1h") as Enrollment),
    );
  });
  const enrollKeys = await Promise.all(Array.from({ length: enrollmentCount }, keyAndCsr));
  const x509Keys = await Promise.all(Array.from({ length: exchangeCount }, keyAndCsr));
  const x509Tokens = await Promise.all(Array.from({ length: exchangeCount }, ciToken));
  const jwtTokens = await Promise.all(Array.from({ length: exchangeCount }, ciToken));
  console.error(
    `prepared ${enrollmentCount} Enrollments, ${enrollmentCount + exchangeCount} P-256 keys with CSRs and ${2 * exchangeCount} subject tokens in ${((performance.now() - tPrep) / 1000).toFixed(1)} s`,
  );
  await sleep(3_000);

  const nodePid = childRunning(operator.process.pid, "cli/main.");
  const rssBeforeKb = procStatusKb(nodePid, "VmRSS");
  const phases: Phase[] = [];
  const enrolled: Answer[] = [];
  phases.push(
    await measure(
      "POST /v1/enroll (token + CSR)",
      enrollmentCount,
      (i) =>
        post(
          port,
          servingCa,
          "/v1/enroll",
          "application/json",
          JSON.stringify({ token: tokens[i], identity: `${NAMESPACE}/${IDENTITY}`, csr: enrollKeys[i]?.csr }),
        ),
      nodePid,
      enrolled,
    ),
  );
  const exchangedX509: Answer[] = [];
  phases.push(
    await measure(
      "POST /v1/token for an X.509-SVID (CSR)",
      exchangeCount,
      (i) =>
        post(
          port,
          servingCa,
          "/v1/token",
          form,
          exchangeForm(x509Tokens[i] ?? "", {
            requested_token_type: TOKEN_TYPE_X509_SVID,
            csr: x509Keys[i]?.csr ?? "",
          }),
        ),
      nodePid,
      exchangedX509,
    ),
  );
  const exchangedJwt: Answer[] = [];
  phases.push(
    await measure(
      "POST /v1/token for a JWT-SVID",
      exchangeCount,
      (i) =>
        post(
          port,
          servingCa,
          "/v1/token",
          form,
          exchangeForm(jwtTokens[i] ?? "", { requested_token_type: TOKEN_TYPE_JWT, audience: "vault" }),
        ),
      nodePid,
      exchangedJwt,
    ),
  );
  const hwmKb = procStatusKb(nodePid, "VmHWM");

  // Not timed: every answer checked against what it answers.
  const spiffeId = `spiffe://${TRUST_DOMAIN}/ns/${NAMESPACE}/id/${IDENTITY}`;
  const certificateProblems = (answers: Answer[], keys: { spki: Buffer }[], field: string): number =>
    answers.filter((a, i) => {
      if (a.status !== 200) return false;
      const leaf = new X509Certificate(
        String(a.body[field]).split(/(?<=-----END CERTIFICATE-----)/)[0] ?? "",
      );
      return !(
        leaf.subjectAltName === `URI:${spiffeId}` &&
        leaf.publicKey.export({ format: "der", type: "spki" }).equals(keys[i]?.spki ?? Buffer.alloc(0))
      );
    }).length;
  const discovery = await getJson(operator.jwtPort, jwtServingCa, "/.well-known/openid-configuration");
  const jwks = await getJson(
    operator.jwtPort,
    jwtServingCa,
    new URL(String(discovery.body.jwks_uri)).pathname,
  );
  const keySet = createLocalJWKSet(jwks.body as { keys: [] });
  let jwtProblems = 0;
  for (const a of exchangedJwt) {
    if (a.status !== 200) continue;
    try {
      const { payload } = await jwtVerify(String(a.body.access_token), keySet, {
        issuer: String(discovery.body.issuer),
        audience: "vault",
      });
      if (payload.sub !== spiffeId) jwtProblems++;
    } catch {
      jwtProblems++;
    }
  }
  const problems = {
    enrolled: certificateProblems(enrolled, enrollKeys, "certificate"),
    x509: certificateProblems(exchangedX509, x509Keys, "access_token"),
    jwt: jwtProblems,
  };
  const consumed = (await enrollments.list(NAMESPACE)).items.filter(
    (e) => e.status?.phase === "Enrolled",
  ).length;

  console.log(
    `enrollment endpoint of one operator: ${concurrency} requests in flight, a new TLS connection each`,
  );
  console.log(
    `machine: ${cpuModel()}, ${cpus().length} CPUs (nproc), Node ${process.version}; load ${loadAtStart} at the start`,
  );
  console.log(`operator: ${entry ? "built JavaScript (dist/)" : "TypeScript sources"}`);
  console.log("");
  console.log(
    table(
      phases.map((p) => [
        p.name,
        String(p.count),
        `${p.seconds.toFixed(2)} s`,
        `${(p.count / p.seconds).toFixed(0)}/s`,
        ms(percentile(p.latencies, 50)),
        ms(percentile(p.latencies, 90)),
        ms(percentile(p.latencies, 99)),
        ms(p.latencies.at(-1) ?? Number.NaN),
        `${((p.operatorCpu / p.count) * 1000).toFixed(2)} ms`,
        [...p.outcomes].map(([o, n]) => `${o}: ${n}`).join(", "),
        `${p.loadBefore} -> ${p.loadAfter}`,
      ]),
      [
        "phase",
        "count",
        "wall",
        "rate",
        "p50",
        "p90",
        "p99",
        "max",
        "operator CPU each",
        "answers",
        "load (1/5/15 min)",
      ],
    ),
  );
  console.log("");
  console.log(
    `checked: ${consumed}/${enrollmentCount} Enrollments Enrolled; certificates not for the CSR's key or SPIFFE ID: enroll ${problems.enrolled}, exchange ${problems.x509}; JWT-SVIDs that Signet's JWKS does not verify: ${problems.jwt}`,
  );
  console.log(
    `operator RSS: ${(rssBeforeKb / 1024).toFixed(0)} MiB before, peak ${(hwmKb / 1024).toFixed(0)} MiB`,
  );
  const failed =
    phases.some((p) => p.outcomes.get("200") !== p.count) ||
    consumed !== enrollmentCount ||
    problems.enrolled + problems.x509 + problems.jwt > 0;
  await stopAll();
  process.exit(failed ? 1 : 0);
} catch (err) {
  console.error(err);
  await stopAll();
  process.exit(1);
}
