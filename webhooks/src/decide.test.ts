import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_TTL } from "../../operator/src/api/machine-identity.ts";
import {
  type AdmissionDecision,
  API_DEFAULT_TTL,
  DenialReason,
  decidePodAdmission,
  escapeJsonPointer,
  type InjectionConfig,
  type PodAdmissionRequest,
  requestedIdentityName,
} from "./decide.ts";
import type { MachineIdentityLike } from "./identity.ts";
import type { PodLike } from "./pod.ts";
import { applyJsonPatch } from "./testing/json-patch.ts";

const config: InjectionConfig = {
  trustDomain: "cluster.local",
  podCertificates: { supported: true, trustBundle: "ClusterTrustBundle" },
};
/** A cluster that serves PodCertificateRequests and no ClusterTrustBundles. */
const configMapConfig: InjectionConfig = {
  trustDomain: "cluster.local",
  podCertificates: { supported: true, trustBundle: "ConfigMap" },
};
const MOUNT = "/var/run/secrets/signet.dev/identity";

function pod(
  overrides: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): PodLike {
  return {
    metadata: {
      generateName: "payments-",
      labels: overrides.labels ?? { app: "payments", "signet.dev/inject": "true" },
      annotations: overrides.annotations ?? { "signet.dev/identity": "payments-api" },
    },
    spec: { serviceAccountName: "payments", containers: [{ name: "app", image: "pause" }] },
  };
}

function identity(spec: Partial<MachineIdentityLike["spec"]> = {}, status?: MachineIdentityLike["status"]) {
  return {
    spec: { serviceAccounts: ["payments"], ...spec },
    status: status ?? { conditions: [{ type: "Ready", status: "True" }] },
  } satisfies MachineIdentityLike;
}

function create(p: PodLike, namespace = "shop"): PodAdmissionRequest {
  return { operation: "CREATE", namespace, pod: p };
}

function mutated(p: PodLike, mi: MachineIdentityLike = identity(), c: InjectionConfig = config): PodLike {
  const decision = decidePodAdmission(create(p), mi, c);
  if (!decision.allowed) throw new Error(`unexpectedly denied: ${decision.message}`);
  return applyJsonPatch(p, decision.patch);
}

function withSpec(spec: Partial<PodLike["spec"]>, base: PodLike = pod()): PodLike {
  return { ...base, spec: { ...base.spec, ...spec } };
}

describe("decidePodAdmission: pods that are not decided", () => {
  const cases: { name: string; request: PodAdmissionRequest }[] = [
    { name: "should allow a pod without the opt-in label", request: create(pod({ labels: { app: "x" } })) },
    {
      name: "should allow a pod whose opt-in label is not exactly true",
      request: create(pod({ labels: { "signet.dev/inject": "True" } })),
    },
    {
      name: "should allow a pod that names an identity without opting in",
      request: create(pod({ labels: {}, annotations: { "signet.dev/identity": "payments-api" } })),
    },
    {
      name: "should allow the update of an opted-in pod",
      request: { ...create(pod()), operation: "UPDATE" },
    },
    {
      name: "should allow the deletion of an opted-in pod",
      request: { ...create(pod()), operation: "DELETE" },
    },
  ];
  it.each(cases)("$name, with no patch at all", ({ request }) => {
    expect(decidePodAdmission(request, undefined, config)).toEqual({
      allowed: true,
      patch: [],
      warnings: [],
    });
  });
});

