import { describe, expect, it } from "vitest";
import {
  DenialReason,
  decidePodAdmission,
  type InjectionConfig,
  type JsonPatchOperation,
  type PodAdmissionRequest,
} from "./decide.ts";
import type { MachineIdentityLike } from "./identity.ts";
import type { ContainerLike, PodLike } from "./pod.ts";
import { parseProxyAnnotation } from "./proxy-sidecar.ts";
import { applyJsonPatch } from "./testing/json-patch.ts";

const IMAGE = "registry.example/signet:0.1.0";
const config: InjectionConfig = {
  trustDomain: "cluster.local",
  podCertificates: { supported: true, trustBundle: "ClusterTrustBundle" },
  proxyImage: IMAGE,
};
const MOUNT = "/var/run/secrets/signet.dev/identity";
const IDENTITY_MOUNT = { name: "signet-identity", mountPath: MOUNT, readOnly: true };
const ENV = [
  { name: "SIGNET_SPIFFE_ID", value: "spiffe://cluster.local/ns/shop/id/payments-api" },
  { name: "SIGNET_TLS_CERT_FILE", value: `${MOUNT}/tls.crt` },
  { name: "SIGNET_TLS_KEY_FILE", value: `${MOUNT}/tls.key` },
  { name: "SIGNET_TLS_CA_FILE", value: `${MOUNT}/ca.crt` },
];

function pod(proxy: string | null = "8443:8080", spec: Partial<PodLike["spec"]> = {}): PodLike {
  return {
    metadata: {
      labels: { app: "payments", "signet.dev/inject": "true" },
      annotations: {
        "signet.dev/identity": "payments-api",
        ...(proxy === null ? {} : { "signet.dev/proxy": proxy }),
      },
    },
    spec: {
      serviceAccountName: "payments",
      containers: [{ name: "app", image: "example.com/payments-api:1.4.2" }],
      ...spec,
    },
  };
}

