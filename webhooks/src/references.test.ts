import { describe, expect, it } from "vitest";
import type { NamedMachineIdentity } from "./identity.ts";
import {
  decidePodReferences,
  decideTemplateReferences,
  indexIdentities,
  type NamespaceIdentities,
  type ReferencingPod,
  type ReferencingPodSpec,
  referencingPodSchema,
  secretReferences,
  signerReferences,
  type Workload,
} from "./references.ts";
import type { AdmissionAnswer } from "./review.ts";

function mi(name: string, spec: Partial<NamedMachineIdentity["spec"]> = {}): NamedMachineIdentity {
  return { metadata: { name }, spec: { serviceAccounts: [`${name}-sa`], ...spec } };
}

/**
 * shop: a (a-identity), b (secretName b-creds), paused, two that name the same Secret, and k and
 * k-paused, delivered by the kubelet's podCertificate volume.
 */
const SHOP: NamedMachineIdentity[] = [
  mi("a"),
  mi("b", { secretName: "b-creds" }),
  mi("paused", { suspend: true }),
  mi("alias-1", { secretName: "shared" }),
  mi("alias-2", { secretName: "shared" }),
  mi("k", { delivery: "PodCertificate" }),
  mi("k-paused", { delivery: "PodCertificate", suspend: true, serviceAccounts: ["k-sa"] }),
];
const synced: NamespaceIdentities = () => SHOP;
const notSynced: NamespaceIdentities = () => undefined;
const untouched: NamespaceIdentities = () => {
  throw new Error("the identity cache was read");
};

const injected = { name: "signet-identity", secret: { secretName: "a-identity", defaultMode: 0o444 } };
const mount = { name: "signet-identity", mountPath: "/var/run/secrets/signet.dev/identity", readOnly: true };

function pod(spec: Partial<ReferencingPodSpec> = {}, labels: Record<string, string> = {}): ReferencingPod {
  return referencingPodSchema.parse({
    metadata: { name: "web", labels },
    spec: { serviceAccountName: "a-sa", containers: [{ name: "app", image: "pause" }], ...spec },
  });
}

/** A pod as Signet's mutating webhook leaves it for identity a. */
function injectedPod(spec: Partial<ReferencingPodSpec> = {}, serviceAccountName = "a-sa"): ReferencingPod {
  return pod(
    {
      serviceAccountName,
      containers: [{ name: "app", volumeMounts: [mount] }],
      volumes: [injected, ...(spec.volumes ?? [])],
      ...(spec.containers ? { containers: spec.containers } : {}),
    },
    { "signet.dev/inject": "true", "signet.dev/identity": "a" },
  );
}

const create = (p: ReferencingPod, identities = synced) =>
  decidePodReferences({ operation: "CREATE", namespace: "shop", pod: p }, identities);

function addEphemeral(before: ReferencingPod, container: Record<string, unknown>) {
  const after = referencingPodSchema.parse({
    ...before,
    spec: { ...before.spec, ephemeralContainers: [...(before.spec.ephemeralContainers ?? []), container] },
  });
  return (identities = synced) =>
    decidePodReferences({ operation: "UPDATE", namespace: "shop", pod: after, oldPod: before }, identities);
}

function denial(answer: AdmissionAnswer): { reason: string; message: string } {
  if ("code" in answer || answer.allowed) throw new Error(`expected a denial, got ${JSON.stringify(answer)}`);
  return answer;
}

describe("secretReferences", () => {
  it("should find every way a pod spec names a Secret, each with its field path", () => {
    const spec = pod({
      volumes: [
        { name: "data", emptyDir: {} },
        { name: "tls", secret: { secretName: "s1" } },
        {
          name: "bundle",
          projected: { sources: [{ configMap: { name: "c" } }, { secret: { name: "s2" } }] },
        },
      ],
      initContainers: [
        { name: "init", envFrom: [{ configMapRef: { name: "c" } }, { secretRef: { name: "s3" } }] },
      ],
      containers: [
        {
          name: "app",
          env: [
            { name: "A", value: "x" },
            { name: "B", valueFrom: { secretKeyRef: { name: "s4", key: "k" } } },
          ],
        },
      ],
      ephemeralContainers: [{ name: "debug", envFrom: [{ secretRef: { name: "s5" } }] }],
    }).spec;
    expect(secretReferences(spec)).toEqual([
      { secretName: "s1", field: "spec.volumes[1].secret.secretName", volume: "tls" },
      { secretName: "s2", field: "spec.volumes[2].projected.sources[1].secret" },
      { secretName: "s3", field: "spec.initContainers[0].envFrom[1].secretRef" },
      { secretName: "s4", field: "spec.containers[0].env[1].valueFrom.secretKeyRef" },
      { secretName: "s5", field: "spec.ephemeralContainers[0].envFrom[0].secretRef" },
    ]);
  });
});

