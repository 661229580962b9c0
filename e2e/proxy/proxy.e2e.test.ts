import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION } from "../../operator/src/api/constants.ts";
import { channelBindingOf, signProof } from "../../operator/src/proof/index.ts";
import { connectMtls, type Response, send } from "../../operator/src/proxy/test-support.ts";
import { freePort } from "../harness/ports.ts";
import { type Supervised, startSupervised } from "../harness/supervised.ts";
import { createIdentity, type IdentityFiles, readSecretFiles, waitReady } from "../identity/support.ts";
import { applyObject } from "../support/apply.ts";
import { createNamespace, kubeConfig, kubeconfigPath, userKubeConfig } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, scrapeMetrics, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

const cli = fileURLToPath(new URL("../../operator/src/cli/main.ts", import.meta.url));

/**
 * `signet proxy` in front of a workload, end to end on the API server: the operator issues the
 * identities' Secrets, the proxy runs as its own process with the server identity's files and reads
 * the AccessPolicies from the API, and a caller with the client identity's files sends proofs.
 */
describe("signet proxy", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: string;
  let operator: OperatorProcess;
  let proxyLog: string;
  let proxyPort: number;
  let metricsPort: number;
  let upstream: Server;
  let received: IncomingHttpHeaders[] = [];
  let server: IdentityFiles;
  let checkout: IdentityFiles;
  let stranger: IdentityFiles;
  let serverId: string;
  let host: string;
  let identityDir: string;
  const sockets: TLSSocket[] = [];
  const started: Supervised[] = [];

  const policy = (suspend: boolean) => ({
    apiVersion: API_VERSION,
    kind: "AccessPolicy",
    metadata: { name: "checkout-to-payments", namespace: ns },
    spec: {
      target: { identity: "payments-api", ports: [{ port: 8443 }] },
      allowFrom: [
        { identity: "checkout", http: { methods: ["POST"], paths: ["/v1/charges", "/v1/refunds/*"] } },
      ],
      suspend,
    },
  });

  const connect = async (files: IdentityFiles = checkout, port = proxyPort) => {
    const socket = await connectMtls(
      port,
      { chainPem: files["tls.crt"], keyPem: files["tls.key"] },
      files["ca.crt"],
      serverId,
    );
    sockets.push(socket);
    return socket;
  };

  const proofFor = (
    socket: TLSSocket,
    over: { method?: string; path?: string; signer?: IdentityFiles; now?: Date } = {},
  ) => {
    const signer = over.signer ?? checkout;
    return signProof({
      key: signer["tls.key"],
      certificate: signer["tls.crt"],
      method: over.method ?? "POST",
      url: `https://${host}${over.path ?? "/v1/charges"}`,
      audience: serverId,
      channelBinding: channelBindingOf(socket),
      ...(over.now ? { now: over.now } : {}),
    });
  };

  const refusal = (response: Response) => ({
    status: response.status,
    reason: (JSON.parse(response.body) as { reason: string }).reason,
  });

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "proxy");
    const opNs = await createNamespace(kc, "signet-proxy");
    host = `payments-api.${ns}.svc:8443`;
    for (const name of ["payments", "checkout", "stranger"]) {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    }
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--leader-elect=false",
    ]);
    await createIdentity(kc, ns, "payments-api", { serviceAccounts: ["payments"] });
    await createIdentity(kc, ns, "checkout", { serviceAccounts: ["checkout"] });
    await createIdentity(kc, ns, "stranger", { serviceAccounts: ["stranger"] });
    for (const name of ["payments-api", "checkout", "stranger"]) await waitReady(kc, ns, name);
    const files = async (name: string) =>
      (await readSecretFiles(kc, ns, `${name}-identity`))?.files as IdentityFiles;
    [server, checkout, stranger] = [
      await files("payments-api"),
      await files("checkout"),
      await files("stranger"),
    ];
    serverId = `spiffe://cluster.local/ns/${ns}/id/payments-api`;
    await applyObject(kc, policy(false));

    upstream = createServer((req, res) => {
      received.push(req.headers);
      req.resume();
      req.on("end", () =>
        res.writeHead(200, { "content-type": "text/plain", "content-length": 8 }).end("charged\n"),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));

    identityDir = mkdtempSync(join(tmpdir(), "signet-proxy-identity-"));
    for (const name of ["tls.crt", "tls.key", "ca.crt"] as const) {
      writeFileSync(join(identityDir, name), server[name], { mode: 0o600 });
    }
    ({ log: proxyLog, port: proxyPort, metricsPort } = await startProxyProcess(kubeconfigPath()));
    await waitFor("the proxy to serve", () =>
      readFileSync(proxyLog, "utf8").includes("signet proxy started") ? true : undefined,
    );
  });

  /** `signet proxy` as a process with the server identity's files, reading the API as `kubeconfig` says. */
  async function startProxyProcess(kubeconfig: string) {
    const [port, metrics] = [await freePort(), await freePort()];
    const log = join(mkdtempSync(join(tmpdir(), "signet-proxy-log-")), "proxy.log");
    const args = [
      cli,
      "proxy",
      "--listen",
      String(port),
      "--upstream",
      `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    ];
    const proc = startSupervised(
      "signet-proxy",
      process.execPath,
      [...args, "--identity-dir", identityDir, "--metrics-port", String(metrics)],
      log,
      { ...process.env, KUBECONFIG: kubeconfig, NO_PROXY: "127.0.0.1,localhost" },
    );
    started.push(proc);
    return { proc, log, port, metricsPort: metrics };
  }

  /** A kubeconfig file of `user`, holding in the test namespace exactly the verbs on the resources given. */
  async function userWith(user: string, resources: string[]): Promise<string> {
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: user },
        rules: [{ apiGroups: ["signet.dev"], resources, verbs: ["list", "watch"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: user },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: user },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
    });
    const file = join(mkdtempSync(join(tmpdir(), "signet-proxy-kubeconfig-")), "config");
    writeFileSync(file, (await userKubeConfig(user)).exportConfig(), { mode: 0o600 });
    return file;
  }

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(started.map((p) => p.stop()));
    await operator?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it("should forward a request with a fresh proof to the workload, naming the caller", async () => {
    received = [];
    const socket = await connect();
    const response = await send(socket, { host, proof: await proofFor(socket) });
    expect(response).toMatchObject({ status: 200, body: "charged\n" });
    expect(received).toHaveLength(1);
    expect(received[0]?.["x-signet-caller"]).toBe(`spiffe://cluster.local/ns/${ns}/id/checkout`);
    expect(received[0]?.["signet-proof"]).toBeUndefined();
  });

  it("should refuse each broken proof with 401 and its reason, and forward none", async () => {
    received = [];
    const socket = await connect();
    const used = await proofFor(socket);
    expect((await send(socket, { host, proof: used })).status).toBe(200);
    const other = await connect();
    const refusals: Record<string, { status: number; reason: string }> = {};
    const run = async (name: string, call: () => Promise<Response>) => {
      refusals[name] = refusal(await call());
    };
    await run("replayed", () => send(socket, { host, proof: used }));
    await run("another URL", async () =>
      send(socket, { host, proof: await proofFor(socket, { path: "/v1/refunds/r-1" }) }),
    );
    await run("another method", async () =>
      send(socket, { host, proof: await proofFor(socket, { method: "PUT" }) }),
    );
    await run("expired", async () =>
      send(socket, { host, proof: await proofFor(socket, { now: new Date(Date.now() - 120_000) }) }),
    );
    await run("another identity's key", async () =>
      send(socket, { host, proof: await proofFor(socket, { signer: stranger }) }),
    );
    await run("another connection", async () => send(other, { host, proof: await proofFor(socket) }));
    await run("no proof", () => send(socket, { host }));
    expect(refusals).toEqual({
      replayed: { status: 401, reason: "ProofReplayed" },
      "another URL": { status: 401, reason: "ProofUrlMismatch" },
      "another method": { status: 401, reason: "ProofMethodMismatch" },
      expired: { status: 401, reason: "ProofExpired" },
      "another identity's key": { status: 401, reason: "ProofBindingMismatch" },
      "another connection": { status: 401, reason: "ProofChannelMismatch" },
      "no proof": { status: 401, reason: "ProofMissing" },
    });
    expect(received).toHaveLength(1);
  });

  it("should refuse with 403 a caller no AccessPolicy allows, and a method or path its policy does not list", async () => {
    received = [];
    const outsider = await connect(stranger);
    const socket = await connect();
    expect(
      refusal(await send(outsider, { host, proof: await proofFor(outsider, { signer: stranger }) })),
    ).toEqual({
      status: 403,
      reason: "CallerNotAllowed",
    });
    expect(
      refusal(
        await send(socket, { host, method: "DELETE", proof: await proofFor(socket, { method: "DELETE" }) }),
      ),
    ).toEqual({
      status: 403,
      reason: "MethodNotAllowed",
    });
    expect(
      refusal(
        await send(socket, { host, path: "/v1/admin", proof: await proofFor(socket, { path: "/v1/admin" }) }),
      ),
    ).toEqual({ status: 403, reason: "PathNotAllowed" });
    expect(received).toEqual([]);
  });

  it("should follow the AccessPolicy in the API: suspended it refuses, resumed it forwards again", async () => {
    const socket = await connect();
    await applyObject(kc, policy(true));
    await waitFor("the proxy to see the suspension", async () => {
      const response = await send(socket, { host, proof: await proofFor(socket) });
      return response.status === 403 ? refusal(response) : undefined;
    }).then((r) => expect(r).toEqual({ status: 403, reason: "CallerNotAllowed" }));
    await applyObject(kc, policy(false));
    await waitFor("the proxy to see the policy resumed", async () => {
      const response = await send(socket, { host, proof: await proofFor(socket) });
      return response.status === 200 ? true : undefined;
    });
  });

  it("should count proofs by outcome and reason, and audit every request without its proof", async () => {
    const metrics = await scrapeMetrics(metricsPort);
    const count = (outcome: string, reason: string) =>
      Number(
        new RegExp(`^signet_proofs_total\\{outcome="${outcome}",reason="${reason}"\\} (\\d+)$`, "m").exec(
          metrics,
        )?.[1] ?? 0,
      );
    expect(count("accepted", "Allowed")).toBeGreaterThanOrEqual(3);
    for (const reason of [
      "ProofReplayed",
      "ProofUrlMismatch",
      "ProofChannelMismatch",
      "MethodNotAllowed",
      "PathNotAllowed",
    ]) {
      expect(count("refused", reason), reason).toBe(1);
    }
    expect(count("refused", "CallerNotAllowed")).toBeGreaterThanOrEqual(2);

    const lines = readFileSync(proxyLog, "utf8")
      .split("\n")
      .filter((line) => line.includes('"outcome"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((l) => l.reason === "PathNotAllowed")).toMatchObject({
      caller: `spiffe://cluster.local/ns/${ns}/id/checkout`,
      target: serverId,
      method: "POST",
      path: "/v1/admin",
      outcome: "refused",
      policy: "checkout-to-payments",
    });
    expect(readFileSync(proxyLog, "utf8")).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.eyJ/);
  });

  it("should serve with only list and watch on accesspolicies and accessschedules in its namespace", async () => {
    const limited = await startProxyProcess(
      await userWith("signet-proxy-reader", ["accesspolicies", "accessschedules"]),
    );
    await waitFor("the proxy with the documented Role to serve", () =>
      readFileSync(limited.log, "utf8").includes("signet proxy started") ? true : undefined,
    );
    const socket = await connect(checkout, limited.port);
    expect((await send(socket, { host, proof: await proofFor(socket) })).status).toBe(200);
  });

  it("should not serve while it cannot list the AccessSchedules", async () => {
    const partial = await startProxyProcess(await userWith("signet-proxy-half-reader", ["accesspolicies"]));
    await waitFor("the proxy to report the refused list", () =>
      readFileSync(partial.log, "utf8").includes('"cache":"accessschedules"') ? true : undefined,
    );
    expect(readFileSync(partial.log, "utf8")).not.toContain("signet proxy started");
    await expect(connect(checkout, partial.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
