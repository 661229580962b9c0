import { IDENTITY_VOLUME_NAME, PROXY_ANNOTATION } from "../../operator/src/api/names.ts";
import { IDENTITY_MOUNT_PATH } from "./identity.ts";
import type { ContainerLike, PodLike } from "./pod.ts";

/** The container the webhook adds for PROXY_ANNOTATION; a pod may not have one of its own by that name. */
export const PROXY_CONTAINER_NAME = "signet-proxy";
/** The name of the sidecar's TLS port, for a Service's targetPort. */
export const PROXY_PORT_NAME = "signet-proxy";
/** Where the sidecar serves /metrics (signet proxy's default), so neither annotated port may be it. */
export const PROXY_METRICS_PORT = 9090;

export interface ProxyPorts {
  listen: number;
  upstream: number;
}

const PORTS = /^(\d{1,5}):(\d{1,5})$/;

/** The annotation's ports, or what is wrong with its value. */
export function parseProxyAnnotation(value: string): ProxyPorts | { message: string } {
  const expected =
    `annotation ${PROXY_ANNOTATION} is ${JSON.stringify(value)}; expected "<listen port>:<upstream port>", ` +
    'e.g. "8443:8080": two different ports from 1 to 65535, the first where callers reach the proxy, ' +
    "the second where the workload listens on 127.0.0.1";
  const match = PORTS.exec(value.trim());
  if (!match) return { message: expected };
  const listen = Number(match[1]);
  const upstream = Number(match[2]);
  const valid = (port: number) => port >= 1 && port <= 65535;
  if (!valid(listen) || !valid(upstream) || listen === upstream) return { message: expected };
  if (listen === PROXY_METRICS_PORT || upstream === PROXY_METRICS_PORT) {
    return {
      message:
        `annotation ${PROXY_ANNOTATION} is ${JSON.stringify(value)}; port ${PROXY_METRICS_PORT} is where the ` +
        "signet-proxy sidecar serves its metrics in the pod: choose other ports",
    };
  }
  return { listen, upstream };
}

/** The arguments of the image's entry point (the Signet CLI, as the chart runs `signet run`). */
export function proxyArgs(ports: ProxyPorts): string[] {
  return [
    "proxy",
    "--listen",
    String(ports.listen),
    "--upstream",
    `http://127.0.0.1:${ports.upstream}`,
    "--identity-dir",
    IDENTITY_MOUNT_PATH,
  ];
}

/**
 * The sidecar: the Signet image running `signet proxy` as the pod's ServiceAccount, with the identity
 * mounted read-only and the same environment as every injected container, so that a reinvocation
 * finds it complete. Locked down as the operator's own container is; the image's user is numeric.
 */
export function proxyContainer(
  image: string,
  ports: ProxyPorts,
  env: readonly { name: string; value: string }[],
): ContainerLike {
  return {
    name: PROXY_CONTAINER_NAME,
    image,
    args: proxyArgs(ports),
    ports: [{ name: PROXY_PORT_NAME, containerPort: ports.listen, protocol: "TCP" }],
    // The proxy listens only once it has listed the AccessPolicies and AccessSchedules: until then
    // (no Role yet, no API server) the pod is not Ready, and a Service sends it nothing.
    readinessProbe: { tcpSocket: { port: PROXY_PORT_NAME }, periodSeconds: 2, failureThreshold: 1 },
    resources: { requests: { cpu: "25m", memory: "64Mi" } },
    securityContext: {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [{ name: IDENTITY_VOLUME_NAME, mountPath: IDENTITY_MOUNT_PATH, readOnly: true }],
    env: env.map((e) => ({ ...e })),
  };
}

/**
 * Whether a container already named signet-proxy is Signet's sidecar for these ports, from an earlier
 * invocation: the same image and arguments. The API server defaults other fields between
 * invocations (imagePullPolicy, terminationMessagePath), so only what Signet chose is compared.
 */
export function isOurProxy(container: ContainerLike, image: string, ports: ProxyPorts): boolean {
  const args = container.args ?? [];
  const expected = proxyArgs(ports);
  return (
    container.image === image &&
    (container.command ?? []).length === 0 &&
    args.length === expected.length &&
    args.every((arg, i) => arg === expected[i])
  );
}

/** Every container of the pod, init containers included, by name. */
export function containerNamed(pod: PodLike, name: string): ContainerLike | undefined {
  return [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === name);
}