describe("indexIdentities", () => {
  it("should index each identity's Secret, by default <name>-identity, and keep every holder of a shared one", () => {
    const index = indexIdentities(SHOP);
    expect(index.bySecret.get("a-identity")).toEqual(["a"]);
    expect(index.bySecret.get("b-creds")).toEqual(["b"]);
    expect(index.bySecret.get("b-identity")).toBeUndefined();
    expect(index.bySecret.get("shared")).toEqual(["alias-1", "alias-2"]);
  });
});

describe("decidePodReferences: pods that are allowed", () => {
  const cases: { name: string; answer: () => AdmissionAnswer }[] = [
    {
      name: "should allow a pod that names no Secret without reading the identity cache",
      answer: () => create(pod(), untouched),
    },
    {
      name: "should allow a pod that names no Secret while the cache has not synced",
      answer: () => create(pod(), notSynced),
    },
    {
      name: "should allow a pod injected by Signet with the identity its ServiceAccount may hold",
      answer: () => create(injectedPod()),
    },
    {
      name: "should allow ordinary Secrets in every kind of reference",
      answer: () =>
        create(
          pod({
            volumes: [
              { name: "db", secret: { secretName: "db-password" } },
              { name: "p", projected: { sources: [{ secret: { name: "api-token" } }] } },
            ],
            containers: [
              {
                name: "app",
                env: [{ name: "T", valueFrom: { secretKeyRef: { name: "api-token", key: "t" } } }],
                envFrom: [{ secretRef: { name: "db-password" } }],
              },
            ],
          }),
        ),
    },
    {
      name: "should allow an ordinary Secret that only looks like an identity Secret (b uses b-creds)",
      answer: () => create(pod({ volumes: [{ name: "x", secret: { secretName: "b-identity" } }] })),
    },
    {
      name: "should allow a volume named signet-identity that holds no identity Secret",
      answer: () => create(pod({ volumes: [{ name: "signet-identity", secret: { secretName: "my-own" } }] })),
    },
    {
      name: "should allow a DELETE without looking at it",
      answer: () => decidePodReferences({ operation: "DELETE", namespace: "shop", pod: pod() }, untouched),
    },
    {
      name: "should allow adding an ephemeral container that mounts nothing of Signet's",
      answer: () => addEphemeral(injectedPod(), { name: "debugger", image: "busybox" })(untouched),
    },
    {
      name: "should allow an update that adds no ephemeral container, even to a pod stored with a mount",
      answer: () => {
        const before = referencingPodSchema.parse({
          ...injectedPod(),
          spec: { ...injectedPod().spec, ephemeralContainers: [{ name: "old", volumeMounts: [mount] }] },
        });
        return decidePodReferences(
          { operation: "UPDATE", namespace: "shop", pod: before, oldPod: before },
          untouched,
        );
      },
    },
  ];
  it.each(cases)("$name", ({ answer }) => {
    expect(answer()).toEqual({ allowed: true });
  });
});

