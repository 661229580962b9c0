// A machine outside the cluster, on a real node with the chart installed: a plain process on the
// host (no pod, no container) enrolls through the enrollment endpoint of the operator's pods with a
// single-use token, proves who it is to a real pod over mTLS, and renews itself without the token.
import { execFile } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Supervised, startSupervised } from "../harness/supervised.ts";
import { kubeconfigPath } from "../support/cluster.ts";
import { waitFor } from "../support/wait.ts";
import {
  core,
  createIdentity,
  createSignet,
  helm,
  installChart,
  PEER_PORT,
  RELEASE_NAMESPACE,
  readSignet,
  startPeerPod,
} from "./support.ts";

const RELEASE = "signet";
const ns = `node-outside-${randomBytes(3).toString("hex")}`;
const idOf = (name: string) => `spiffe://cluster.local/ns/${ns}/id/${name}`;
const cli = fileURLToPath(new URL("../../operator/src/cli/main.ts", import.meta.url));
const peerScript = fileURLToPath(new URL("./peer.ts", import.meta.url));
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "signet-outside-"));
let server: k8s.V1Pod;
let join_: Supervised | undefined;
const figures: string[] = [];

function events(logFile: string): { event: string; serial?: string; reason?: string }[] {
  return readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}

/** The host's own client, with the identity files signet join wrote. */
const connectFromHost = (dir: string) =>
  run(
    process.execPath,
    [peerScript, "connect", "--to", `${server.status?.podIP}:${PEER_PORT}`, "--expect", idOf("server")],
    {
      env: {
        ...process.env,
        SIGNET_TLS_CERT_FILE: join(dir, "tls.crt"),
        SIGNET_TLS_KEY_FILE: join(dir, "tls.key"),
        SIGNET_TLS_CA_FILE: join(dir, "ca.crt"),
      },
    },
  ).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (err: { code?: number; stdout?: string }) => ({ code: err.code ?? 1, stdout: err.stdout ?? "" }),
  );

describe("a machine outside the cluster, on a real node", () => {
  beforeAll(async () => {
    await installChart(RELEASE, ["minTTL=10s"]);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await createIdentity(ns, "server");
    await readyExternal("agent");
    server = await startPeerPod(ns, "server", "server", [
      "serve",
      "--port",
      String(PEER_PORT),
      "--allow",
      idOf("agent"),
    ]);
  }, 300_000);

  afterAll(async () => {
    for (const f of figures) console.log(`[figure] ${f}`);
    await join_?.stop();
    rmSync(work, { recursive: true, force: true });
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await helm(["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait"]).catch(() => undefined);
  });

  it("enrolls a host process through the operator's pods, gives it mTLS with a pod that authorizes it by SPIFFE ID, and renews it three times without the token", async () => {
    // The enrollment endpoint of an operator pod, as an outside machine reaches it through a
    // load balancer: by address, checking the certificate against the Service's name.
    const operators = await core.listNamespacedPod({
      namespace: RELEASE_NAMESPACE,
      labelSelector: "app.kubernetes.io/component=operator",
    });
    const address = operators.items.find((p) => p.status?.podIP)?.status?.podIP;
    expect(address).toBeDefined();
    const endpoint = `https://${address}:8445`;
    const tokenFile = join(work, "token");
    const enrolled = await run(
      process.execPath,
      [cli, "enroll", `${ns}/agent`, "--name=agent-1", `--token-file=${tokenFile}`, `--server=${endpoint}`],
      { env: { ...process.env, KUBECONFIG: kubeconfigPath() } },
    );
    const pin = /--ca-sha256 (sha256:[0-9a-f]{64})/.exec(enrolled.stdout)?.[1];
    expect(pin, enrolled.stdout + enrolled.stderr).toBeDefined();

    const dir = join(work, "identity");
    const logFile = join(work, "join.log");
    const started = Date.now();
    join_ = startSupervised(
      "signet-join",
      process.execPath,
      [
        cli,
        "join",
        `--server=${endpoint}`,
        `--server-name=${RELEASE}-enrollment.${RELEASE_NAMESPACE}.svc`,
        `--identity=${ns}/agent`,
        `--ca-sha256=${pin}`,
        `--dir=${dir}`,
        `--token-file=${tokenFile}`,
      ],
      logFile,
    );
    await waitFor(
      "signet join to enroll",
      () => (events(logFile).some((e) => e.event === "enrolled") ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    figures.push(`outside machine enrolled ${Date.now() - started} ms after signet join started`);
    rmSync(tokenFile);
    expect(new X509Certificate(readFileSync(join(dir, "tls.crt"), "utf8")).subjectAltName).toBe(
      `URI:${idOf("agent")}`,
    );

    const hello = await connectFromHost(dir);
    expect(hello.stdout).toMatch(new RegExp(`^hello ${idOf("agent")} from ${idOf("server")}`));
    expect(hello.code).toBe(0);

    await waitFor(
      "three renewals",
      () => (events(logFile).filter((e) => e.event === "renewed").length >= 3 ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    figures.push(`three renewals ${Date.now() - started} ms after signet join started`);
    const serials = events(logFile)
      .filter((e) => e.event === "enrolled" || e.event === "renewed")
      .map((e) => e.serial);
    expect(new Set(serials).size).toBe(serials.length);
    const again = await connectFromHost(dir);
    expect(again.stdout).toMatch(new RegExp(`^hello ${idOf("agent")} from ${idOf("server")}`));
    const record = await readSignet(ns, "Enrollment", "agent-1");
    expect((record.status as { renewals?: number }).renewals).toBeGreaterThanOrEqual(3);
  }, 240_000);
});

/** An identity for outside machines: no ServiceAccount; Ready once the endpoint may issue for it. */
async function readyExternal(name: string) {
  await createSignet(ns, "MachineIdentity", name, { delivery: "External", ttl: "30s", renewBefore: "20s" });
  await waitFor(`MachineIdentity ${ns}/${name} Ready`, async () => {
    const mi = await readSignet(ns, "MachineIdentity", name);
    return mi.status?.conditions?.some((c) => c.type === "Ready" && c.reason === "EnrollmentReady")
      ? true
      : undefined;
  });
}