describe("decidePodAdmission: denials say what failed and how to fix it", () => {
  const cases: {
    name: string;
    pod: PodLike;
    identity: MachineIdentityLike | undefined;
    reason: DenialReason;
    message: string;
  }[] = [
    {
      name: "should deny an opted-in pod without the identity annotation",
      pod: pod({ annotations: {} }),
      identity: identity(),
      reason: DenialReason.IdentityAnnotationMissing,
      message:
        'pod opts in with label signet.dev/inject="true" but has no annotation signet.dev/identity; ' +
        'set it to the name of a MachineIdentity in namespace "shop", or remove the label',
    },
    {
      name: "should deny a name that reaches into another namespace",
      pod: pod({ annotations: { "signet.dev/identity": "finance/ledger" } }),
      identity: identity(),
      reason: DenialReason.IdentityInOtherNamespace,
      message:
        'annotation signet.dev/identity "finance/ledger" looks like a reference to another namespace; ' +
        'a pod can only hold a MachineIdentity of its own namespace "shop": ' +
        'write the plain name and create the MachineIdentity in "shop"',
    },
    {
      name: "should deny a name that cannot be a label value",
      pod: pod({ annotations: { "signet.dev/identity": "Payments_API" } }),
      identity: identity(),
      reason: DenialReason.IdentityNameInvalid,
      message: 'annotation signet.dev/identity "Payments_API" is not a valid MachineIdentity name',
    },
    {
      name: "should deny a name longer than a label value may be",
      pod: pod({ annotations: { "signet.dev/identity": "a".repeat(64) } }),
      identity: identity(),
      reason: DenialReason.IdentityNameInvalid,
      message: "at most 63 characters",
    },
    {
      name: "should deny when the identity does not exist",
      pod: pod(),
      identity: undefined,
      reason: DenialReason.IdentityNotFound,
      message:
        'MachineIdentity "shop/payments-api" does not exist; create it in namespace "shop" ' +
        "or correct the annotation signet.dev/identity",
    },
    {
      name: "should deny when the identity is suspended",
      pod: pod(),
      identity: identity({ suspend: true }),
      reason: DenialReason.IdentitySuspended,
      message:
        'MachineIdentity "shop/payments-api" is suspended (spec.suspend: true); ' +
        "no pod may take it until spec.suspend is false again",
    },
    {
      name: "should deny a pod of an identity held by machines outside the cluster",
      pod: pod(),
      identity: identity({ delivery: "External", serviceAccounts: undefined }),
      reason: DenialReason.IdentityExternal,
      message:
        'MachineIdentity "shop/payments-api" has spec.delivery External: it is held by machines outside the cluster that enroll with a ' +
        "single-use token, never by a pod; give the pod an identity with delivery Secret or PodCertificate",
    },
    {
      name: "should deny a pod of an External identity even if a ServiceAccount list were left on it",
      pod: pod(),
      identity: identity({ delivery: "External" }),
      reason: DenialReason.IdentityExternal,
      message:
        'MachineIdentity "shop/payments-api" has spec.delivery External: it is held by machines outside the cluster that enroll with a ' +
        "single-use token, never by a pod; give the pod an identity with delivery Secret or PodCertificate",
    },
    {
      name: "should deny a pod without a ServiceAccount, which runs as default, when default is not listed",
      pod: withSpec({ serviceAccountName: undefined }),
      identity: identity(),
      reason: DenialReason.ServiceAccountNotListed,
      message:
        'MachineIdentity "shop/payments-api" does not list ServiceAccount "default" in spec.serviceAccounts; ' +
        "add it there or run the pod as one of: payments",
    },
    {
      name: "should deny a pod whose deprecated serviceAccount field names an unlisted account",
      pod: withSpec({ serviceAccountName: undefined, serviceAccount: "ledger" }),
      identity: identity({ serviceAccounts: ["payments", "checkout"] }),
      reason: DenialReason.ServiceAccountNotListed,
      message:
        'does not list ServiceAccount "ledger" in spec.serviceAccounts; add it there or run the pod as one of: payments, checkout',
    },
    {
      name: "should deny an inject-containers annotation naming a container the pod lacks",
      pod: pod({
        annotations: { "signet.dev/identity": "payments-api", "signet.dev/inject-containers": "app,proxy" },
      }),
      identity: identity(),
      reason: DenialReason.InjectContainersInvalid,
      message:
        'annotation signet.dev/inject-containers names "proxy", not a container of this pod; use names from: app',
    },
    {
      name: "should deny an inject-containers annotation naming no container at all",
      pod: pod({
        annotations: { "signet.dev/identity": "payments-api", "signet.dev/inject-containers": " , " },
      }),
      identity: identity(),
      reason: DenialReason.InjectContainersInvalid,
      message: "names no container",
    },
    {
      name: "should deny a pod that already uses the volume name for something else",
      pod: withSpec({ volumes: [{ name: "signet-identity", emptyDir: {} }] }),
      identity: identity(),
      reason: DenialReason.VolumeNameConflict,
      message:
        'pod already has a volume named "signet-identity" that is not Secret "payments-api-identity" of ' +
        'MachineIdentity "shop/payments-api"; Signet needs that volume name for the identity: rename your volume',
    },
    {
      name: "should deny a container that mounts something else at the identity path",
      pod: withSpec({
        containers: [{ name: "app", volumeMounts: [{ name: "data", mountPath: `${MOUNT}/` }] }],
        volumes: [{ name: "data", emptyDir: {} }],
      }),
      identity: identity(),
      reason: DenialReason.MountPathConflict,
      message:
        'container "app" already mounts volume "data" at /var/run/secrets/signet.dev/identity, ' +
        "where Signet mounts the identity; move that mount elsewhere",
    },
  ];
  it.each(cases)("$name", ({ pod: p, identity: mi, reason, message }) => {
    const decision = decidePodAdmission(create(p), mi, config);
    expect(decision).toMatchObject({ allowed: false, reason });
    expect((decision as { message: string }).message).toContain(message);
  });
});