describe("decidePodReferences: pods that are denied", () => {
  const cases: { name: string; answer: () => AdmissionAnswer; reason: string; message: string[] }[] = [
    {
      name: "should deny a plain secret volume of another identity's Secret",
      answer: () => create(pod({ volumes: [{ name: "stolen", secret: { secretName: "b-creds" } }] })),
      reason: "IdentitySecretReferenced",
      message: [
        'the pod references Secret "b-creds" at spec.volumes[0].secret.secretName',
        'identity Secret of MachineIdentity "shop/b"',
        "an identity Secret reaches a pod only through Signet's injection",
        "annotation signet.dev/identity: b",
      ],
    },
    {
      name: "should deny a projected secret source",
      answer: () =>
        create(
          pod({
            volumes: [
              {
                name: "p",
                projected: { sources: [{ configMap: { name: "c" } }, { secret: { name: "a-identity" } }] },
              },
            ],
          }),
        ),
      reason: "IdentitySecretReferenced",
      message: ['Secret "a-identity" at spec.volumes[0].projected.sources[1].secret', '"shop/a"'],
    },
    {
      name: "should deny an env secretKeyRef",
      answer: () =>
        create(
          pod({
            containers: [
              { name: "app" },
              {
                name: "side",
                env: [{ name: "KEY", valueFrom: { secretKeyRef: { name: "a-identity", key: "tls.key" } } }],
              },
            ],
          }),
        ),
      reason: "IdentitySecretReferenced",
      message: ['Secret "a-identity" at spec.containers[1].env[0].valueFrom.secretKeyRef'],
    },
    {
      name: "should deny an envFrom secretRef in an init container",
      answer: () =>
        create(pod({ initContainers: [{ name: "init", envFrom: [{ secretRef: { name: "b-creds" } }] }] })),
      reason: "IdentitySecretReferenced",
      message: ['Secret "b-creds" at spec.initContainers[0].envFrom[0].secretRef'],
    },
    {
      name: "should deny a pod injected with identity a that also mounts identity b's Secret",
      answer: () => create(injectedPod({ volumes: [{ name: "extra", secret: { secretName: "b-creds" } }] })),
      reason: "IdentitySecretReferenced",
      message: ['Secret "b-creds" at spec.volumes[1].secret.secretName', '"shop/b"'],
    },
    {
      name: "should deny a second volume holding the pod's own identity Secret",
      answer: () =>
        create(injectedPod({ volumes: [{ name: "copy", secret: { secretName: "a-identity" } }] })),
      reason: "IdentitySecretReferenced",
      message: ['Secret "a-identity" at spec.volumes[1].secret.secretName'],
    },
    {
      name: "should deny the identity volume on a pod without the identity label",
      answer: () => create(pod({ volumes: [injected] })),
      reason: "IdentitySecretReferenced",
      message: ['Secret "a-identity" at spec.volumes[0].secret.secretName'],
    },
    {
      name: "should deny the identity volume holding a Secret of another identity than the label names",
      answer: () =>
        create(
          pod(
            { volumes: [{ name: "signet-identity", secret: { secretName: "b-creds" } }] },
            {
              "signet.dev/identity": "a",
            },
          ),
        ),
      reason: "IdentitySecretReferenced",
      message: ['Secret "b-creds"', '"shop/b"'],
    },
    {
      name: "should deny the identity volume when the identity does not list the pod's ServiceAccount",
      answer: () => create(injectedPod({}, "intruder")),
      reason: "ServiceAccountNotListed",
      message: ['does not list ServiceAccount "intruder"', "run the pod as one of: a-sa"],
    },
    {
      name: "should deny the identity volume of a suspended identity",
      answer: () =>
        create(
          pod(
            { volumes: [{ name: "signet-identity", secret: { secretName: "paused-identity" } }] },
            {
              "signet.dev/identity": "paused",
            },
          ),
        ),
      reason: "IdentitySuspended",
      message: ['MachineIdentity "shop/paused", which is suspended'],
    },
    {
      name: "should deny a Secret that two identities name, even to one of them",
      answer: () =>
        create(
          pod(
            {
              serviceAccountName: "alias-1-sa",
              volumes: [{ name: "signet-identity", secret: { secretName: "shared" } }],
            },
            {
              "signet.dev/identity": "alias-1",
            },
          ),
        ),
      reason: "IdentitySecretShared",
      message: ['Secret "shared"', "(alias-1, alias-2)"],
    },
    {
      name: "should deny an ephemeral container that mounts the identity volume",
      answer: () =>
        addEphemeral(injectedPod(), {
          name: "debugger",
          volumeMounts: [{ name: "x", mountPath: "/x" }, mount],
        })(untouched),
      reason: "IdentityVolumeInEphemeralContainer",
      message: [
        'ephemeral container "debugger" mounts volume "signet-identity" at spec.ephemeralContainers[0].volumeMounts[1]',
      ],
    },
    {
      name: "should deny an ephemeral container that reads an identity Secret through env",
      answer: () =>
        addEphemeral(injectedPod(), {
          name: "debugger",
          env: [{ name: "K", valueFrom: { secretKeyRef: { name: "a-identity", key: "tls.key" } } }],
        })(),
      reason: "IdentitySecretReferenced",
      message: ['Secret "a-identity" at spec.ephemeralContainers[0].env[0].valueFrom.secretKeyRef'],
    },
    {
      name: "should deny an ephemeral container that mounts another volume holding an identity Secret",
      answer: () =>
        addEphemeral(pod({ volumes: [{ name: "legacy", secret: { secretName: "b-creds" } }] }), {
          name: "debugger",
          volumeMounts: [{ name: "legacy", mountPath: "/l" }],
        })(),
      reason: "IdentitySecretReferenced",
      message: [
        'ephemeral container "debugger" references Secret "b-creds"',
        "spec.ephemeralContainers[0].volumeMounts[0]",
      ],
    },
    {
      name: "should name every further violation after the first",
      answer: () =>
        create(
          pod({
            volumes: [{ name: "one", secret: { secretName: "a-identity" } }],
            containers: [{ name: "app", envFrom: [{ secretRef: { name: "b-creds" } }] }],
          }),
        ),
      reason: "IdentitySecretReferenced",
      message: ["spec.volumes[0].secret.secretName", "(1 more:", "spec.containers[0].envFrom[0].secretRef"],
    },
  ];
  it.each(cases)("$name", ({ answer, reason, message }) => {
    const denied = denial(answer());
    expect(denied.reason).toBe(reason);
    for (const part of message) expect(denied.message).toContain(part);
  });

  it("should refuse, not guess, while the identity cache has not synced", () => {
    expect(create(pod({ volumes: [{ name: "x", secret: { secretName: "anything" } }] }), notSynced)).toEqual({
      code: 503,
      message: expect.stringContaining("has not finished reading MachineIdentities"),
    });
  });
});