function identity(spec: Partial<MachineIdentityLike["spec"]> = {}): MachineIdentityLike {
  return {
    spec: { serviceAccounts: ["payments"], ...spec },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
}

const create = (p: PodLike): PodAdmissionRequest => ({ operation: "CREATE", namespace: "shop", pod: p });

/** The sidecar exactly as the webhook adds it for "listen:upstream". */
function sidecar(listen: number, upstream: number, env = ENV): ContainerLike {
  return {
    name: "signet-proxy",
    image: IMAGE,
    args: [
      "proxy",
      "--listen",
      String(listen),
      "--upstream",
      `http://127.0.0.1:${upstream}`,
      "--identity-dir",
      MOUNT,
    ],
    ports: [{ name: "signet-proxy", containerPort: listen, protocol: "TCP" }],
    readinessProbe: { tcpSocket: { port: "signet-proxy" }, periodSeconds: 2, failureThreshold: 1 },
    resources: { requests: { cpu: "25m", memory: "64Mi" } },
    securityContext: {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [IDENTITY_MOUNT],
    env,
  };
}

function allowed(p: PodLike, mi = identity(), c = config) {
  const decision = decidePodAdmission(create(p), mi, c);
  if (!decision.allowed) throw new Error(`unexpectedly denied: ${decision.reason}: ${decision.message}`);
  return decision;
}

describe("decidePodAdmission with signet.dev/proxy: the patch", () => {
  const cases: { name: string; pod: PodLike; identity?: MachineIdentityLike; patch: JsonPatchOperation[] }[] =
    [
      {
        name: "should add the sidecar after the identity volume, mount and env, listening and forwarding as annotated",
        pod: pod("8443:8080"),
        patch: [
          {
            op: "add",
            path: "/spec/volumes",
            value: [
              {
                name: "signet-identity",
                secret: { secretName: "payments-api-identity", defaultMode: 0o444 },
              },
            ],
          },
          { op: "add", path: "/spec/containers/0/volumeMounts", value: [IDENTITY_MOUNT] },
          { op: "add", path: "/spec/containers/0/env", value: ENV },
          { op: "add", path: "/spec/containers/-", value: sidecar(8443, 8080) },
          { op: "add", path: "/metadata/labels/signet.dev~1identity", value: "payments-api" },
        ],
      },
      {
        name: "should take the ports in the annotation's order, the first for callers and the second upstream",
        pod: pod(" 443:3000 ", {
          containers: [{ name: "app", volumeMounts: [IDENTITY_MOUNT], env: ENV }],
          volumes: [{ name: "signet-identity", secret: { secretName: "payments-api-identity" } }],
        }),
        patch: [
          { op: "add", path: "/spec/containers/-", value: sidecar(443, 3000) },
          { op: "add", path: "/metadata/labels/signet.dev~1identity", value: "payments-api" },
        ],
      },
      {
        name: "should give the sidecar the bundle file's env too with delivery PodCertificate",
        pod: pod("8443:8080", {
          containers: [],
          volumes: [],
        }),
        identity: identity({ delivery: "PodCertificate", ttl: "24h" }),
        patch: [
          {
            op: "add",
            path: "/spec/volumes/-",
            value: {
              name: "signet-identity",
              projected: {
                defaultMode: 0o444,
                sources: [
                  {
                    podCertificate: {
                      signerName: "signet.dev/svid",
                      keyType: "ECDSAP256",
                      maxExpirationSeconds: 86_400,
                      credentialBundlePath: "credentials.pem",
                      keyPath: "tls.key",
                      certificateChainPath: "tls.crt",
                    },
                  },
                  {
                    clusterTrustBundle: { signerName: "signet.dev/svid", labelSelector: {}, path: "ca.crt" },
                  },
                ],
              },
            },
          },
          {
            op: "add",
            path: "/spec/containers/-",
            value: sidecar(8443, 8080, [
              ...ENV,
              { name: "SIGNET_CREDENTIAL_BUNDLE_FILE", value: `${MOUNT}/credentials.pem` },
            ]),
          },
          { op: "add", path: "/metadata/labels/signet.dev~1identity", value: "payments-api" },
        ],
      },
      {
        name: "should mount the identity into the sidecar when inject-containers leaves it out",
        pod: {
          ...pod("8443:8080", {
            containers: [{ name: "app" }, { name: "debug" }],
            volumes: [{ name: "signet-identity", secret: { secretName: "payments-api-identity" } }],
          }),
          metadata: {
            labels: { "signet.dev/inject": "true", "signet.dev/identity": "payments-api" },
            annotations: {
              "signet.dev/identity": "payments-api",
              "signet.dev/proxy": "8443:8080",
              "signet.dev/inject-containers": "app",
            },
          },
        },
        patch: [
          { op: "add", path: "/spec/containers/0/volumeMounts", value: [IDENTITY_MOUNT] },
          { op: "add", path: "/spec/containers/0/env", value: ENV },
          { op: "add", path: "/spec/containers/-", value: sidecar(8443, 8080) },
        ],
      },
      {
        name: "should add no sidecar to a pod without the annotation",
        pod: pod(null, {
          containers: [{ name: "app", volumeMounts: [IDENTITY_MOUNT], env: ENV }],
          volumes: [{ name: "signet-identity", secret: { secretName: "payments-api-identity" } }],
        }),
        patch: [{ op: "add", path: "/metadata/labels/signet.dev~1identity", value: "payments-api" }],
      },
    ];
  it.each(cases)("$name", ({ pod: p, identity: mi, patch }) => {
    expect(allowed(p, mi)).toEqual({ allowed: true, patch, warnings: [] });
  });

  it("should leave a pod that does not opt in alone, annotation or not", () => {
    const p = { ...pod(), metadata: { annotations: { "signet.dev/proxy": "8443:8080" } } };
    expect(decidePodAdmission(create(p), undefined, { trustDomain: "cluster.local" })).toEqual({
      allowed: true,
      patch: [],
      warnings: [],
    });
  });

  it("should warn that the proxy cannot read AccessPolicies when the pod mounts no ServiceAccount token", () => {
    expect(allowed(pod("8443:8080", { automountServiceAccountToken: false })).warnings).toEqual([
      "the pod sets automountServiceAccountToken: false, so signet-proxy has no token to read AccessPolicies " +
        "with and never serves; mount the token, or run the proxy with --policies-file",
    ]);
  });
});

describe("decidePodAdmission with signet.dev/proxy under reinvocation", () => {
  /** What the API server adds to a container between the invocations: its defaults. */
  const defaulted = (p: PodLike): PodLike => ({
    ...p,
    spec: {
      ...p.spec,
      containers: p.spec.containers.map((c) => ({
        ...c,
        imagePullPolicy: "IfNotPresent",
        terminationMessagePath: "/dev/termination-log",
        terminationMessagePolicy: "File",
      })),
    },
  });
  const cases = [
    { name: "should return an empty patch for its own output", pod: pod(), change: (p: PodLike) => p },
    {
      name: "should return an empty patch once the API server has defaulted the sidecar",
      pod: pod(),
      change: defaulted,
    },
    {
      name: "should return an empty patch for its own output with delivery PodCertificate",
      pod: pod(),
      identity: identity({ delivery: "PodCertificate", ttl: "24h" }),
      change: (p: PodLike) => p,
    },
  ];
  it.each(cases)("$name", ({ pod: p, identity: mi = identity(), change }) => {
    const once = change(applyJsonPatch(p, allowed(p, mi).patch));
    expect(once.spec.containers.map((c) => c.name)).toEqual(["app", "signet-proxy"]);
    expect(decidePodAdmission(create(once), mi, config)).toEqual({ allowed: true, patch: [], warnings: [] });
  });
});

describe("decidePodAdmission with signet.dev/proxy: denials", () => {
  const invalid = (value: string) =>
    `annotation signet.dev/proxy is ${JSON.stringify(value)}; expected "<listen port>:<upstream port>", ` +
    'e.g. "8443:8080": two different ports from 1 to 65535, the first where callers reach the proxy, ' +
    "the second where the workload listens on 127.0.0.1";
  const badValues = [
    "8443",
    "",
    "8443:",
    ":8080",
    "8443:8443",
    "0:8080",
    "8443:0",
    "8443:65536",
    "https:http",
    "8443:8080:1",
    "8443-8080",
    "+8443:8080",
  ];
  it.each(badValues)(
    "should deny the annotation value %j, naming the annotation and the expected form",
    (value) => {
      expect(decidePodAdmission(create(pod(value)), identity(), config)).toEqual({
        allowed: false,
        reason: DenialReason.ProxyAnnotationInvalid,
        message: invalid(value),
      });
    },
  );

  const cases: {
    name: string;
    pod: PodLike;
    config?: InjectionConfig;
    identity?: MachineIdentityLike;
    reason: DenialReason;
    message: string;
  }[] = [
    {
      name: "should deny a port the sidecar's metrics take",
      pod: pod("9090:8080"),
      reason: DenialReason.ProxyAnnotationInvalid,
      message:
        'annotation signet.dev/proxy is "9090:8080"; port 9090 is where the signet-proxy sidecar serves its ' +
        "metrics in the pod: choose other ports",
    },
    {
      name: "should deny when the cluster's Signet has no proxy image configured",
      pod: pod(),
      config: { trustDomain: "cluster.local" },
      reason: DenialReason.ProxyImageNotConfigured,
      message:
        "pod asks for the signet-proxy sidecar with annotation signet.dev/proxy, but this cluster's Signet has no " +
        "proxy image configured (operator flag --proxy-image, env SIGNET_PROXY_IMAGE; the chart sets it); ask " +
        "the cluster's administrator to set it, or remove the annotation and run the proxy yourself",
    },
    {
      name: "should deny a container of the pod's own named signet-proxy",
      pod: pod("8443:8080", {
        containers: [{ name: "app" }, { name: "signet-proxy", image: "envoyproxy/envoy" }],
      }),
      reason: DenialReason.ProxyContainerConflict,
      message:
        "pod asks for the signet-proxy sidecar with annotation signet.dev/proxy and already has a container named " +
        `"signet-proxy" that is not Signet's (image ${IMAGE}, args proxy ...); rename your container, or remove the annotation`,
    },
    {
      name: "should deny a signet-proxy container with Signet's arguments and another image",
      pod: pod("8443:8080", {
        containers: [{ name: "app" }, { ...sidecar(8443, 8080), image: "example.com/lookalike:1" }],
      }),
      reason: DenialReason.ProxyContainerConflict,
      message: 'already has a container named "signet-proxy" that is not Signet\'s',
    },
    {
      name: "should deny a signet-proxy container of Signet's image for other ports than the annotation's",
      pod: pod("8443:8080", { containers: [{ name: "app" }, sidecar(8443, 9000)] }),
      reason: DenialReason.ProxyContainerConflict,
      message: 'already has a container named "signet-proxy" that is not Signet\'s',
    },
    {
      name: "should deny a signet-proxy container of Signet's image and arguments with a command of its own",
      pod: pod("8443:8080", {
        containers: [{ name: "app" }, { ...sidecar(8443, 8080), command: ["sh", "-c"] }],
      }),
      reason: DenialReason.ProxyContainerConflict,
      message: 'already has a container named "signet-proxy" that is not Signet\'s',
    },
    {
      name: "should deny an init container named signet-proxy, even one like Signet's",
      pod: pod("8443:8080", { initContainers: [sidecar(8443, 8080)] }),
      reason: DenialReason.ProxyContainerConflict,
      message: 'already has a container named "signet-proxy" that is not Signet\'s',
    },
    {
      name: "should decide the identity first: a missing identity is named, not the proxy",
      pod: pod("nonsense"),
      identity: undefined,
      reason: DenialReason.IdentityNotFound,
      message: 'MachineIdentity "shop/payments-api" does not exist',
    },
  ];
  it.each(cases)("$name", ({ pod: p, config: c = config, reason, message, ...rest }) => {
    const mi = "identity" in rest ? rest.identity : identity();
    const decision = decidePodAdmission(create(p), mi, c);
    expect(decision).toMatchObject({ allowed: false, reason });
    expect((decision as { message: string }).message).toContain(message);
  });
});

describe("parseProxyAnnotation", () => {
  it.each([
    { value: "8443:8080", ports: { listen: 8443, upstream: 8080 } },
    { value: "1:65535", ports: { listen: 1, upstream: 65535 } },
    { value: "08443:8080", ports: { listen: 8443, upstream: 8080 } },
  ])("should read $value as listen $ports.listen and upstream $ports.upstream", ({ value, ports }) => {
    expect(parseProxyAnnotation(value)).toEqual(ports);
  });
});
