import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";

const crdDir = fileURLToPath(new URL("../../crds/", import.meta.url));

export function loadCrds(): k8s.V1CustomResourceDefinition[] {
  return readdirSync(crdDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(crdDir + f, "utf8")).map((d) => d.toJS()))
    .filter((o): o is k8s.V1CustomResourceDefinition => o?.kind === "CustomResourceDefinition");
}

/**
 * Creates or updates Signet's CRDs and waits until each is Established. Idempotent, so the e2e
 * files that share one control plane may all call it.
 */
export async function installCrds(kc: k8s.KubeConfig): Promise<void> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const crd of loadCrds()) {
    const name = crd.metadata?.name ?? "";
    for (let attempt = 0; ; attempt++) {
      try {
        const existing = await api.readCustomResourceDefinition({ name });
        await api.replaceCustomResourceDefinition({
          name,
          body: {
            ...crd,
            metadata: { ...crd.metadata, resourceVersion: existing.metadata?.resourceVersion },
          },
        });
        break;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404) {
          try {
            await api.createCustomResourceDefinition({ body: crd });
            break;
          } catch (createErr) {
            if ((createErr as { code?: number }).code !== 409 || attempt > 5) throw createErr;
            continue;
          }
        }
        if (code !== 409 || attempt > 5) throw err;
      }
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      const current = await api.readCustomResourceDefinition({ name });
      if (current.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Discovery of a new group can lag the Established condition.
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const deadline = Date.now() + 30_000;
  for (const crd of loadCrds()) {
    const plural = crd.spec.names.plural;
    for (;;) {
      try {
        await objects.listClusterCustomObject({
          group: crd.spec.group,
          version: crd.spec.versions[0]?.name ?? "",
          plural,
        });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