function workload(
  spec: Partial<ReferencingPodSpec>,
  kind: "Deployment" | "CronJob" = "Deployment",
): Workload {
  const template = {
    metadata: { labels: { app: "web" } },
    spec: { containers: [{ name: "app", image: "pause" }], ...spec },
  };
  return {
    metadata: { name: "web" },
    spec: kind === "CronJob" ? { jobTemplate: { spec: { template } } } : { template },
  } as Workload;
}

const stolenVolume = { volumes: [{ name: "stolen", secret: { secretName: "b-creds" } }] };

describe("decideTemplateReferences", () => {
  const templateCase = (
    w: Workload,
    options: { kind?: string; old?: Workload; identities?: NamespaceIdentities } = {},
  ) =>
    decideTemplateReferences(
      {
        operation: options.old ? "UPDATE" : "CREATE",
        namespace: "shop",
        kind: options.kind ?? "Deployment",
        workload: w,
        oldWorkload: options.old,
      },
      options.identities ?? synced,
    );

  const denied: { name: string; answer: () => AdmissionAnswer; reason: string; message: string[] }[] = [
    {
      name: "should deny a Deployment whose template mounts an identity Secret, saying Signet injects it",
      answer: () => templateCase(workload(stolenVolume)),
      reason: "IdentitySecretReferenced",
      message: [
        'Deployment "shop/web" (its pod template) references Secret "b-creds" at spec.template.spec.volumes[0].secret.secretName',
        '"shop/b"',
        "Signet injects it into each pod at creation",
      ],
    },
    {
      name: "should deny a CronJob whose job template reads an identity Secret through env",
      answer: () =>
        templateCase(
          workload(
            {
              containers: [
                {
                  name: "app",
                  env: [{ name: "K", valueFrom: { secretKeyRef: { name: "a-identity", key: "k" } } }],
                },
              ],
            },
            "CronJob",
          ),
          { kind: "CronJob" },
        ),
      reason: "IdentitySecretReferenced",
      message: ["spec.jobTemplate.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef"],
    },
    {
      name: "should deny a template that declares the signet-identity volume, whatever it holds",
      answer: () =>
        templateCase(workload({ volumes: [{ name: "signet-identity", emptyDir: {} }] }), {
          identities: untouched,
        }),
      reason: "IdentityVolumeInTemplate",
      message: [
        'declares volume "signet-identity" at spec.template.spec.volumes[0]',
        "Signet adds that volume itself",
      ],
    },
    {
      name: "should deny an update that adds an identity Secret to the template",
      answer: () => templateCase(workload(stolenVolume), { old: workload({}) }),
      reason: "IdentitySecretReferenced",
      message: ['Secret "b-creds"'],
    },
  ];
  it.each(denied)("$name", ({ answer, reason, message }) => {
    const d = denial(answer());
    expect(d.reason).toBe(reason);
    for (const part of message) expect(d.message).toContain(part);
  });

  const allowed: { name: string; answer: () => AdmissionAnswer }[] = [
    {
      name: "should allow a template that only opts in, without reading the cache",
      answer: () => templateCase(workload({}), { identities: untouched }),
    },
    {
      name: "should allow a template with an ordinary Secret",
      answer: () =>
        templateCase(workload({ volumes: [{ name: "db", secret: { secretName: "db-password" } }] })),
    },
    {
      name: "should allow an update of a workload stored with the reference before, so it can still be scaled",
      answer: () => templateCase(workload(stolenVolume), { old: workload(stolenVolume) }),
    },
    {
      name: "should allow a workload without a pod template",
      answer: () =>
        templateCase({ metadata: { name: "x" }, spec: {} } as Workload, { identities: untouched }),
    },
  ];
  it.each(allowed)("$name", ({ answer }) => {
    expect(answer()).toEqual({ allowed: true });
  });

  it("should refuse, not guess, while the identity cache has not synced", () => {
    expect(templateCase(workload(stolenVolume), { identities: notSynced })).toMatchObject({ code: 503 });
  });
});

