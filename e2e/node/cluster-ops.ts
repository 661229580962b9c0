// What runs against a single-node cluster given its KubeConfig: commands inside running pods, the
// chart installed with Helm, workload pods that carry a Signet identity, and Signet's own resources.
// No test runner here: the node tier's tests (through support.ts) and `npm run demo` both use it.
import { request } from "node:https";
import { Writable } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import { chartDir } from "../../scripts/render-manifests.ts";
import { controlPlaneBinaries } from "../harness/binaries.ts";
import { mustRun } from "../packaging/support.ts";
import { waitFor } from "../support/wait.ts";

/** The image the chart runs and the test peer's image, both built locally and imported. */
export const SIGNET_IMAGE = { repository: "signet", tag: "dev" };
export const PEER_IMAGE = "signet-e2e-peer:dev";
export const RELEASE_NAMESPACE = "signet-system";
export const PEER_PORT = 8443;

export const GROUP = "signet.dev";
export const VERSION = "v1alpha1";
const PLURALS: Record<string, string> = {
  MachineIdentity: "machineidentities",
  AccessPolicy: "accesspolicies",
  AccessSchedule: "accessschedules",
};
const pluralOf = (kind: string) => PLURALS[kind] ?? `${kind.toLowerCase()}s`;

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface SignetStatus {
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  active?: boolean;
  reason?: string;
  networkPolicies?: string[];
}

export interface InstallOptions {
  /** `helm upgrade --install` instead of `helm install`: a release left by an earlier run is reused. */
  upgrade?: boolean;
}

export interface PeerPodOptions {
  /** The pod's ServiceAccount; by default the one named like the identity. */
  serviceAccount?: string;
}

/** The peer's `probe` lines, `<epoch ms> <outcome>`, parsed. */
/** Serial numbers as hex, whatever their case and leading zeros. */
export const sameSerial = (a: string, b: string): boolean =>
  a !== "" && b !== "" && BigInt(`0x${a}`) === BigInt(`0x${b}`);

export function probeLines(stdout: string): { at: number; outcome: string }[] {
  return stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length >= 2 && /^\d+$/.test(parts[0] ?? ""))
    .map(([at, ...rest]) => ({ at: Number(at), outcome: rest.join(" ") }));
}

