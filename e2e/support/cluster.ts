import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { inject } from "vitest";
import { KubeClient } from "../../operator/src/kube/client.ts";
import { loadConnection } from "../../operator/src/kube/kubeconfig.ts";
import { issueClientCert, loadTestCa } from "../../testing/certs.ts";
import { renderKubeconfig } from "../harness/kubeconfig.ts";

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject("kubeconfigPath"));
  return kc;
}

/** Signet's own client, on the same kubeconfig. */
export function kubeClient(path = inject("kubeconfigPath")): KubeClient {
  return new KubeClient(loadConnection({ env: { KUBECONFIG: path } }));
}

export function kubeconfigPath(): string {
  return inject("kubeconfigPath");
}

/** A namespace of its own for one test, labelled so that it can be found and cleaned up. */
export async function createNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({
    body: { metadata: { name, labels: { "signet.dev/e2e": "true" } } },
  });
  return name;
}

/**
 * A KubeConfig for a user authenticated by a client certificate signed by the
 * local control plane's CA. Only available on the local control plane.
 */
export async function userKubeConfig(user: string, groups: string[] = []): Promise<k8s.KubeConfig> {
  const dir = inject("controlPlaneDir");
  if (!inject("localControlPlane")) throw new Error("user certificates need the local control plane");
  const ca = await loadTestCa(
    readFileSync(join(dir, "pki", "ca.crt"), "utf8"),
    readFileSync(join(dir, "pki", "ca.key"), "utf8"),
  );
  const admin = kubeConfig();
  const pair = await issueClientCert(ca, user, groups);
  const kc = new k8s.KubeConfig();
  kc.loadFromString(
    renderKubeconfig({ server: admin.getCurrentCluster()?.server ?? "", caPem: ca.certPem, user, ...pair }),
  );
  return kc;
}
