import { execFile, spawn } from "node:child_process";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRootCa, mintSvid } from "../../operator/src/pki/index.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, scrapeMetrics, startOperatorProcess } from "../support/operator.ts";
import { sleep, waitFor } from "../support/wait.ts";
import {
  createIdentity,
  type IdentityFiles,
  patchIdentitySpec,
  readIdentity,
  readSecretFiles,
  readyCondition,
  uriSans,
  verifiedLeaf,
  waitReady,
} from "./support.ts";

const peerScript = fileURLToPath(new URL("../support/mtls-peer.ts", import.meta.url));
const LEASE = { duration: 4_000, renew: 3_000, retry: 500 };

describe("the MachineIdentity controller", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: string;
  let opNs: string;
  let flags: string[];
  const operators: OperatorProcess[] = [];

  const startOperator = async () => {
    const op = await startOperatorProcess(kubeconfigPath(), flags);
    operators.push(op);
    return op;
  };

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "mi");
    opNs = await createNamespace(kc, "signet-op");
    flags = [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--min-ttl=10s",
      "--trust-domain=cluster.local",
      `--lease-duration=${LEASE.duration}ms`,
      `--renew-deadline=${LEASE.renew}ms`,
      `--retry-period=${LEASE.retry}ms`,
      "--log-level=info",
    ];
    await startOperator();
  });

  afterAll(async () => {
    await Promise.all(operators.map((o) => o.stop()));
  });

  it("issues a valid SVID for every key algorithm, with the ttl as its lifetime", async () => {
    const cases = [
      { name: "payments-api", spec: { dnsNames: [`payments.${ns}.svc`], ttl: "1h" } },
      { name: "ledger", spec: { privateKey: { algorithm: "Ed25519" as const }, ttl: "30m" } },
      {
        name: "legacy",
        spec: { privateKey: { algorithm: "RSA" as const, size: 2048 as const }, usages: ["client" as const] },
      },
      {
        name: "reporting",
        spec: { privateKey: { algorithm: "ECDSA" as const, size: 384 as const }, secretName: "reports-tls" },
      },
    ];
    for (const c of cases) await createIdentity(kc, ns, c.name, c.spec);
    for (const c of cases) {
      const mi = await waitReady(kc, ns, c.name);
      const secretName = c.spec.secretName ?? `${c.name}-identity`;
      const got = await readSecretFiles(kc, ns, secretName);
      expect(got, `Secret ${secretName}`).toBeDefined();
      const { secret, files } = got as { secret: k8s.V1Secret; files: IdentityFiles };
      expect(secret.type).toBe("kubernetes.io/tls");
      expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: "MachineIdentity",
        name: c.name,
        controller: true,
      });
      const leaf = verifiedLeaf(files);
      const spiffeId = `spiffe://cluster.local/ns/${ns}/id/${c.name}`;
      expect(uriSans(leaf)).toEqual([spiffeId]);
      expect(mi.status?.spiffeID).toBe(spiffeId);
      expect(leaf.ca).toBe(false);
      expect(leaf.checkPrivateKey(createPrivateKey(files["tls.key"]))).toBe(true);
      expect(files["tls.key"]).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      const lifetime = new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime();
      const ttl = { "1h": 3_600_000, "30m": 1_800_000 }[c.spec.ttl ?? "1h"] ?? 3_600_000;
      // notBefore is backdated by one minute for clock skew; X.509 times have whole seconds.
      expect(Math.abs(lifetime - (ttl + 60_000))).toBeLessThanOrEqual(1_000);
      expect(BigInt(`0x${leaf.serialNumber}`).toString(16)).toBe(
        BigInt(`0x${mi.status?.serialNumber}`).toString(16),
      );
      expect(new Date(mi.status?.notAfter ?? 0).getTime()).toBe(new Date(leaf.validTo).getTime());
      expect(new Date(mi.status?.renewalTime ?? 0).getTime()).toBeLessThan(new Date(leaf.validTo).getTime());
    }
    const events = await core.listNamespacedEvent({ namespace: ns });
    expect(
      events.items
        .filter((e) => e.reason === "Issued")
        .map((e) => e.involvedObject.name)
        .sort(),
    ).toEqual(cases.map((c) => c.name).sort());
  });

  it("lets two workloads complete a mutual-TLS handshake that checks SPIFFE IDs, and refuses another CA", async () => {
    await waitReady(kc, ns, "payments-api");
    await waitReady(kc, ns, "ledger");
    const dirOf = async (secretName: string) => {
      const got = await readSecretFiles(kc, ns, secretName);
      const dir = mkdtempSync(join(tmpdir(), "signet-mtls-"));
      for (const [k, v] of Object.entries(got?.files ?? {})) writeFileSync(join(dir, k), v);
      return dir;
    };
    const serverDir = await dirOf("payments-api-identity");
    const clientDir = await dirOf("ledger-identity");
    const serverId = `spiffe://cluster.local/ns/${ns}/id/payments-api`;
    const clientId = `spiffe://cluster.local/ns/${ns}/id/ledger`;

    const server = spawn(process.execPath, [peerScript, "server", serverDir, clientId], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        server.stdout.setEncoding("utf8");
        server.stdout.on("data", (d: string) => {
          const m = /listening (\d+)/.exec(d);
          if (m) resolve(Number(m[1]));
        });
        server.once("exit", () => reject(new Error("the server exited")));
      });
      const run = promisify(execFile);
      const ok = await run(process.execPath, [peerScript, "client", clientDir, serverId, String(port)]);
      expect(ok.stdout.trim()).toBe(`hello ${clientId}`);

      // The client insists on a different server identity: refused by SPIFFE ID, not by chain.
      await expect(
        run(process.execPath, [
          peerScript,
          "client",
          clientDir,
          `spiffe://cluster.local/ns/${ns}/id/other`,
          String(port),
        ]),
      ).rejects.toMatchObject({ stdout: expect.stringContaining("expected spiffe://cluster.local/ns/") });

      // A client with an SVID for the right ID from another CA is refused by the server's chain check.
      const foreign = await createRootCa({
        commonName: "foreign",
        trustDomain: "cluster.local",
        validity: 86_400_000,
        now: new Date(),
      });
      const forged = await mintSvid({ ca: foreign.ca, spiffeId: clientId, ttlMs: 600_000, now: new Date() });
      const forgedDir = mkdtempSync(join(tmpdir(), "signet-mtls-"));
      writeFileSync(join(forgedDir, "tls.crt"), forged.chainPem);
      writeFileSync(join(forgedDir, "tls.key"), forged.keyPem);
      writeFileSync(
        join(forgedDir, "ca.crt"),
        (await readSecretFiles(kc, ns, "ledger-identity"))?.files["ca.crt"] ?? "",
      );
      await expect(
        run(process.execPath, [peerScript, "client", forgedDir, serverId, String(port)]),
      ).rejects.toMatchObject({
        stdout: expect.stringMatching(/error|refused/),
      });
    } finally {
      server.kill();
    }
  });

  it("rotates a short-lived identity with a new key and serial, never holding an expired certificate", async () => {
    await createIdentity(kc, ns, "short", { ttl: "12s", renewBefore: "6s" });
    await waitReady(kc, ns, "short");
    const seen = new Map<string, string>(); // serial -> public key
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && seen.size < 3) {
      const got = await readSecretFiles(kc, ns, "short-identity");
      if (got) {
        const leaf = new X509Certificate(got.files["tls.crt"]);
        expect(new Date(leaf.validTo).getTime(), "the Secret holds an expired certificate").toBeGreaterThan(
          Date.now(),
        );
        seen.set(
          leaf.serialNumber,
          createPublicKey(got.files["tls.key"]).export({ format: "pem", type: "spki" }) as string,
        );
      }
      await sleep(200);
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect(new Set(seen.values()).size).toBe(seen.size);
    const mi = await readIdentity(kc, ns, "short");
    expect(mi.status?.rotations ?? 0).toBeGreaterThanOrEqual(2);
    expect(await scrapeMetrics(operators[0]?.metricsPort ?? 0)).toMatch(
      /signet_svids_rotated_total\{namespace="[^"]+"\} [2-9]/,
    );
  });

  it("revokes within 2 seconds on suspend and issues again on resume", async () => {
    await createIdentity(kc, ns, "revocable");
    await waitReady(kc, ns, "revocable");
    const started = Date.now();
    await patchIdentitySpec(kc, ns, "revocable", { suspend: true });
    await waitFor(
      "the Secret to be removed",
      async () => ((await readSecretFiles(kc, ns, "revocable-identity")) ? undefined : true),
      {
        timeoutMs: 5_000,
        intervalMs: 50,
      },
    );
    expect(Date.now() - started).toBeLessThanOrEqual(2_000);
    const suspended = await waitFor("status Suspended", async () => {
      const mi = await readIdentity(kc, ns, "revocable");
      return mi.status?.conditions?.find((c) => c.type === "Suspended" && c.status === "True")
        ? mi
        : undefined;
    });
    expect(readyCondition(suspended)).toMatchObject({ status: "False", reason: "Suspended" });
    await patchIdentitySpec(kc, ns, "revocable", { suspend: false });
    await waitFor("the Secret to come back", () => readSecretFiles(kc, ns, "revocable-identity"));
  });

  it("repairs a Secret deleted or edited by hand and reports the tampering", async () => {
    await createIdentity(kc, ns, "guarded");
    const before = await waitReady(kc, ns, "guarded");
    await core.deleteNamespacedSecret({ namespace: ns, name: "guarded-identity" });
    const restored = await waitFor("the deleted Secret to be restored", () =>
      readSecretFiles(kc, ns, "guarded-identity"),
    );
    expect(verifiedLeaf(restored.files).serialNumber).not.toBe(before.status?.serialNumber?.toUpperCase());

    const secret = restored.secret;
    secret.data = { ...secret.data, "tls.crt": Buffer.from(restored.files["ca.crt"]).toString("base64") };
    await core.replaceNamespacedSecret({ namespace: ns, name: "guarded-identity", body: secret });
    const spiffeId = `spiffe://cluster.local/ns/${ns}/id/guarded`;
    const repaired = await waitFor("the edited Secret to be repaired", async () => {
      const got = await readSecretFiles(kc, ns, "guarded-identity");
      if (!got) return undefined;
      try {
        const leaf = verifiedLeaf(got.files);
        return uriSans(leaf)[0] === spiffeId ? leaf : undefined;
      } catch {
        return undefined;
      }
    });
    expect(repaired.ca).toBe(false);
    const warnings = await waitFor("two TamperDetected events", async () => {
      const list = await core.listNamespacedEvent({ namespace: ns });
      const found = list.items.filter(
        (e) => e.reason === "TamperDetected" && e.involvedObject.name === "guarded",
      );
      return found.length >= 2 ? found : undefined;
    });
    expect(warnings.every((e) => e.type === "Warning")).toBe(true);
  });

  it("loses nothing when the operator is killed with SIGKILL and started again", async () => {
    const caBefore = await core.readNamespacedSecret({ namespace: opNs, name: "signet-ca" });
    const before = await waitReady(kc, ns, "short");
    const [first] = operators.splice(0, 1);
    await first?.kill();
    await startOperator();
    // Renewals continue: "short" rotates every few seconds.
    const after = await waitFor("the next rotation after the restart", async () => {
      const mi = await readIdentity(kc, ns, "short");
      return (mi.status?.rotations ?? 0) > (before.status?.rotations ?? 0) ? mi : undefined;
    });
    expect(readyCondition(after)?.status).toBe("True");
    const caAfter = await core.readNamespacedSecret({ namespace: opNs, name: "signet-ca" });
    expect(caAfter.data?.["tls.crt"]).toBe(caBefore.data?.["tls.crt"]);
    const cas = await core.listNamespacedSecret({
      namespace: opNs,
      labelSelector: "signet.dev/component=ca",
    });
    expect(cas.items).toHaveLength(1);
    for (const name of ["payments-api", "ledger", "legacy", "reporting"]) {
      const got = await readSecretFiles(kc, ns, name === "reporting" ? "reports-tls" : `${name}-identity`);
      expect(got && new Date(verifiedLeaf(got.files).validTo).getTime()).toBeGreaterThan(Date.now());
    }
  });

  it("runs the controllers on one replica only and fails over within the lease duration", async () => {
    const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    const holder = async () =>
      (await coordination.readNamespacedLease({ namespace: opNs, name: "signet-controller" })).spec
        ?.holderIdentity;
    const leaderBefore = await waitFor("a lease holder", holder);
    const standby = await startOperator();
    await sleep(3_000);
    expect(await holder()).toBe(leaderBefore);
    expect(standby.log()).not.toMatch(/"msg":"(issued|rotated)"/);

    const leader = operators.find((o) => o !== standby);
    const killedAt = Date.now();
    await leader?.kill();
    operators.splice(operators.indexOf(leader as OperatorProcess), 1);
    const next = await waitFor(
      "another lease holder",
      async () => {
        const h = await holder();
        return h && h !== leaderBefore ? h : undefined;
      },
      { intervalMs: 50, timeoutMs: 20_000 },
    );
    const takeover = Date.now() - killedAt;
    expect(next).toBeTruthy();
    // The standby judges expiry from when it last saw the lease change (as client-go does), so the
    // bound is one lease duration after the last renewal, plus its own retry period and a request.
    expect(takeover).toBeLessThanOrEqual(LEASE.duration + 2 * LEASE.retry + 1_000);
    const rotationsAtTakeover = (await readIdentity(kc, ns, "short")).status?.rotations ?? 0;
    await waitFor("the standby to rotate", async () => {
      const mi = await readIdentity(kc, ns, "short");
      return (mi.status?.rotations ?? 0) > rotationsAtTakeover ? mi : undefined;
    });
    expect(standby.log()).toMatch(/"msg":"rotated"/);
  });
});