const podCertificate = (signerName = "signet.dev/svid") => ({
  podCertificate: {
    signerName,
    keyType: "ECDSAP256",
    maxExpirationSeconds: 86_400,
    credentialBundlePath: "credentials.pem",
    keyPath: "tls.key",
    certificateChainPath: "tls.crt",
  },
});
const trustBundle = {
  clusterTrustBundle: { signerName: "signet.dev/svid", labelSelector: {}, path: "ca.crt" },
};
/** The trust source injected where the API server serves no ClusterTrustBundles. */
const trustConfigMap = {
  configMap: { name: "signet-trust-bundle", items: [{ key: "ca.crt", path: "ca.crt" }] },
};

/** A pod as Signet's mutating webhook leaves it for identity k (delivery PodCertificate). */
function kubeletPod(
  options: {
    sources?: Record<string, unknown>[];
    volumes?: { name: string; [field: string]: unknown }[];
    identity?: string;
    serviceAccountName?: string;
  } = {},
): ReferencingPod {
  const identity = options.identity ?? "k";
  return pod(
    {
      serviceAccountName: options.serviceAccountName ?? "k-sa",
      containers: [{ name: "app", volumeMounts: [mount] }],
      volumes: [
        {
          name: "signet-identity",
          projected: { defaultMode: 0o444, sources: options.sources ?? [podCertificate(), trustBundle] },
        },
        ...(options.volumes ?? []),
      ],
    },
    { "signet.dev/inject": "true", "signet.dev/identity": identity },
  );
}

describe("signerReferences", () => {
  it("should find the podCertificate sources addressed to Signet's signer, and no other", () => {
    const spec = pod({
      volumes: [
        { name: "data", emptyDir: {} },
        { name: "other", projected: { sources: [podCertificate("example.com/ca"), trustBundle] } },
        { name: "mine", projected: { sources: [{ configMap: { name: "c" } }, podCertificate()] } },
      ],
    }).spec;
    expect(signerReferences(spec)).toEqual([
      { field: "spec.volumes[2].projected.sources[1].podCertificate", volume: "mine" },
    ]);
  });
});

