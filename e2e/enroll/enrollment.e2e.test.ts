import { execFile, spawn } from "node:child_process";
import { type webcrypto, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Enrollment } from "../../operator/src/api/index.ts";
import { enrollmentFor } from "../../operator/src/cli/enroll.ts";
import { generateToken } from "../../operator/src/enroll/token.ts";
import { ENROLLMENTS, resourceClient } from "../../operator/src/kube/resources.ts";
import * as x509 from "../../operator/src/pki/x509.ts";
import { signet } from "../audit/support.ts";
import { type Supervised, startSupervised } from "../harness/supervised.ts";
import {
  createIdentity,
  patchIdentitySpec,
  readSecretFiles,
  waitReady,
  waitReadyReason,
} from "../identity/support.ts";
import { createNamespace, kubeClient, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, scrapeMetrics, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

x509.cryptoProvider.set(globalThis.crypto);
const cli = fileURLToPath(new URL("../../operator/src/cli/main.ts", import.meta.url));
const peerScript = fileURLToPath(new URL("../support/mtls-peer.ts", import.meta.url));

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function post(port: number, ca: string, path: string, body: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path,
        ca,
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

async function csr(): Promise<string> {
  const params = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const keys = (await crypto.subtle.generateKey(params, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  return (await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: params })).toString(
    "pem",
  );
}

/** The JSON lines a `signet join` process has written so far. */
function joinEvents(logFile: string): { event: string; serial?: string; reason?: string }[] {
  return readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}

/**
 * Machines outside the cluster: a plain process enrolls with a single-use token, talks mTLS to an
 * in-cluster workload that authorizes it by SPIFFE ID, and renews itself without the token; a token
 * is used exactly once across two replicas, and every wrong token is refused with its reason.
 */
describe("enrollment of outside machines", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const enrollments = resourceClient(kubeClient(), ENROLLMENTS);
  let ns: string;
  let opNs: string;
  const replicas: OperatorProcess[] = [];
  let servingCa: string;
  const agentId = () => `spiffe://cluster.local/ns/${ns}/id/agent`;
  let expiring: { token: string; createdAt: number };
  const processes: Supervised[] = [];
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "signet-join-"));
    dirs.push(dir);
    return dir;
  };

  /** An Enrollment created through the API, as `signet enroll --output yaml` and kubectl apply would. */
  const createEnrollment = async (name: string, identity: string, ttl = "10m") => {
    const token = generateToken({ namespace: ns, name });
    await enrollments.create(enrollmentFor({ namespace: ns, name }, identity, token, ttl) as Enrollment);
    await waitFor(`Enrollment ${name} to be Pending`, async () =>
      (await enrollments.get(ns, name)).status?.phase === "Pending" ? true : undefined,
    );
    return token;
  };

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "enroll");
    opNs = await createNamespace(kc, "signet-enroll");
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "server" } } });
    const flags = [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--enrollment-host=127.0.0.1",
      "--enrollment-ip-addresses=127.0.0.1",
      "--min-ttl=10s",
      "--lease-duration=4s",
      "--renew-deadline=3s",
      "--retry-period=500ms",
    ];
    // Two replicas, as the chart runs them: each serves the endpoint, one leads.
    for (let i = 0; i < 2; i++) replicas.push(await startOperatorProcess(kubeconfigPath(), flags));
    // renewBefore 20s of 30s: a renewal every 10 s or so.
    await createIdentity(kc, ns, "agent", { delivery: "External", ttl: "30s", renewBefore: "20s" });
    await createIdentity(kc, ns, "other-agent", { delivery: "External", ttl: "1h" });
    await createIdentity(kc, ns, "server", { serviceAccounts: ["server"] });
    // No certificate of its own: Ready means the endpoint may issue to enrolled machines.
    await waitReadyReason(kc, ns, "agent", "EnrollmentReady");
    await waitReady(kc, ns, "server");
    servingCa = await waitFor("the enrollment endpoint's serving Secret", async () => {
      const tls = await readSecretFiles(kc, opNs, "signet-enrollment-tls");
      return tls?.files["ca.crt"] || undefined;
    });
    // A token of the 30 s identity expires 30 s after its creation, however long spec.ttl says.
    const token = await createEnrollment("expiring", "agent");
    expiring = { token, createdAt: Date.now() };
  }, 120_000);

  afterAll(async () => {
    for (const p of processes) await p.stop();
    for (const r of replicas) await r.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("should enroll a plain process with signet enroll and signet join, give it mTLS with an in-cluster workload by SPIFFE ID, and renew it three times without the token", async () => {
    const port = replicas[0]?.enrollmentPort ?? 0;
    const work = tempDir();
    const tokenFile = join(work, "token");
    const enrolled = await signet(
      "enroll",
      `${ns}/agent`,
      "--name=agent-1",
      `--token-file=${tokenFile}`,
      `--server=https://127.0.0.1:${port}`,
    );
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const pin = /--ca-sha256 (sha256:[0-9a-f]{64})/.exec(enrolled.stdout)?.[1];
    expect(pin, enrolled.stdout).toBeDefined();
    expect(enrolled.stdout).not.toContain(readFileSync(tokenFile, "utf8").trim());
    const stored = await enrollments.get(ns, "agent-1");
    expect(stored.spec.tokenHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(readFileSync(tokenFile, "utf8").trim());

    const dir = join(work, "identity");
    const logFile = join(work, "join.log");
    const started = Date.now();
    const join_ = startSupervised(
      "signet-join",
      process.execPath,
      [
        cli,
        "join",
        `--server=https://127.0.0.1:${port}`,
        `--identity=${ns}/agent`,
        `--ca-sha256=${pin}`,
        `--dir=${dir}`,
        `--token-file=${tokenFile}`,
      ],
      logFile,
    );
    processes.push(join_);
    await waitFor(
      "signet join to enroll",
      () => (joinEvents(logFile).some((e) => e.event === "enrolled") ? true : undefined),
      {
        timeoutMs: 20_000,
      },
    );
    console.log(`enrolled ${Date.now() - started} ms after signet join started`);
    // The token is gone from the machine: what follows needs none.
    rmSync(tokenFile);
    const firstKey = readFileSync(join(dir, "tls.key"), "utf8");
    const leaf = new X509Certificate(readFileSync(join(dir, "tls.crt"), "utf8"));
    expect(leaf.subjectAltName).toBe(`URI:${agentId()}`);

    // The in-cluster workload holds the identity Secret Signet issued for its pods.
    const serverFiles = (await readSecretFiles(kc, ns, "server-identity"))?.files;
    if (!serverFiles) throw new Error("the server identity's Secret is missing");
    const serverDir = tempDir();
    for (const f of ["tls.crt", "tls.key", "ca.crt"])
      writeFileSync(join(serverDir, f), serverFiles[f as keyof typeof serverFiles] ?? "");
    const serverId = `spiffe://cluster.local/ns/${ns}/id/server`;
    const server = spawn(process.execPath, [peerScript, "server", serverDir, agentId()], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const run = promisify(execFile);
    try {
      const serverPort = await new Promise<number>((resolve, reject) => {
        server.stdout.setEncoding("utf8");
        server.stdout.on("data", (d: string) => {
          const m = /listening (\d+)/.exec(d);
          if (m) resolve(Number(m[1]));
        });
        server.once("exit", () => reject(new Error("the server exited")));
      });
      const hello = await run(process.execPath, [peerScript, "client", dir, serverId, String(serverPort)]);
      expect(hello.stdout.trim()).toBe(`hello ${agentId()}`);

      await waitFor(
        "three renewals",
        () => (joinEvents(logFile).filter((e) => e.event === "renewed").length >= 3 ? true : undefined),
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      const events = joinEvents(logFile);
      const serials = events
        .filter((e) => e.event === "enrolled" || e.event === "renewed")
        .map((e) => e.serial);
      console.log(`three renewals ${Date.now() - started} ms after start; serials ${serials.join(", ")}`);
      expect(new Set(serials).size).toBe(serials.length);
      expect(readFileSync(join(dir, "tls.key"), "utf8")).not.toBe(firstKey);
      // The renewed certificate still opens the connection, and it is the one the Enrollment records.
      const again = await run(process.execPath, [peerScript, "client", dir, serverId, String(serverPort)]);
      expect(again.stdout.trim()).toBe(`hello ${agentId()}`);
      const onDisk = new X509Certificate(
        readFileSync(join(dir, "tls.crt"), "utf8"),
      ).serialNumber.toLowerCase();
      const record = await enrollments.get(ns, "agent-1");
      expect(record.status?.phase).toBe("Enrolled");
      expect(record.status?.renewals).toBeGreaterThanOrEqual(3);
      expect([record.status?.certificate?.serialNumber, record.status?.previous?.serialNumber]).toContain(
        onDisk,
      );
      expect(record.status?.address).toBe("127.0.0.1");
    } finally {
      server.kill();
    }

    // Suspending the identity stops renewal: the next attempt is refused with the reason.
    await patchIdentitySpec(kc, ns, "agent", { suspend: true });
    await waitFor(
      "a renewal refused as Suspended",
      () =>
        joinEvents(logFile).some((e) => e.event === "refused" && e.reason === "Suspended") ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    await patchIdentitySpec(kc, ns, "agent", { suspend: false });
  }, 180_000);

  it("should let exactly one of 50 concurrent uses of a token, spread over two replicas, succeed, and raise the others as possible theft", async () => {
    const token = await createEnrollment("race", "other-agent");
    const csrs = await Promise.all(Array.from({ length: 50 }, () => csr()));
    const answers = await Promise.all(
      csrs.map((c, i) =>
        post(replicas[i % 2]?.enrollmentPort ?? 0, servingCa, "/v1/enroll", {
          token,
          identity: `${ns}/other-agent`,
          csr: c,
        }),
      ),
    );
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).toHaveLength(1);
    const others = answers.filter((a) => a.status !== 200);
    expect(new Set(others.map((a) => `${a.status} ${a.body.reason}`))).toEqual(
      new Set(["401 TokenReplayed"]),
    );
    const record = await enrollments.get(ns, "race");
    expect(record.status?.phase).toBe("Enrolled");
    expect(record.status?.replays ?? 0).toBeGreaterThanOrEqual(1);
    const events = await waitFor("a TokenReplayed Warning event", async () => {
      const list = await core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: "involvedObject.name=race",
      });
      return list.items.find((e) => e.reason === "TokenReplayed" && e.type === "Warning");
    });
    expect(events.message).toContain("possible theft");
    const alarms = (await Promise.all(replicas.map((r) => scrapeMetrics(r.metricsPort)))).join("\n");
    const counted = [
      ...alarms.matchAll(/^signet_enrollment_alarms_total\{[^}]*reason="TokenReplayed"[^}]*\} (\d+)/gm),
    ]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);
    expect(counted).toBe(49);
  }, 60_000);

  it("should refuse unknown, wrong-identity, replayed and expired tokens with their reasons", async () => {
    const port = replicas[1]?.enrollmentPort ?? 0;
    const use = async (token: string, identity = `${ns}/other-agent`) =>
      post(port, servingCa, "/v1/enroll", { token, identity, csr: await csr() });

    // Unknown: no such Enrollment, and the right Enrollment with another secret.
    const token = await createEnrollment("once", "other-agent");
    const unknown = await use(generateToken({ namespace: ns, name: "never-created" }));
    expect(unknown).toMatchObject({ status: 401, body: { reason: "UnknownToken" } });
    const forged = await use(generateToken({ namespace: ns, name: "once" }));
    expect(forged).toMatchObject({ status: 401, body: { reason: "UnknownToken" } });
    const garbage = await use("not-a-token");
    expect(garbage).toMatchObject({ status: 401, body: { reason: "UnknownToken" } });

    // Wrong identity: refused, and the token is not spent by it.
    const wrong = await use(token, `${ns}/agent`);
    expect(wrong).toMatchObject({ status: 403, body: { reason: "WrongIdentity" } });
    expect(String(wrong.body.error)).toContain(`${ns}/other-agent`);
    const first = await use(token);
    expect(first.status).toBe(200);
    const cert = new X509Certificate(String(first.body.certificate));
    expect(cert.subjectAltName).toBe(`URI:spiffe://cluster.local/ns/${ns}/id/other-agent`);
    expect(cert.verify(new X509Certificate(String(first.body.bundle)).publicKey)).toBe(true);

    // Replayed: the same token again, from the other replica too.
    const replay = await use(token);
    expect(replay).toMatchObject({ status: 401, body: { reason: "TokenReplayed" } });
    const replayElsewhere = await post(replicas[0]?.enrollmentPort ?? 0, servingCa, "/v1/enroll", {
      token,
      identity: `${ns}/other-agent`,
      csr: await csr(),
    });
    expect(replayElsewhere).toMatchObject({ status: 401, body: { reason: "TokenReplayed" } });

    // Expired: the identity's 30 s ttl bounds its token.
    await waitFor(
      "the expiring token's 30 s",
      () => (Date.now() - expiring.createdAt > 31_000 ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    const expired = await use(expiring.token, `${ns}/agent`);
    expect(expired).toMatchObject({ status: 401, body: { reason: "TokenExpired" } });
    await waitFor("the unused token to be marked Expired", async () =>
      (await enrollments.get(ns, "expiring")).status?.phase === "Expired" ? true : undefined,
    );

    // Malformed requests get their HTTP error, never a crash.
    const bad = await post(port, servingCa, "/v1/enroll", { token, identity: "x", csr: "nope", extra: 1 });
    expect(bad.status).toBe(400);
    const badCsr = await post(port, servingCa, "/v1/enroll", {
      token: await createEnrollment("bad-csr", "other-agent"),
      identity: `${ns}/other-agent`,
      csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    });
    expect(badCsr).toMatchObject({ status: 400, body: { reason: "InvalidCSR" } });
    // A bad CSR spends nothing.
    expect((await enrollments.get(ns, "bad-csr")).status?.phase).toBe("Pending");
  }, 120_000);
});
