import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createTestCa,
  generateSigningKeyPem,
  issueClientCert,
  issueServingCert,
  type TestCa,
} from "../../testing/certs.ts";
import { controlPlaneBinaries } from "./binaries.ts";
import { renderKubeconfig } from "./kubeconfig.ts";
import { freePort } from "./ports.ts";
import { childNamed, type Supervised, startSupervised } from "./supervised.ts";

export interface ControlPlane {
  /** Working directory: certificates, etcd data, logs, kubeconfig. */
  readonly dir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly pids: number[];
  /** The cluster CA (it signs the API server's serving certificate and every client certificate). */
  readonly ca: TestCa;
  /** Writes a kubeconfig for a user authenticated by a client certificate from the cluster CA. */
  writeKubeconfig(path: string, user: string, groups?: string[]): Promise<void>;
  /**
   * SIGKILLs kube-apiserver, as a crash or an OOM kill would end it, and starts it again with the
   * same flags, port, etcd and certificates, after `downMs` (default 0) without one, as a control
   * plane upgrade or a node reboot would leave it. Resolves once /readyz answers ok again, with the
   * times (Date.now()) of the kill and of that first ok.
   */
  restartApiServer(options?: { downMs?: number }): Promise<{ killedAt: number; readyAt: number }>;
  /** Where kube-apiserver writes audit events (one JSON object a line), when started with a policy. */
  readonly auditLogPath: string | undefined;
  /**
   * Stops etcd (SIGSTOP) for `ms`, then lets it run again (SIGCONT): the API server's requests
   * hang meanwhile, as in a disk or network stall. Resolves once etcd runs again.
   */
  stallEtcd(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Pod certificates (KEP-4317) and ClusterTrustBundles are beta and off by default in Kubernetes
 * 1.36: these gates turn them on in kube-apiserver, kube-controller-manager and the kubelet, and
 * the API server serves certificates.k8s.io/v1beta1 (RUNTIME_CONFIG) for them.
 */
export const FEATURE_GATES =
  "PodCertificateRequest=true,ClusterTrustBundle=true,ClusterTrustBundleProjection=true";
export const RUNTIME_CONFIG =
  "certificates.k8s.io/v1beta1/podcertificaterequests=true,certificates.k8s.io/v1beta1/clustertrustbundles=true";

/**
 * What a real node needs of its control plane: an address pods reach, ServiceAccount admission,
 * the Node authorizer, and kube-controller-manager and kube-scheduler beside the API server.
 */
export interface FullControlPlaneOptions {
  /** Where kube-apiserver binds and what it advertises as the `kubernetes` Service's endpoint. */
  address: string;
  port: number;
  serviceClusterIpRange: string;
  /** The `kubernetes` Service's ClusterIP (the first address of the range): in the serving certificate. */
  kubernetesServiceIp: string;
  /** Pod network; the controller-manager gives each node a slice of it (spec.podCIDR). */
  clusterCidr: string;
  nodeCidrMaskSize: number;
}

export interface StartOptions {
  /** Keep state here instead of a fresh temp dir (the persistent `npm run cluster` uses this). */
  dir?: string;
  /** Remove the directory on stop (default: true for a temp dir). */
  removeOnStop?: boolean;
  readyTimeoutMs?: number;
  /** A full control plane for a real node; without it, a bare API server on loopback. */
  full?: FullControlPlaneOptions;
  /** An audit policy (YAML): kube-apiserver then writes JSON audit events to `auditLogPath`. */
  auditPolicy?: string;
  /**
   * Pod certificates and ClusterTrustBundles (FEATURE_GATES, RUNTIME_CONFIG); default on. Off, the
   * API server is one of 1.36's defaults: it serves neither and drops podCertificate volume sources.
   */
  podCertificates?: boolean;
}

const ADMIN = "signet-admin";
/** kube-apiserver's user towards kubelets (exec, logs); a node binds it to system:kubelet-api-admin. */
export const KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client";

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const bins = controlPlaneBinaries();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "signet-cp-"));
  const removeOnStop = options.removeOnStop ?? options.dir === undefined;
  const pki = join(dir, "pki");
  mkdirSync(pki, { recursive: true });

  const full = options.full;
  const ca = await createTestCa("signet-test-control-plane");
  const serving = await issueServingCert(
    ca,
    [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
    ],
    full ? ["127.0.0.1", full.address, full.kubernetesServiceIp] : ["127.0.0.1", "10.0.0.1"],
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
  if (full) {
    // kube-apiserver's identity towards kubelets (exec, logs, port-forward): bound to
    // system:kubelet-api-admin once the API server is up.
    const kubeletClient = await issueClientCert(ca, KUBELET_CLIENT_USER, []);
    writeFileSync(join(pki, "kubelet-client.crt"), kubeletClient.certPem);
    writeFileSync(join(pki, "kubelet-client.key"), kubeletClient.keyPem, { mode: 0o600 });
  }
  const saKeys = await generateSigningKeyPem();
  writeFileSync(files.saKey, saKeys.keyPem, { mode: 0o600 });
  writeFileSync(files.saPub, saKeys.publicKeyPem);

  const [etcdClient, etcdPeer] = [await freePort(), await freePort()];
  const auditLogPath = options.auditPolicy ? join(dir, "audit.log") : undefined;
  if (options.auditPolicy) writeFileSync(join(dir, "audit-policy.yaml"), options.auditPolicy);
  const apiPort = full?.port ?? (await freePort());
  const apiAddress = full?.address ?? "127.0.0.1";
  const server = `https://${apiAddress}:${apiPort}`;
  const writeKubeconfig = async (path: string, user: string, groups: string[] = []) => {
    const pair = await issueClientCert(ca, user, groups);
    writeFileSync(path, renderKubeconfig({ server, caPem: ca.certPem, user, ...pair }), { mode: 0o600 });
  };
  // Webhook calls to 127.0.0.1 must never go through a proxy.
  const env = { ...process.env, NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost" };
  const apiServerArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    `--cert-dir=${pki}`,
    `--tls-cert-file=${files.servingCrt}`,
    `--tls-private-key-file=${files.servingKey}`,
    `--client-ca-file=${files.caCrt}`,
    `--secure-port=${apiPort}`,
    `--bind-address=${apiAddress}`,
    `--advertise-address=${apiAddress}`,
    `--service-cluster-ip-range=${full?.serviceClusterIpRange ?? "10.0.0.0/24"}`,
    "--allow-privileged=true",
    ...(options.podCertificates === false
      ? []
      : [`--feature-gates=${FEATURE_GATES}`, `--runtime-config=${RUNTIME_CONFIG}`]),
    ...(full
      ? [
          // Pods get ServiceAccount tokens; kubelets may touch only their own node and pods.
          "--enable-admission-plugins=NodeRestriction",
          "--authorization-mode=Node,RBAC",
          // Node names do not resolve here: exec and logs go to the kubelet by its address.
          "--kubelet-preferred-address-types=InternalIP",
          `--kubelet-certificate-authority=${files.caCrt}`,
          `--kubelet-client-certificate=${join(pki, "kubelet-client.crt")}`,
          `--kubelet-client-key=${join(pki, "kubelet-client.key")}`,
          "--endpoint-reconciler-type=lease",
        ]
      : ["--disable-admission-plugins=ServiceAccount", "--authorization-mode=RBAC"]),
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${files.saPub}`,
    `--service-account-signing-key-file=${files.saKey}`,
    "--shutdown-delay-duration=0s",
    ...(auditLogPath
      ? [
          `--audit-policy-file=${join(dir, "audit-policy.yaml")}`,
          `--audit-log-path=${auditLogPath}`,
          "--audit-log-format=json",
          "--audit-log-mode=blocking",
          "--audit-log-maxsize=0",
        ]
      : []),
    "--v=1",
  ];
  const startApiServer = () =>
    startSupervised(
      "kube-apiserver",
      bins.kubeApiserver,
      apiServerArgs,
      join(dir, "kube-apiserver.log"),
      env,
    );
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
    processes.push(startApiServer());
    await waitReady(server, ca.certPem, admin, processes, options.readyTimeoutMs ?? 90_000, dir);
    if (full) await startControllers(full, dir, files, writeKubeconfig, processes, env, bins);
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

  let stopped = false;
  const restartApiServer = async ({ downMs = 0 }: { downMs?: number } = {}) => {
    if (stopped) throw new Error("the control plane is stopped");
    const at = processes.findIndex((p) => p.name === "kube-apiserver");
    const killed = processes[at];
    if (!killed) throw new Error("kube-apiserver is not running");
    const killedAt = Date.now();
    // The guard shell, its watcher and kube-apiserver share one process group.
    process.kill(-killed.pid, "SIGKILL");
    await killed.stop();
    await new Promise((r) => setTimeout(r, Math.max(0, killedAt + downMs - Date.now())));
    if (stopped) throw new Error("the control plane was stopped during the restart");
    processes[at] = startApiServer();
    // Polled often, so that readyAt is at most a few tens of milliseconds after the first ok.
    await waitReady(server, ca.certPem, admin, processes, options.readyTimeoutMs ?? 90_000, dir, 25);
    return { killedAt, readyAt: Date.now() };
  };

  const stallEtcd = async (ms: number) => {
    const guard = processes.find((p) => p.name === "etcd");
    const etcd = guard ? childNamed(guard.pid, "etcd") : undefined;
    if (etcd === undefined) throw new Error("etcd is not running");
    process.kill(etcd, "SIGSTOP");
    try {
      await new Promise((r) => setTimeout(r, ms));
    } finally {
      process.kill(etcd, "SIGCONT");
    }
  };

  return {
    dir,
    server,
    kubeconfigPath,
    auditLogPath,
    stallEtcd,
    get pids() {
      return processes.map((p) => p.pid);
    },
    ca,
    writeKubeconfig,
    restartApiServer,
    async stop() {
      stopped = true;
      await stopAll();
      if (removeOnStop) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** kube-controller-manager and kube-scheduler, each with the identity its bootstrap RBAC names. */
async function startControllers(
  full: FullControlPlaneOptions,
  dir: string,
  files: { caCrt: string; caKey: string; saKey: string },
  writeKubeconfig: (path: string, user: string, groups?: string[]) => Promise<void>,
  processes: Supervised[],
  env: NodeJS.ProcessEnv,
  bins: ReturnType<typeof controlPlaneBinaries>,
): Promise<void> {
  const kcm = join(dir, "kube-controller-manager.kubeconfig");
  const scheduler = join(dir, "kube-scheduler.kubeconfig");
  await writeKubeconfig(kcm, "system:kube-controller-manager");
  await writeKubeconfig(scheduler, "system:kube-scheduler");
  processes.push(
    startSupervised(
      "kube-controller-manager",
      bins.kubeControllerManager,
      [
        `--kubeconfig=${kcm}`,
        `--authentication-kubeconfig=${kcm}`,
        `--authorization-kubeconfig=${kcm}`,
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        // Each controller acts as its own ServiceAccount, as in a production cluster.
        "--use-service-account-credentials=true",
        `--service-account-private-key-file=${files.saKey}`,
        // Published into every namespace as kube-root-ca.crt: pods verify the API server with it.
        `--root-ca-file=${files.caCrt}`,
        `--cluster-signing-cert-file=${files.caCrt}`,
        `--cluster-signing-key-file=${files.caKey}`,
        "--allocate-node-cidrs=true",
        `--cluster-cidr=${full.clusterCidr}`,
        `--node-cidr-mask-size=${full.nodeCidrMaskSize}`,
        `--service-cluster-ip-range=${full.serviceClusterIpRange}`,
        "--controllers=*,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
        `--feature-gates=${FEATURE_GATES}`,
        "--v=1",
      ],
      join(dir, "kube-controller-manager.log"),
      env,
    ),
  );
  processes.push(
    startSupervised(
      "kube-scheduler",
      bins.kubeScheduler,
      [
        `--kubeconfig=${scheduler}`,
        `--authentication-kubeconfig=${scheduler}`,
        `--authorization-kubeconfig=${scheduler}`,
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        "--v=1",
      ],
      join(dir, "kube-scheduler.log"),
      env,
    ),
  );
}

async function waitReady(
  server: string,
  caPem: string,
  admin: { certPem: string; keyPem: string },
  processes: Supervised[],
  timeoutMs: number,
  dir: string,
  intervalMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let died: string | undefined;
  for (const p of processes) void p.exited.then(() => (died ??= p.name));
  let last = "";
  while (Date.now() < deadline) {
    if (died) throw new Error(`${died} exited during start-up; see ${join(dir, `${died}.log`)}`);
    last = await probe(`${server}/readyz`, caPem, admin).catch((e: Error) => e.message);
    if (last === "ok") return;
    await new Promise((r) => setTimeout(r, intervalMs));
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
