import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AccessSchedule, type MachineIdentity, parseDuration } from "../../operator/src/api/index.ts";
import { scheduleState } from "../../operator/src/schedule/index.ts";
import { applyObject } from "../support/apply.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";
import { readIdentity, readSecretFiles, uriSans, verifiedLeaf } from "./support.ts";

const examplesDir = fileURLToPath(new URL("../../examples/", import.meta.url));

function examples(): k8s.KubernetesObject[] {
  const rank = (f: string) => (f.startsWith("namespaces") ? 0 : f.startsWith("serviceaccounts") ? 1 : 2);
  return readdirSync(examplesDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .flatMap((f) => k8s.loadAllYaml(readFileSync(examplesDir + f, "utf8")) as k8s.KubernetesObject[]);
}

/** The shop story of examples/, issued by the real operator. The namespaces are the examples' own. */
describe("the examples", () => {
  const kc = kubeConfig();
  let operator: OperatorProcess;
  const objects = examples();
  const identities = objects.filter(
    (o): o is MachineIdentity & k8s.KubernetesObject => o.kind === "MachineIdentity",
  );
  const schedules = objects.filter(
    (o): o is AccessSchedule & k8s.KubernetesObject => o.kind === "AccessSchedule",
  );

  beforeAll(async () => {
    await installCrds(kc);
    const opNs = await createNamespace(kc, "signet-op");
    const namespaces = [...new Set(identities.map((i) => i.metadata?.namespace))].join(",");
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${namespaces}`,
      "--leader-elect=false",
    ]);
    for (const obj of objects) await applyObject(kc, obj, { fieldManager: "signet-e2e" });
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it("makes every identity Ready with a verifying chain, its SPIFFE ID and its ttl, or says which window it waits for", async () => {
    expect(identities.length).toBeGreaterThanOrEqual(3);
    for (const example of identities) {
      const namespace = example.metadata?.namespace ?? "";
      const name = example.metadata?.name ?? "";
      const scheduleRef = example.spec.scheduleRef?.name;
      const schedule = schedules.find(
        (s) => s.metadata?.namespace === namespace && s.metadata?.name === scheduleRef,
      );
      const open = schedule ? scheduleState(schedule.spec, new Date()).active : true;
      const mi = await waitFor(`${namespace}/${name} to be reconciled`, async () => {
        const got = await readIdentity(kc, namespace, name);
        return got.status?.conditions?.some(
          (c) => c.type === "Ready" && c.observedGeneration === got.metadata?.generation,
        )
          ? got
          : undefined;
      });
      const ready = mi.status?.conditions?.find((c) => c.type === "Ready");
      const secretName = example.spec.secretName ?? `${name}-identity`;
      if (!open) {
        expect(ready, `${namespace}/${name}`).toMatchObject({ status: "False", reason: "OutsideWindow" });
        expect(await readSecretFiles(kc, namespace, secretName)).toBeUndefined();
        continue;
      }
      expect(ready?.status, `${namespace}/${name}: ${ready?.message}`).toBe("True");
      if (example.spec.delivery === "External") {
        // Held by enrolled machines: no Secret, nothing to verify until one enrolls.
        expect(ready?.reason).toBe("EnrollmentReady");
        expect(await readSecretFiles(kc, namespace, secretName)).toBeUndefined();
        continue;
      }
      const got = await readSecretFiles(kc, namespace, secretName);
      const leaf = verifiedLeaf(got?.files ?? { "tls.crt": "", "tls.key": "", "ca.crt": "" });
      const spiffeId = example.spec.spiffeID ?? `spiffe://cluster.local/ns/${namespace}/id/${name}`;
      expect(uriSans(leaf)).toEqual([spiffeId]);
      const lifetime = new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime();
      const ttl = parseDuration(example.spec.ttl ?? "1h");
      // One minute of backdating for clock skew; a window end may cut a scheduled identity short.
      if (schedule) expect(lifetime).toBeLessThanOrEqual(ttl + 60_000 + 1_000);
      else expect(Math.abs(lifetime - (ttl + 60_000))).toBeLessThanOrEqual(1_000);
    }
  });
});
