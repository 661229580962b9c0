import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resourceClient, SECRETS } from "../../operator/src/kube/resources.ts";
import { createNamespace, kubeClient, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { createIdentity, readIdentity, readSecretFiles, verifiedLeaf, waitReady } from "./support.ts";

const FOREIGN_LABEL = "team.example.com/owner";
const FOREIGN_ANNOTATION = "backup.example.com/policy";
const SERIAL = "signet.dev/serial-number";

/**
 * Signet writes an identity Secret by server-side apply of its own fields only (field manager
 * "signet"), so what other tools put on the Secret outlives every rotation.
 */
describe("identity Secrets written by server-side apply", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "ssa");
    const opNs = await createNamespace(kc, "signet-op");
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--min-ttl=10s",
      "--trust-domain=cluster.local",
      "--leader-elect=false",
      "--log-level=info",
    ]);
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it("keeps a foreign label and annotation through rotations, with one write per rotation", async () => {
    // Every version of the Secret the API server stores, seen through a watch.
    const versions = new Map<string, k8s.V1Secret>();
    const watch = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${ns}/secrets`,
      { fieldSelector: "metadata.name=rotating-identity" },
      (type: string, secret: k8s.V1Secret) => {
        if (type !== "DELETED") versions.set(secret.metadata?.resourceVersion ?? "", secret);
      },
      () => {},
    );
    let labelledAt = 0n;
    try {
      await createIdentity(kc, ns, "rotating", { ttl: "15s", renewBefore: "10s" });
      await waitReady(kc, ns, "rotating");
      // As `kubectl label` and `kubectl annotate` would, under a field manager of their own.
      const labelled = await resourceClient(kubeClient(), SECRETS).patch(
        ns,
        "rotating-identity",
        {
          metadata: {
            labels: { [FOREIGN_LABEL]: "payments" },
            annotations: { [FOREIGN_ANNOTATION]: "daily" },
          },
        },
        "merge",
        { fieldManager: "kubectl-label" },
      );
      labelledAt = BigInt(labelled.metadata?.resourceVersion ?? "0");

      // Two rotations after the label, each seen in place: the new certificate in the Secret with
      // the foreign label and annotation still on it.
      let serial = labelled.metadata?.annotations?.[SERIAL];
      for (let rotation = 1; rotation <= 2; rotation++) {
        const previous = serial;
        const rotated = await waitFor(
          `rotation ${rotation} after the foreign label`,
          async () => {
            const mi = await readIdentity(kc, ns, "rotating");
            const got = await readSecretFiles(kc, ns, "rotating-identity");
            const now = mi.status?.serialNumber;
            if (!got || !now || now === previous || got.secret.metadata?.annotations?.[SERIAL] !== now) {
              return undefined;
            }
            return { ...got, serial: now };
          },
          { timeoutMs: 30_000, intervalMs: 100 },
        );
        expect(verifiedLeaf(rotated.files).serialNumber).toBe(rotated.serial.toUpperCase());
        expect(rotated.secret.metadata?.labels?.[FOREIGN_LABEL]).toBe("payments");
        expect(rotated.secret.metadata?.annotations?.[FOREIGN_ANNOTATION]).toBe("daily");
        expect(rotated.secret.metadata?.managedFields).toContainEqual(
          expect.objectContaining({ manager: "signet", operation: "Apply" }),
        );
        serial = rotated.serial;
      }
      await sleep(1_000); // the watch delivers the last versions
    } finally {
      watch.abort();
    }

    const stored = [...versions.values()].sort((x, y) =>
      Number(BigInt(x.metadata?.resourceVersion ?? "0") - BigInt(y.metadata?.resourceVersion ?? "0")),
    );
    const serials = stored.map((s) => s.metadata?.annotations?.[SERIAL]);
    // One version per certificate, and one more for the test's own label: no write beyond those.
    expect(stored.length).toBe(new Set(serials).size + 1);
    const sinceLabel = stored.filter((s) => BigInt(s.metadata?.resourceVersion ?? "0") >= labelledAt);
    expect(new Set(sinceLabel.map((s) => s.metadata?.annotations?.[SERIAL])).size).toBeGreaterThanOrEqual(3);
    for (const s of sinceLabel) {
      expect(s.metadata?.labels?.[FOREIGN_LABEL], `version ${s.metadata?.resourceVersion}`).toBe("payments");
      expect(s.metadata?.annotations?.[FOREIGN_ANNOTATION]).toBe("daily");
    }
  });
});
