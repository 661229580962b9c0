// What the node tier's tests share: commands inside running pods, the chart installed with Helm,
// workload pods that carry a Signet identity, and Signet's own resources.
import { request } from "node:https";
import { Writable } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import { chartDir } from "../../scripts/render-manifests.ts";
import { controlPlaneBinaries } from "../harness/binaries.ts";
import { mustRun } from "../packaging/support.ts";
import { kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { waitFor } from "../support/wait.ts";

export const admin = kubeConfig();
export const core = admin.makeApiClient(k8s.CoreV1Api);
export const apps = admin.makeApiClient(k8s.AppsV1Api);
export const coordination = admin.makeApiClient(k8s.CoordinationV1Api);
export const networking = admin.makeApiClient(k8s.NetworkingV1Api);
export const objects = admin.makeApiClient(k8s.CustomObjectsApi);

/** The image the chart runs and the test peer's image, both built locally and imported. */
export const SIGNET_IMAGE = { repository: "signet", tag: "dev" };
export const PEER_IMAGE = "signet-e2e-peer:dev";
export const RELEASE_NAMESPACE = "signet-system";
export const PEER_PORT = 8443;

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command in a container through the API server and the kubelet, as `kubectl exec` does. */
export async function execIn(
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
  const exec = new k8s.Exec(admin);
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

export function helm(args: string[]): Promise<string> {
  return mustRun(controlPlaneBinaries().helm, ["--kubeconfig", kubeconfigPath(), ...args]);
}

/** `helm install` of the chart with the locally built image; returns once every replica is Ready. */
export async function installChart(release: string, extraSet: string[] = []): Promise<void> {
  await helm([
    "install",
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

/** The Lease's holder, once one holds it. */
export async function leaseHolder(name = "signet-controller"): Promise<string | undefined> {
  const lease = await coordination
    .readNamespacedLease({ name, namespace: RELEASE_NAMESPACE })
    .catch(() => undefined);
  return lease?.spec?.holderIdentity ?? undefined;
}

export const GROUP = "signet.dev";
export const VERSION = "v1alpha1";
const PLURALS: Record<string, string> = {
  MachineIdentity: "machineidentities",
  AccessPolicy: "accesspolicies",
  AccessSchedule: "accessschedules",
};
const pluralOf = (kind: string) => PLURALS[kind] ?? `${kind.toLowerCase()}s`;

export function deleteSignet(namespace: string, kind: string, name: string): Promise<unknown> {
  return objects.deleteNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: pluralOf(kind),
    name,
  });
}

export function createSignet(namespace: string, kind: string, name: string, spec: object): Promise<unknown> {
  return objects.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: pluralOf(kind),
    body: { apiVersion: `${GROUP}/${VERSION}`, kind, metadata: { name, namespace }, spec },
  });
}

export function patchSignet(namespace: string, kind: string, name: string, spec: object): Promise<unknown> {
  return objects.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, namespace, plural: pluralOf(kind), name, body: { spec } },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
}

export interface SignetStatus {
  conditions?: { type: string; status: string; reason?: string }[];
  active?: boolean;
  networkPolicies?: string[];
}

export async function readSignet(
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
export async function createIdentity(namespace: string, name: string, spec: object = {}): Promise<void> {
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await createSignet(namespace, "MachineIdentity", name, { serviceAccounts: [name], ...spec });
  await waitFor(
    `MachineIdentity ${namespace}/${name} Ready`,
    async () => {
      const mi = await readSignet(namespace, "MachineIdentity", name);
      return mi.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

/**
 * A pod of the test peer image running as the identity's ServiceAccount, opted in to injection;
 * `args` is the peer's command (serve, or sleep to exec clients in). Returns the running pod.
 */
export async function startPeerPod(
  namespace: string,
  name: string,
  identity: string,
  args: string[],
): Promise<k8s.V1Pod> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name,
        labels: { "signet.dev/inject": "true", app: name },
        annotations: { "signet.dev/identity": identity },
      },
      spec: {
        serviceAccountName: identity,
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
    },
  });
  return waitRunning(namespace, name);
}

export async function waitRunning(namespace: string, name: string, timeoutMs = 60_000): Promise<k8s.V1Pod> {
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

/** The peer's `probe` lines, `<epoch ms> <outcome>`, parsed. */
export function probeLines(stdout: string): { at: number; outcome: string }[] {
  return stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length >= 2 && /^\d+$/.test(parts[0] ?? ""))
    .map(([at, ...rest]) => ({ at: Number(at), outcome: rest.join(" ") }));
}
