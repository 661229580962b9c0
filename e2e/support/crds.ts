// Installs Signet's generated CRDs into the test cluster. Several e2e files share one control
// plane and may call this at the same time, so it creates or updates and tolerates races.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { API_VERSION, GROUP, KINDS, PLURALS, VERSION } from "../../operator/src/api/constants.ts";

const crdsDir = fileURLToPath(new URL("../../crds/", import.meta.url));

/**
 * The CRDs as committed in crds/ (what users install), in client-node's typed form: its serializer
 * maps `_default` and `x_kubernetes_*` back to `default` and `x-kubernetes-*`, and silently drops
 * those keys from a plain parsed object, which would install CRDs without defaults or CEL rules.
 */
export function committedCrds(): k8s.V1CustomResourceDefinition[] {
  return readdirSync(crdsDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => k8s.loadYaml<k8s.V1CustomResourceDefinition>(readFileSync(`${crdsDir}${f}`, "utf8")));
}

const codeOf = (err: unknown) => (err as { code?: number }).code;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createOrUpdate(
  ext: k8s.ApiextensionsV1Api,
  crd: k8s.V1CustomResourceDefinition,
): Promise<void> {
  const name = crd.metadata?.name ?? "";
  for (let attempt = 0; ; attempt++) {
    try {
      await ext.createCustomResourceDefinition({ body: crd });
      return;
    } catch (err) {
      if (codeOf(err) !== 409) throw err;
    }
    const current = await ext.readCustomResourceDefinition({ name });
    try {
      await ext.replaceCustomResourceDefinition({
        name,
        body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } },
      });
      return;
    } catch (err) {
      // Another file replaced it between our read and write; read again.
      if (codeOf(err) !== 409 || attempt >= 10) throw err;
    }
  }
}

/**
 * Applies every CRD under crds/ and waits until each is Established and its resource is served,
 * so that objects can be created right after this returns.
 */
export async function installCrds(kc: k8s.KubeConfig, timeoutMs = 30_000): Promise<void> {
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const crds = committedCrds();
  for (const crd of crds) await createOrUpdate(ext, crd);
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata?.name ?? "";
    for (;;) {
      const current = await ext.readCustomResourceDefinition({ name });
      const established = current.status?.conditions?.some(
        (c) => c.type === "Established" && c.status === "True",
      );
      if (established) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await sleep(100);
    }
  }
  // Discovery and the storage behind it can lag the Established condition by a moment.
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  for (const kind of KINDS) {
    for (;;) {
      const served = await objects
        .listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURALS[kind] })
        .then(
          () => true,
          () => false,
        );
      if (served) break;
      if (Date.now() > deadline)
        throw new Error(`${PLURALS[kind]}.${API_VERSION} not served after ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}