describe("decidePodAdmission: the pod an authorized request becomes", () => {
  it("should add the Secret volume, a read-only mount and the env in every container, and the label", () => {
    const p = withSpec({
      containers: [{ name: "app" }, { name: "proxy", env: [{ name: "PORT", value: "8443" }] }],
      initContainers: [{ name: "init", volumeMounts: [{ name: "data", mountPath: "/data" }] }],
      volumes: [{ name: "data", emptyDir: {} }],
    });
    const env = [
      { name: "SIGNET_SPIFFE_ID", value: "spiffe://cluster.local/ns/shop/id/payments-api" },
      { name: "SIGNET_TLS_CERT_FILE", value: `${MOUNT}/tls.crt` },
      { name: "SIGNET_TLS_KEY_FILE", value: `${MOUNT}/tls.key` },
      { name: "SIGNET_TLS_CA_FILE", value: `${MOUNT}/ca.crt` },
    ];
    const mount = { name: "signet-identity", mountPath: MOUNT, readOnly: true };
    expect(mutated(p)).toEqual({
      metadata: {
        generateName: "payments-",
        labels: { app: "payments", "signet.dev/inject": "true", "signet.dev/identity": "payments-api" },
        annotations: { "signet.dev/identity": "payments-api" },
      },
      spec: {
        serviceAccountName: "payments",
        containers: [
          { name: "app", volumeMounts: [mount], env },
          { name: "proxy", volumeMounts: [mount], env: [{ name: "PORT", value: "8443" }, ...env] },
        ],
        initContainers: [{ name: "init", volumeMounts: [{ name: "data", mountPath: "/data" }, mount], env }],
        volumes: [
          { name: "data", emptyDir: {} },
          { name: "signet-identity", secret: { secretName: "payments-api-identity", defaultMode: 0o444 } },
        ],
      },
    });
  });

  it("should escape the label key's slash in the JSON Pointer", () => {
    const decision = decidePodAdmission(create(pod()), identity(), config) as AdmissionDecision & {
      allowed: true;
    };
    expect(decision.patch.at(-1)).toEqual({
      op: "add",
      path: "/metadata/labels/signet.dev~1identity",
      value: "payments-api",
    });
    expect(escapeJsonPointer("a/b~c")).toBe("a~1b~0c");
  });

  it("should inject only into the containers the annotation names, init containers included", () => {
    const p = withSpec(
      { containers: [{ name: "app" }, { name: "debug" }], initContainers: [{ name: "fetch" }] },
      pod({
        annotations: { "signet.dev/identity": "payments-api", "signet.dev/inject-containers": "app, fetch" },
      }),
    );
    const spec = mutated(p).spec;
    expect(spec.containers.map((c) => c.volumeMounts?.length ?? 0)).toEqual([1, 0]);
    expect(spec.containers[1]?.env).toBeUndefined();
    expect(spec.initContainers?.[0]?.volumeMounts).toEqual([
      { name: "signet-identity", mountPath: MOUNT, readOnly: true },
    ]);
  });

  const modes = [
    { name: "should make the files group-readable when the pod has an fsGroup", fsGroup: 2000, mode: 0o440 },
    {
      name: "should make the files readable by any user when the pod has no fsGroup",
      fsGroup: undefined,
      mode: 0o444,
    },
  ];
  it.each(modes)("$name", ({ fsGroup, mode }) => {
    const volumes = mutated(withSpec({ securityContext: { fsGroup } })).spec.volumes;
    expect(volumes?.[0]).toMatchObject({ secret: { defaultMode: mode } });
  });

  it("should mount the Secret the identity names in spec.secretName", () => {
    const volumes = mutated(pod(), identity({ secretName: "pay-tls" })).spec.volumes;
    expect(volumes).toEqual([
      { name: "signet-identity", secret: { secretName: "pay-tls", defaultMode: 0o444 } },
    ]);
  });

  const spiffeIds: { name: string; identity: MachineIdentityLike; expected: string }[] = [
    {
      name: "should take spec.spiffeID when the status still reports the one before the spec changed",
      identity: identity({ spiffeID: "spiffe://a/new" }, {
        spiffeID: "spiffe://a/old",
      } as MachineIdentityLike["status"]),
      expected: "spiffe://a/new",
    },
    {
      name: "should take the default when spec.spiffeID was removed and the status still reports it",
      identity: identity({}, { spiffeID: "spiffe://a/old" } as MachineIdentityLike["status"]),
      expected: "spiffe://cluster.local/ns/shop/id/payments-api",
    },
    {
      name: "should use spec.spiffeID when the status has none yet",
      identity: identity({ spiffeID: "spiffe://a/spec" }, {}),
      expected: "spiffe://a/spec",
    },
    {
      name: "should default to the namespace and name under the configured trust domain",
      identity: identity({}, {}),
      expected: "spiffe://cluster.local/ns/shop/id/payments-api",
    },
  ];
  it.each(spiffeIds)("$name", ({ identity: mi, expected }) => {
    const env = mutated(pod(), mi).spec.containers[0]?.env;
    expect(env?.find((e) => e.name === "SIGNET_SPIFFE_ID")).toEqual({
      name: "SIGNET_SPIFFE_ID",
      value: expected,
    });
  });

  it("should leave an env var the user set alone and say so", () => {
    const p = withSpec({
      containers: [{ name: "app", env: [{ name: "SIGNET_TLS_CA_FILE", value: "/etc/ca.pem" }] }],
    });
    const decision = decidePodAdmission(create(p), identity(), config);
    expect(decision).toMatchObject({
      allowed: true,
      warnings: ['container "app" sets SIGNET_TLS_CA_FILE itself; Signet left it unchanged'],
    });
    const env = mutated(p).spec.containers[0]?.env ?? [];
    expect(env.filter((e) => e.name === "SIGNET_TLS_CA_FILE")).toEqual([
      { name: "SIGNET_TLS_CA_FILE", value: "/etc/ca.pem" },
    ]);
    expect(env).toHaveLength(4);
  });

  it("should overwrite a hand-set identity label with the annotated name and say so", () => {
    const p = pod({ labels: { "signet.dev/inject": "true", "signet.dev/identity": "admin" } });
    const decision = decidePodAdmission(create(p), identity(), config) as AdmissionDecision & {
      allowed: true;
    };
    expect(decision.patch).toContainEqual({
      op: "replace",
      path: "/metadata/labels/signet.dev~1identity",
      value: "payments-api",
    });
    expect(decision.warnings).toContain(
      'label signet.dev/identity was "admin"; only Signet sets it, and set it to "payments-api"',
    );
  });

  it("should warn that the pod waits when the identity is not Ready yet", () => {
    const decision = decidePodAdmission(create(pod()), identity({}, {}), config);
    expect(decision).toMatchObject({
      allowed: true,
      warnings: [
        'MachineIdentity "shop/payments-api" is not Ready yet; the pod starts once Secret "payments-api-identity" exists',
      ],
    });
  });
});