describe("decidePodReferences: delivery PodCertificate", () => {
  const allowed: { name: string; answer: () => AdmissionAnswer }[] = [
    {
      name: "should allow a pod injected by Signet for a PodCertificate identity its ServiceAccount may hold",
      answer: () => create(kubeletPod()),
    },
    {
      name: "should allow a pod injected with the trust ConfigMap instead of the ClusterTrustBundle source",
      answer: () => create(kubeletPod({ sources: [podCertificate(), trustConfigMap] })),
    },
    {
      name: "should allow a podCertificate source for another signer without reading the identity cache",
      answer: () =>
        create(
          pod({ volumes: [{ name: "x", projected: { sources: [podCertificate("example.com/ca")] } }] }),
          untouched,
        ),
    },
    {
      name: "should allow a pod to read the trust bundles of Signet's signer, which are public",
      answer: () =>
        create(pod({ volumes: [{ name: "roots", projected: { sources: [trustBundle] } }] }), untouched),
    },
    {
      name: "should not judge the volumes again when an ephemeral container is added, nor read the cache",
      answer: () => addEphemeral(kubeletPod({ sources: [{}, {}] }), { name: "debugger" })(untouched),
    },
  ];
  it.each(allowed)("$name", ({ answer }) => {
    expect(answer()).toEqual({ allowed: true });
  });

  const denied: { name: string; answer: () => AdmissionAnswer; reason: string; message: string[] }[] = [
    {
      name: "should deny a podCertificate source for Signet's signer in a volume of the pod's own",
      answer: () => create(pod({ volumes: [{ name: "mine", projected: { sources: [podCertificate()] } }] })),
      reason: "PodCertificateSignerReferenced",
      message: [
        "the pod declares a podCertificate source for signer signet.dev/svid at " +
          'spec.volumes[0].projected.sources[0].podCertificate, outside volume "signet-identity": ' +
          'only Signet\'s injection (volume "signet-identity") for a MachineIdentity with spec.delivery ' +
          "PodCertificate may address signer signet.dev/svid",
        'remove the source, and opt the pod in with label signet.dev/inject: "true" and annotation ' +
          "signet.dev/identity naming a MachineIdentity with spec.delivery PodCertificate",
      ],
    },
    {
      name: "should deny the signet-identity volume with Signet's signer on a pod without the identity label",
      answer: () =>
        create(
          pod({
            volumes: [{ name: "signet-identity", projected: { sources: [podCertificate(), trustBundle] } }],
          }),
        ),
      reason: "PodCertificateSignerReferenced",
      message: ["on a pod without the label signet.dev/identity"],
    },
    {
      name: "should deny Signet's signer for an identity delivered as a Secret",
      answer: () => create(kubeletPod({ identity: "a", serviceAccountName: "a-sa" })),
      reason: "PodCertificateSignerReferenced",
      message: ['and MachineIdentity "shop/a" (its label signet.dev/identity) has spec.delivery Secret'],
    },
    {
      name: "should deny Signet's signer for an identity that does not exist",
      answer: () => create(kubeletPod({ identity: "gone" })),
      reason: "PodCertificateSignerReferenced",
      message: ['and MachineIdentity "shop/gone" (its label signet.dev/identity) does not exist'],
    },
    {
      name: "should deny a second podCertificate source for Signet's signer in the injected volume",
      answer: () => create(kubeletPod({ sources: [podCertificate(), trustBundle, podCertificate()] })),
      reason: "PodCertificateSignerReferenced",
      message: [
        'spec.volumes[0].projected.sources[2].podCertificate, a second time in volume "signet-identity"',
      ],
    },
    {
      name: "should deny an injected pod that addresses Signet's signer from another volume as well",
      answer: () =>
        create(kubeletPod({ volumes: [{ name: "extra", projected: { sources: [podCertificate()] } }] })),
      reason: "PodCertificateSignerReferenced",
      message: ["spec.volumes[1].projected.sources[0].podCertificate, outside volume"],
    },
    {
      name: "should deny the injected volume when the identity does not list the pod's ServiceAccount",
      answer: () => create(kubeletPod({ serviceAccountName: "intruder" })),
      reason: "ServiceAccountNotListed",
      message: [
        'volume "signet-identity" (spec.volumes[0].projected.sources[0].podCertificate) of MachineIdentity "shop/k", ' +
          'which does not list ServiceAccount "intruder" in spec.serviceAccounts: only Signet\'s injection',
      ],
    },
    {
      name: "should deny the injected volume of a suspended PodCertificate identity",
      answer: () => create(kubeletPod({ identity: "k-paused" })),
      reason: "IdentitySuspended",
      message: ['MachineIdentity "shop/k-paused", which is suspended'],
    },
    {
      name: "should deny a pod whose podCertificate source the API server dropped, naming the gate and the fix",
      answer: () => create(kubeletPod({ sources: [{}, trustBundle] })),
      reason: "PodCertificateDropped",
      message: [
        'volume "signet-identity" holds no podCertificate source for signer signet.dev/svid, which Signet\'s ' +
          'injection adds for MachineIdentity "shop/k" (spec.delivery PodCertificate): the API server removed the ' +
          "podCertificate volume source, most likely because its PodCertificateRequest feature gate is off, so the " +
          "pod would start without its certificate",
        'enable the PodCertificateRequest feature gate on the API server, or set spec.delivery of MachineIdentity "shop/k" to Secret',
      ],
    },
    {
      name: "should deny a pod whose clusterTrustBundle source the API server dropped, naming the gate and the fix",
      answer: () => create(kubeletPod({ sources: [podCertificate(), {}] })),
      reason: "ClusterTrustBundleDropped",
      message: [
        "the API server removed the clusterTrustBundle volume source, most likely because its " +
          "ClusterTrustBundleProjection feature gate is off, so the pod would start without its trust bundle (ca.crt)",
        'set spec.delivery of MachineIdentity "shop/k" to Secret',
        "(or run Signet with --trust-bundle=ConfigMap, so that ca.crt comes from ConfigMap signet-trust-bundle)",
      ],
    },
    {
      name: "should not take another ConfigMap for the trust source: the clusterTrustBundle one was dropped",
      answer: () =>
        create(kubeletPod({ sources: [podCertificate(), {}, { configMap: { name: "my-roots" } }] })),
      reason: "ClusterTrustBundleDropped",
      message: ['volume "signet-identity" holds no clusterTrustBundle source for signer signet.dev/svid'],
    },
    {
      name: "should name both dropped sources",
      answer: () => create(kubeletPod({ sources: [{}, {}] })),
      reason: "PodCertificateDropped",
      message: ['(1 more: volume "signet-identity" holds no clusterTrustBundle source'],
    },
    {
      name: "should deny a pod of a PodCertificate identity that got the Secret volume, as when the delivery changed",
      answer: () =>
        create(
          pod(
            {
              serviceAccountName: "k-sa",
              volumes: [{ name: "signet-identity", secret: { secretName: "k-identity" } }],
            },
            { "signet.dev/identity": "k" },
          ),
        ),
      reason: "PodCertificateDropped",
      message: [
        'the pod carries the label signet.dev/identity: k of MachineIdentity "shop/k", which has spec.delivery ' +
          'PodCertificate, but its volume "signet-identity" holds no podCertificate source',
        "create the pod again",
      ],
    },
    {
      name: "should deny a pod labelled with a PodCertificate identity that has no identity volume at all",
      answer: () => create(pod({ serviceAccountName: "k-sa" }, { "signet.dev/identity": "k" })),
      reason: "PodCertificateDropped",
      message: ["would start without its certificate"],
    },
  ];
  it.each(denied)("$name", ({ answer, reason, message }) => {
    const d = denial(answer());
    expect(d.reason).toBe(reason);
    for (const part of message) expect(d.message).toContain(part);
  });

  it("should not hold a dropped clusterTrustBundle source against a pod of the ConfigMap form", () => {
    const d = denial(create(kubeletPod({ sources: [{}, trustConfigMap] })));
    expect(d.reason).toBe("PodCertificateDropped");
    expect(d.message).not.toContain("more:");
    expect(d.message).not.toContain("clusterTrustBundle");
  });

  it("should refuse, not guess, a labelled pod while the identity cache has not synced", () => {
    expect(create(kubeletPod({ sources: [{}, {}] }), notSynced)).toMatchObject({ code: 503 });
  });
});

