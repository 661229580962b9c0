import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { controlPlaneBinaries } from "./binaries.ts";
import { createTestCa, generateSigningKeyPem, issueClientCert, issueServingCert } from "./certs.ts";
import { renderKubeconfig } from "./kubeconfig.ts";
import { freePort } from "./ports.ts";
import { type Supervised, startSupervised } from "./supervised.ts";

export interface ControlPlane {
  /** Working directory: certificates, etcd data, logs, kubeconfig. */
  readonly dir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly pids: number[];
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Keep state here instead of a fresh temp dir (the persistent `npm run cluster` uses this). */
  dir?: string;
  /** Remove the directory on stop (default: true for a temp dir). */
  removeOnStop?: boolean;
  readyTimeoutMs?: number;
}

const ADMIN = "signet-admin";

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const bins = controlPlaneBinaries();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "signet-cp-"));
  const removeOnStop = options.removeOnStop ?? options.dir === undefined;
  const pki = join(dir, "pki");
  mkdirSync(pki, { recursive: true });

  const ca = await createTestCa("signet-test-control-plane");
  const serving = await issueServingCert(
    ca,
    ["localhost", "kubernetes.default.svc"],
    ["127.0.0.1", "10.0.0.1"],
  );
  const admin = await issueClientCert(ca, ADMIN, ["system:masters"]);
  const files = {
    caCrt: join(pki, "ca.crt"),
    caKey: join(pki, "ca.key"),
    servingCrt: join(pki, "apiserver.crt"),
    servingKey: join(pki, "apiserver.key"),
    saKey: join(pki, "sa.key"),
    saPub: join(pki, "sa.pub"),
  };
  writeFileSync(files.caCrt, ca.certPem);
  writeFileSync(files.caKey, ca.keyPem, { mode: 0o600 });
  writeFileSync(files.servingCrt, serving.certPem);
  writeFileSync(files.servingKey, serving.keyPem, { mode: 0o600 });
  const saKeys = await generateSigningKeyPem();
  writeFileSync(files.saKey, saKeys.keyPem, { mode: 0o600 });
  writeFileSync(files.saPub, saKeys.publicKeyPem);

  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  // Webhook calls to 127.0.0.1 must never go through a proxy.
  const env = { ...process.env, NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost" };
  const processes: Supervised[] = [];
  // kube-apiserver first: it shuts down cleanly only while etcd still answers.
  const stopAll = async () => {
    for (const p of processes.reverse()) await p.stop();
    processes.length = 0;
  };

  try {
    processes.push(
      startSupervised(
        "etcd",
        bins.etcd,
        [
          `--data-dir=${join(dir, "etcd")}`,
          `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
          `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
          "--unsafe-no-fsync",
          "--log-level=warn",
        ],
        join(dir, "etcd.log"),
        env,
      ),
    );
    processes.push(
      startSupervised(
        "kube-apiserver",
        bins.kubeApiserver,
        [
          `--etcd-servers=http://127.0.0.1:${etcdClient}`,
          `--cert-dir=${pki}`,
          `--tls-cert-file=${files.servingCrt}`,
          `--tls-private-key-file=${files.servingKey}`,
          `--client-ca-file=${files.caCrt}`,
          `--secure-port=${apiPort}`,
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          "--service-cluster-ip-range=10.0.0.0/24",
          "--allow-privileged=true",
          "--disable-admission-plugins=ServiceAccount",
          "--authorization-mode=RBAC",
          `--service-account-issuer=${server}/`,
          `--service-account-key-file=${files.saPub}`,
          `--service-account-signing-key-file=${files.saKey}`,
          "--shutdown-delay-duration=0s",
          "--v=1",
        ],
        join(dir, "kube-apiserver.log"),
        env,
      ),
    );
    await waitReady(server, ca.certPem, admin, processes, options.readyTimeoutMs ?? 90_000, dir);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const kubeconfigPath = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfigPath,
    renderKubeconfig({
      server,
      caPem: ca.certPem,
      user: ADMIN,
      certPem: admin.certPem,
      keyPem: admin.keyPem,
    }),
    { mode: 0o600 },
  );

  return {
    dir,
    server,
    kubeconfigPath,
    pids: processes.map((p) => p.pid),
    async stop() {
      await stopAll();
      if (removeOnStop) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitReady(
  server: string,
  caPem: string,
  admin: { certPem: string; keyPem: string },
  processes: Supervised[],
  timeoutMs: number,
  dir: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let died: string | undefined;
  for (const p of processes) void p.exited.then(() => (died ??= p.name));
  let last = "";
  while (Date.now() < deadline) {
    if (died) throw new Error(`${died} exited during start-up; see ${join(dir, `${died}.log`)}`);
    last = await probe(`${server}/readyz`, caPem, admin).catch((e: Error) => e.message);
    if (last === "ok") return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`kube-apiserver not ready after ${timeoutMs} ms (last answer: ${last}); see ${dir}`);
}

function probe(url: string, ca: string, admin: { certPem: string; keyPem: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, cert: admin.certPem, key: admin.keyPem, timeout: 2_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () =>
        resolve(res.statusCode === 200 ? body.trim() : `${res.statusCode}: ${body.slice(0, 200)}`),
      );
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}