describe("requestedIdentityName", () => {
  const cases = [
    { name: "should name the annotated identity of an opted-in pod", pod: pod(), expected: "payments-api" },
    {
      name: "should name nothing for a pod that does not opt in",
      pod: pod({ labels: {} }),
      expected: undefined,
    },
    {
      name: "should name nothing for a reference to another namespace",
      pod: pod({ annotations: { "signet.dev/identity": "finance/ledger" } }),
      expected: undefined,
    },
  ];
  it.each(cases)("$name", ({ pod: p, expected }) => {
    expect(requestedIdentityName(p)).toBe(expected);
  });
});

describe("decidePodAdmission under reinvocation", () => {
  const name = fc.constantFrom("app", "proxy", "init", "signet-identity", "data");
  const envVar = fc.record({
    name: fc.constantFrom("PORT", "SIGNET_SPIFFE_ID", "SIGNET_TLS_KEY_FILE", "SIGNET_TLS_CERT_FILE"),
    value: fc.string({ maxLength: 5 }),
  });
  const mount = fc.record({
    name: fc.constantFrom("data", "signet-identity", "cache"),
    mountPath: fc.constantFrom("/data", "/cache", MOUNT),
  });
  const container = fc.record(
    {
      name,
      env: fc.option(fc.uniqueArray(envVar, { selector: (e) => e.name, maxLength: 3 }), { nil: undefined }),
      volumeMounts: fc.option(fc.uniqueArray(mount, { selector: (m) => m.mountPath, maxLength: 3 }), {
        nil: undefined,
      }),
    },
    { requiredKeys: ["name"] },
  );
  const containers = fc.uniqueArray(container, { selector: (c) => c.name, minLength: 1, maxLength: 4 });
  const podArb = fc
    .record({
      containers,
      init: fc.boolean(),
      volumes: fc.option(
        fc.uniqueArray(
          fc.record({
            name: fc.constantFrom("data", "cache", "signet-identity"),
            secret: fc.record({ secretName: fc.constantFrom("payments-api-identity", "other") }),
          }),
          { selector: (v) => v.name, maxLength: 3 },
        ),
        { nil: undefined },
      ),
      selection: fc.option(fc.constantFrom("app", "app,init", "proxy"), { nil: undefined }),
      label: fc.option(fc.constantFrom("payments-api", "admin"), { nil: undefined }),
    })
    .map(({ containers: cs, init, volumes, selection, label }): PodLike => {
      const split = init ? Math.ceil(cs.length / 2) : cs.length;
      return {
        metadata: {
          labels: { "signet.dev/inject": "true", ...(label ? { "signet.dev/identity": label } : {}) },
          annotations: {
            "signet.dev/identity": "payments-api",
            ...(selection ? { "signet.dev/inject-containers": selection } : {}),
          },
        },
        spec: {
          serviceAccountName: "payments",
          containers: cs.slice(0, split),
          ...(init ? { initContainers: cs.slice(split) } : {}),
          ...(volumes ? { volumes } : {}),
        },
      };
    });

  const delivery = fc.constantFrom("Secret" as const, "PodCertificate" as const);

  it("should return an empty patch for its own output and never duplicate a volume, mount or env var", () => {
    fc.assert(
      fc.property(podArb, delivery, (p, d) => {
        const mi = identity({ delivery: d, ttl: "24h" });
        const first = decidePodAdmission(create(p), mi, config);
        if (!first.allowed) return;
        const once = applyJsonPatch(p, first.patch);
        expect(decidePodAdmission(create(once), mi, config)).toMatchObject({
          allowed: true,
          patch: [],
        });
        const unique = (names: string[]) => expect(new Set(names).size).toBe(names.length);
        unique((once.spec.volumes ?? []).map((v) => v.name));
        for (const c of [...once.spec.containers, ...(once.spec.initContainers ?? [])]) {
          unique((c.env ?? []).map((e) => e.name));
          unique((c.volumeMounts ?? []).map((m) => m.mountPath));
        }
        expect(once.metadata?.labels?.["signet.dev/identity"]).toBe("payments-api");
      }),
      { numRuns: 2000 },
    );
  });
});

