import { X509Certificate } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { API_VERSION, GROUP, type MachineIdentity, VERSION } from "../../operator/src/api/index.ts";
import { waitFor } from "../support/wait.ts";

export const MI = { group: GROUP, version: VERSION, plural: "machineidentities" } as const;

export interface IdentityFiles {
  "tls.crt": string;
  "tls.key": string;
  "ca.crt": string;
}

export function identity(namespace: string, name: string, spec: Partial<MachineIdentity["spec"]> = {}) {
  return {
    apiVersion: API_VERSION,
    kind: "MachineIdentity",
    metadata: { name, namespace },
    // An identity held outside the cluster has no ServiceAccounts.
    spec: { ...(spec.delivery === "External" ? {} : { serviceAccounts: ["default"] }), ...spec },
  };
}

export async function createIdentity(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  spec: Partial<MachineIdentity["spec"]> = {},
): Promise<void> {
  await kc
    .makeApiClient(k8s.CustomObjectsApi)
    .createNamespacedCustomObject({ ...MI, namespace, body: identity(namespace, name, spec) });
}

export async function readIdentity(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<MachineIdentity> {
  return (await kc
    .makeApiClient(k8s.CustomObjectsApi)
    .getNamespacedCustomObject({ ...MI, namespace, name })) as MachineIdentity;
}

export async function patchIdentitySpec(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  spec: Partial<MachineIdentity["spec"]>,
): Promise<void> {
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  for (let attempt = 0; ; attempt++) {
    const current = (await objects.getNamespacedCustomObject({ ...MI, namespace, name })) as MachineIdentity;
    try {
      await objects.replaceNamespacedCustomObject({
        ...MI,
        namespace,
        name,
        body: { ...current, spec: { ...current.spec, ...spec } },
      });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt > 5) throw err;
    }
  }
}

export function readyCondition(mi: MachineIdentity) {
  return mi.status?.conditions?.find((c) => c.type === "Ready");
}

export async function waitReady(kc: k8s.KubeConfig, namespace: string, name: string, timeoutMs = 30_000) {
  return waitFor(
    `MachineIdentity ${namespace}/${name} to be Ready`,
    async () => {
      const mi = await readIdentity(kc, namespace, name);
      return readyCondition(mi)?.status === "True" && mi.status?.serialNumber ? mi : undefined;
    },
    { timeoutMs },
  );
}

export async function readSecretFiles(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<{ secret: k8s.V1Secret; files: IdentityFiles } | undefined> {
  try {
    const secret = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ namespace, name });
    const d = (k: string) => Buffer.from(secret.data?.[k] ?? "", "base64").toString("utf8");
    return { secret, files: { "tls.crt": d("tls.crt"), "tls.key": d("tls.key"), "ca.crt": d("ca.crt") } };
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** The leaf of tls.crt, verified against the roots in ca.crt (through any intermediates). */
export function verifiedLeaf(files: IdentityFiles): X509Certificate {
  const split = (pem: string) =>
    pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const chain = split(files["tls.crt"]).map((p) => new X509Certificate(p));
  const roots = split(files["ca.crt"]).map((p) => new X509Certificate(p));
  const [leaf] = chain;
  if (!leaf) throw new Error("tls.crt holds no certificate");
  let current = leaf;
  for (const next of chain.slice(1)) {
    if (!current.checkIssued(next) || !current.verify(next.publicKey))
      throw new Error("broken intermediate chain");
    current = next;
  }
  const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
  if (!root) throw new Error("the chain does not verify against ca.crt");
  return leaf;
}

export function uriSans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
}

/** Waits until the identity's Ready condition has this reason for its current generation. */
export async function waitReadyReason(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  reason: string,
  timeoutMs = 30_000,
) {
  return waitFor(
    `MachineIdentity ${namespace}/${name} to report Ready reason ${reason}`,
    async () => {
      const mi = await readIdentity(kc, namespace, name);
      const ready = readyCondition(mi);
      return ready?.reason === reason && mi.status?.observedGeneration === mi.metadata.generation
        ? mi
        : undefined;
    },
    { timeoutMs },
  );
}