/** The status code of a GET, or undefined when the connection fails (no routing yet). */
function httpsStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    // The webhook's certificate is checked by the API server; here only routing is.
    const req = request(url, { rejectUnauthorized: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

export type ClusterOps = ReturnType<typeof clusterOps>;

/** The operations on the cluster of `kc`, whose kubeconfig file (for helm) is `kubeconfigPath`. */
export function clusterOps(kc: k8s.KubeConfig, kubeconfigPath: () => string) {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);

  /** Runs a command in a container through the API server and the kubelet, as `kubectl exec` does. */
  async function execIn(
    namespace: string,
    pod: string,
    command: string[],
    container = "app",
  ): Promise<ExecResult> {
    let stdout = "";
    let stderr = "";
    const sink = (append: (s: string) => void) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          append(chunk.toString("utf8"));
          done();
        },
      });
    const exec = new k8s.Exec(kc);
    return new Promise<ExecResult>((resolve, reject) => {
      exec
        .exec(
          namespace,
          pod,
          container,
          command,
          sink((s) => {
            stdout += s;
          }),
          sink((s) => {
            stderr += s;
          }),
          null,
          false,
          (status: k8s.V1Status) => {
            const exitCause = status.details?.causes?.find((c) => c.reason === "ExitCode");
            const code = status.status === "Success" ? 0 : Number(exitCause?.message ?? 1);
            // The status arrives after the last output frame.
            setImmediate(() => resolve({ stdout, stderr, code }));
          },
        )
        .then((ws) => ws.on("error", reject))
        .catch(reject);
    });
  }

  function helm(args: string[]): Promise<string> {
    return mustRun(controlPlaneBinaries().helm, ["--kubeconfig", kubeconfigPath(), ...args]);
  }

  /** `helm install` of the chart with the locally built image; returns once every replica is Ready. */
  async function installChart(
    release: string,
    extraSet: string[] = [],
    options: InstallOptions = {},
  ): Promise<void> {
    await helm([
      ...(options.upgrade ? ["upgrade", "--install"] : ["install"]),
      release,
      chartDir,
      "--namespace",
      RELEASE_NAMESPACE,
      "--create-namespace",
      "--set",
      `image.repository=${SIGNET_IMAGE.repository}`,
      "--set",
      `image.tag=${SIGNET_IMAGE.tag}`,
      "--set",
      "image.pullPolicy=Never",
      ...extraSet.flatMap((s) => ["--set", s]),
      "--wait",
      "--timeout",
      "180s",
    ]);
    // helm --wait returns once the pods are Ready; kube-proxy may program the new Service a moment
    // later. The API server calls the webhook through the Service, so wait until it routes.
    const service = await core.readNamespacedService({
      namespace: RELEASE_NAMESPACE,
      name: `${release}-webhook`,
    });
    const ip = service.spec?.clusterIP;
    await waitFor(
      `the webhook Service ${ip}:443 routing to a replica`,
      () => httpsStatus(`https://${ip}/healthz`),
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
  }

  /** The Lease's holder, once one holds it. */
  async function leaseHolder(name = "signet-controller"): Promise<string | undefined> {
    const lease = await coordination
      .readNamespacedLease({ name, namespace: RELEASE_NAMESPACE })
      .catch(() => undefined);
    return lease?.spec?.holderIdentity ?? undefined;
  }

  function deleteSignet(namespace: string, kind: string, name: string): Promise<unknown> {
    return objects.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: pluralOf(kind),
      name,
    });
  }

  function createSignet(namespace: string, kind: string, name: string, spec: object): Promise<unknown> {
    return objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: pluralOf(kind),
      body: { apiVersion: `${GROUP}/${VERSION}`, kind, metadata: { name, namespace }, spec },
    });
  }

  function patchSignet(namespace: string, kind: string, name: string, spec: object): Promise<unknown> {
    return objects.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace, plural: pluralOf(kind), name, body: { spec } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
  }

  async function readSignet(
    namespace: string,
    kind: string,
    name: string,
  ): Promise<{ status?: SignetStatus }> {
    return (await objects.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: pluralOf(kind),
      name,
    })) as { status?: SignetStatus };
  }

  /** A ServiceAccount, a MachineIdentity for it, and waits until the identity is Ready. */
  async function createIdentity(namespace: string, name: string, spec: object = {}): Promise<void> {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    await createSignet(namespace, "MachineIdentity", name, { serviceAccounts: [name], ...spec });
    await waitFor(
      `MachineIdentity ${namespace}/${name} Ready`,
      async () => {
        const mi = await readSignet(namespace, "MachineIdentity", name);
        return mi.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
          ? true
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }

  /**
   * A pod of the test peer image running as the identity's ServiceAccount, opted in to injection;
   * `args` is the peer's command (serve, or sleep to exec clients in). Returns the running pod.
   */
  async function startPeerPod(
    namespace: string,
    name: string,
    identity: string,
    args: string[],
    options: PeerPodOptions = {},
  ): Promise<k8s.V1Pod> {
    await core.createNamespacedPod({ namespace, body: peerPod(name, identity, args, options) });
    return waitRunning(namespace, name);
  }

  async function waitRunning(namespace: string, name: string, timeoutMs = 60_000): Promise<k8s.V1Pod> {
    return waitFor(
      `pod ${namespace}/${name} Running and Ready`,
      async () => {
        const pod = await core.readNamespacedPod({ namespace, name });
        const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting?.reason)?.state?.waiting;
        if (waiting && /Err|BackOff|Invalid/.test(waiting.reason ?? "")) {
          throw new Error(`${waiting.reason}: ${waiting.message ?? ""}`);
        }
        const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        return ready && pod.status?.podIP ? pod : undefined;
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  return {
    kc,
    core,
    apps,
    coordination,
    networking,
    objects,
    execIn,
    helm,
    installChart,
    leaseHolder,
    deleteSignet,
    createSignet,
    patchSignet,
    readSignet,
    createIdentity,
    startPeerPod,
    waitRunning,
  };
}

/** The pod `startPeerPod` creates: the peer image, restricted, opted in to Signet's injection. */
export function peerPod(
  name: string,
  identity: string,
  args: string[],
  options: PeerPodOptions = {},
): k8s.V1Pod {
  return {
    metadata: {
      name,
      labels: { "signet.dev/inject": "true", app: name },
      annotations: { "signet.dev/identity": identity },
    },
    spec: {
      serviceAccountName: options.serviceAccount ?? identity,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "app",
          image: PEER_IMAGE,
          imagePullPolicy: "Never",
          args,
          ports: [{ containerPort: PEER_PORT, name: "mtls" }],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
        },
      ],
    },
  };
}