describe("decidePodAdmission: delivery PodCertificate", () => {
  const kubelet = (spec: Partial<MachineIdentityLike["spec"]> = {}, status?: MachineIdentityLike["status"]) =>
    identity({ delivery: "PodCertificate", ttl: "24h", ...spec }, status);
  const decide = (mi: MachineIdentityLike, c: InjectionConfig = config, p: PodLike = pod()) =>
    decidePodAdmission(create(p), mi, c);
  type ProjectedVolume = { projected: { sources: Record<string, Record<string, unknown> | null>[] } };
  const injectedVolume = (p: PodLike) => p.spec.volumes?.find((v) => v.name === "signet-identity");
  const projectedOf = (p: PodLike) => injectedVolume(p) as unknown as ProjectedVolume;
  const podCertificateOf = (mi: MachineIdentityLike) =>
    projectedOf(mutated(pod(), mi)).projected.sources[0]?.podCertificate;

  const CLUSTER_TRUST_BUNDLE_SOURCE = {
    clusterTrustBundle: { signerName: "signet.dev/svid", labelSelector: {}, path: "ca.crt" },
  };
  const CONFIG_MAP_SOURCE = {
    configMap: { name: "signet-trust-bundle", items: [{ key: "ca.crt", path: "ca.crt" }] },
  };
  const forms = [
    {
      name: "should inject a projected volume of the kubelet's pod certificate and the signer's trust bundles, the same mount and env, and the bundle file",
      config,
      trustSource: CLUSTER_TRUST_BUNDLE_SOURCE,
    },
    {
      name: "should take ca.crt from the trust ConfigMap instead where the API server serves no ClusterTrustBundles, with the same mount, files and env",
      config: configMapConfig,
      trustSource: CONFIG_MAP_SOURCE,
    },
  ];
  it.each(forms)("$name", ({ config: c, trustSource }) => {
    const p = withSpec({ containers: [{ name: "app" }], volumes: [{ name: "data", emptyDir: {} }] });
    const spec = mutated(p, kubelet(), c).spec;
    expect(spec.volumes).toEqual([
      { name: "data", emptyDir: {} },
      {
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
            trustSource,
          ],
        },
      },
    ]);
    expect(spec.containers).toEqual([
      {
        name: "app",
        volumeMounts: [{ name: "signet-identity", mountPath: MOUNT, readOnly: true }],
        env: [
          { name: "SIGNET_SPIFFE_ID", value: "spiffe://cluster.local/ns/shop/id/payments-api" },
          { name: "SIGNET_TLS_CERT_FILE", value: `${MOUNT}/tls.crt` },
          { name: "SIGNET_TLS_KEY_FILE", value: `${MOUNT}/tls.key` },
          { name: "SIGNET_TLS_CA_FILE", value: `${MOUNT}/ca.crt` },
          { name: "SIGNET_CREDENTIAL_BUNDLE_FILE", value: `${MOUNT}/credentials.pem` },
        ],
      },
    ]);
  });

  it("should give the files mode 0440 when the pod has an fsGroup, as with a Secret", () => {
    const volume = injectedVolume(mutated(withSpec({ securityContext: { fsGroup: 2000 } }), kubelet()));
    expect(volume).toMatchObject({ projected: { defaultMode: 0o440 } });
  });

  const keyTypes: { name: string; privateKey: MachineIdentityLike["spec"]["privateKey"]; keyType: string }[] =
    [
      {
        name: "should ask for P-256 when the identity names no key",
        privateKey: undefined,
        keyType: "ECDSAP256",
      },
      {
        name: "should ask for P-256 for ECDSA without a size",
        privateKey: { algorithm: "ECDSA" },
        keyType: "ECDSAP256",
      },
      {
        name: "should ask for P-256 for ECDSA 256",
        privateKey: { algorithm: "ECDSA", size: 256 },
        keyType: "ECDSAP256",
      },
      {
        name: "should ask for P-384 for ECDSA 384",
        privateKey: { algorithm: "ECDSA", size: 384 },
        keyType: "ECDSAP384",
      },
      {
        name: "should ask for Ed25519 for Ed25519",
        privateKey: { algorithm: "Ed25519" },
        keyType: "ED25519",
      },
      {
        name: "should ask for RSA 3072 for RSA 3072",
        privateKey: { algorithm: "RSA", size: 3072 },
        keyType: "RSA3072",
      },
      {
        name: "should ask for RSA 4096 for RSA 4096",
        privateKey: { algorithm: "RSA", size: 4096 },
        keyType: "RSA4096",
      },
    ];
  it.each(keyTypes)("$name", ({ privateKey, keyType }) => {
    expect(podCertificateOf(kubelet({ privateKey }))).toMatchObject({ keyType });
  });

  const lifetimes: { name: string; ttl: string | undefined; seconds: number }[] = [
    { name: "should ask for the ttl in seconds", ttl: "24h", seconds: 86_400 },
    { name: "should count whole seconds, dropping a fraction", ttl: "90m30.9s", seconds: 5_430 },
    {
      name: "should ask for the API server's minimum when the ttl is the minimum",
      ttl: "1h",
      seconds: 3_600,
    },
    { name: "should raise a ttl below an hour to the API server's minimum", ttl: "59m59s", seconds: 3_600 },
    {
      name: "should ask for the API server's maximum of 91 days at 91 days",
      ttl: "2184h",
      seconds: 7_862_400,
    },
    {
      name: "should cut a ttl above 91 days to the API server's maximum",
      ttl: "2184h0m1s",
      seconds: 7_862_400,
    },
    { name: "should cut a year to the API server's maximum", ttl: "8760h", seconds: 7_862_400 },
    { name: "should take the API's default ttl when the identity has none", ttl: undefined, seconds: 3_600 },
  ];
  it.each(lifetimes)("$name", ({ ttl, seconds }) => {
    expect(podCertificateOf(kubelet({ ttl }))).toMatchObject({ maxExpirationSeconds: seconds });
  });

  it("should know the API's default ttl", () => {
    expect(API_DEFAULT_TTL).toBe(DEFAULT_TTL);
  });

  const denials: {
    name: string;
    identity: MachineIdentityLike;
    config?: InjectionConfig;
    pod?: PodLike;
    reason: DenialReason;
    message: string[];
  }[] = [
    {
      name: "should deny when the cluster serves no pod certificates, naming the identity, what is missing and the fix",
      identity: kubelet(),
      config: {
        trustDomain: "cluster.local",
        podCertificates: {
          supported: false,
          missing: "the API server serves no certificates.k8s.io PodCertificateRequests",
        },
      },
      reason: DenialReason.PodCertificateUnsupported,
      message: [
        'MachineIdentity "shop/payments-api" has spec.delivery PodCertificate, but the API server serves no certificates.k8s.io PodCertificateRequests; ',
        "Signet refused the pod rather than let it start without its certificate",
        'set spec.delivery of MachineIdentity "shop/payments-api" to Secret',
      ],
    },
    {
      name: "should deny when nobody has told the decision whether the cluster serves pod certificates",
      identity: kubelet(),
      config: { trustDomain: "cluster.local" },
      reason: DenialReason.PodCertificateUnsupported,
      message: ["Signet has not learned whether the API server serves PodCertificateRequests", "to Secret"],
    },
    {
      name: "should deny an RSA 2048 key, which the kubelet cannot generate",
      identity: kubelet({ privateKey: { algorithm: "RSA", size: 2048 } }),
      reason: DenialReason.PodCertificateSpecInvalid,
      message: [
        'MachineIdentity "shop/payments-api" has spec.delivery PodCertificate and spec.privateKey RSA of 2048 bits',
        "set spec.privateKey to ECDSA (256 or 384), Ed25519 or RSA (3072 or 4096), or set spec.delivery to Secret",
      ],
    },
    {
      name: "should deny RSA of the default size, which is 2048",
      identity: kubelet({ privateKey: { algorithm: "RSA" } }),
      reason: DenialReason.PodCertificateSpecInvalid,
      message: ["spec.privateKey RSA of the default size"],
    },
    {
      name: "should deny a ttl that is not a duration",
      identity: kubelet({ ttl: "a day" }),
      reason: DenialReason.PodCertificateSpecInvalid,
      message: ['MachineIdentity "shop/payments-api" has spec.ttl "a day", which is not a duration'],
    },
    {
      name: "should deny a pod whose signet-identity volume is the identity's Secret",
      identity: kubelet(),
      pod: withSpec({
        volumes: [{ name: "signet-identity", secret: { secretName: "payments-api-identity" } }],
      }),
      reason: DenialReason.VolumeNameConflict,
      message: [
        'pod already has a volume named "signet-identity" that is not the podCertificate volume Signet injects ' +
          'for MachineIdentity "shop/payments-api"; Signet needs that volume name for the identity: rename your volume',
      ],
    },
  ];
  it.each(denials)("$name", ({ identity: mi, config: c, pod: p, reason, message }) => {
    const decision = decide(mi, c, p);
    expect(decision).toMatchObject({ allowed: false, reason });
    for (const part of message) expect((decision as { message: string }).message).toContain(part);
  });

  const reinvocations = [
    {
      name: "should leave its own volume alone on reinvocation, with an empty patch",
      first: config,
      again: config,
    },
    {
      name: "should leave its own ConfigMap form alone on reinvocation, with an empty patch",
      first: configMapConfig,
      again: configMapConfig,
    },
    {
      name: "should leave the ClusterTrustBundle form alone when discovery has since answered ConfigMap",
      first: config,
      again: configMapConfig,
    },
    {
      name: "should leave the ConfigMap form alone when discovery has since answered ClusterTrustBundle",
      first: configMapConfig,
      again: config,
    },
  ];
  it.each(reinvocations)("$name", ({ first, again }) => {
    const once = mutated(withSpec({ initContainers: [{ name: "init" }] }), kubelet(), first);
    expect(decide(kubelet(), again, once)).toEqual({ allowed: true, patch: [], warnings: [] });
  });

  it("should take a volume with null members for its own, as the API server's JSON may carry them", () => {
    const once = mutated(pod(), kubelet());
    const volume = projectedOf(once);
    volume.projected.sources = volume.projected.sources.map((source) => ({ ...source, secret: null }));
    expect(decide(kubelet(), config, once)).toMatchObject({ allowed: true, patch: [] });
  });

  const tampered: {
    name: string;
    config?: InjectionConfig;
    change: (volume: ProjectedVolume) => void;
  }[] = [
    {
      name: "should deny a signet-identity volume that asks for a longer lifetime than the identity's",
      change: (v) => {
        const podCertificate = v.projected.sources[0]?.podCertificate;
        if (podCertificate) podCertificate.maxExpirationSeconds = 7_862_400;
      },
    },
    {
      name: "should deny a signet-identity volume with a source Signet did not put there",
      change: (v) => {
        v.projected.sources.push({ secret: { name: "other" } });
      },
    },
    {
      name: "should deny a signet-identity volume whose trust bundles come from another signer",
      change: (v) => {
        const bundle = v.projected.sources[1]?.clusterTrustBundle;
        if (bundle) bundle.signerName = "example.com/ca";
      },
    },
    {
      name: "should deny a signet-identity volume whose trust ConfigMap is another",
      config: configMapConfig,
      change: (v) => {
        const configMap = v.projected.sources[1]?.configMap;
        if (configMap) configMap.name = "my-own-roots";
      },
    },
    {
      name: "should deny a signet-identity volume that takes another key of the trust ConfigMap for ca.crt",
      config: configMapConfig,
      change: (v) => {
        const configMap = v.projected.sources[1]?.configMap;
        if (configMap) configMap.items = [{ key: "extra.crt", path: "ca.crt" }];
      },
    },
    {
      name: "should deny a signet-identity volume with both trust sources",
      change: (v) => {
        v.projected.sources.push(CONFIG_MAP_SOURCE);
      },
    },
  ];
  it.each(tampered)("$name", ({ config: c = config, change }) => {
    const once = mutated(pod(), kubelet(), c);
    change(projectedOf(once));
    expect(decide(kubelet(), c, once)).toMatchObject({
      allowed: false,
      reason: DenialReason.VolumeNameConflict,
    });
  });

  it("should warn, while the identity is not Ready, that the kubelet asks for the certificate when the pod starts", () => {
    expect(decide(kubelet({}, {}))).toMatchObject({
      allowed: true,
      warnings: [
        'MachineIdentity "shop/payments-api" is not Ready yet; with delivery PodCertificate the kubelet requests ' +
          "the certificate from signer signet.dev/svid when the pod starts, and the pod starts once it is issued",
      ],
    });
  });

  it("should not ask whether the cluster serves pod certificates for an identity delivered as a Secret", () => {
    const unsupported: InjectionConfig = {
      trustDomain: "cluster.local",
      podCertificates: { supported: false, missing: "the API server serves no PodCertificateRequests" },
    };
    expect(decide(identity({ delivery: "Secret" }), unsupported)).toMatchObject({ allowed: true });
    expect(mutated(pod(), identity(), unsupported).spec.volumes?.[0]).toHaveProperty("secret");
  });
});