describe("decideTemplateReferences: Signet's signer", () => {
  const templateOf = (sources: Record<string, unknown>[]) =>
    workload({ volumes: [{ name: "certs", projected: { sources } }] });
  const decide = (w: Workload, old?: Workload) =>
    decideTemplateReferences(
      {
        operation: old ? "UPDATE" : "CREATE",
        namespace: "shop",
        kind: "Deployment",
        workload: w,
        oldWorkload: old,
      },
      untouched,
    );

  it("should deny a template that addresses Signet's signer, without reading the cache, saying Signet injects it", () => {
    const d = denial(decide(templateOf([podCertificate()])));
    expect(d.reason).toBe("PodCertificateSignerReferenced");
    expect(d.message).toContain(
      'Deployment "shop/web" (its pod template) declares a podCertificate source for signer signet.dev/svid at ' +
        "spec.template.spec.volumes[0].projected.sources[0].podCertificate: only Signet's injection",
    );
    expect(d.message).toContain("Signet injects it into each pod at creation");
  });

  it("should allow a template whose podCertificate source is for another signer", () => {
    expect(decide(templateOf([podCertificate("example.com/ca"), trustBundle]))).toEqual({ allowed: true });
  });

  it("should allow an update of a template stored with the source before, so it can still be scaled", () => {
    expect(decide(templateOf([podCertificate()]), templateOf([podCertificate()]))).toEqual({ allowed: true });
  });
});
