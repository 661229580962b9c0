import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MachineIdentity } from "../../operator/src/api/index.ts";
import { createNamespace, kubeConfig, kubeconfigPath, userKubeConfig } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { grantTenant } from "../support/tenant.ts";
import { sleep, waitFor } from "../support/wait.ts";
import {
  createIdentity,
  MI,
  patchIdentitySpec,
  readIdentity,
  readyCondition,
  waitReady,
  waitReadyReason,
} from "./support.ts";

/** What must not move: the Secret's bytes and version, or an identity's whole status. */
const secretState = (s: k8s.V1Secret) =>
  JSON.stringify({
    data: s.data,
    resourceVersion: s.metadata?.resourceVersion,
    labels: s.metadata?.labels,
    annotations: s.metadata?.annotations,
    ownerReferences: s.metadata?.ownerReferences,
  });

describe("ownership of identity Secrets, attacked by a tenant without Secret rights", () => {
  const admin = kubeConfig();
  const core = admin.makeApiClient(k8s.CoreV1Api);
  let tenant: k8s.KubeConfig;
  let ns: string;
  let opNs: string;
  let operator: OperatorProcess;

  const secretOf = (namespace: string, name: string) => core.readNamespacedSecret({ namespace, name });
  const warnings = async (namespace: string, name: string, reason: string) =>
    (await core.listNamespacedEvent({ namespace })).items.filter(
      (e) => e.involvedObject.name === name && e.reason === reason && e.type === "Warning",
    );
  /** An edit of metadata only: the identity is reconciled again, its spec unchanged. */
  const touch = async (kc: k8s.KubeConfig, namespace: string, name: string, value: string) => {
    const objects = kc.makeApiClient(k8s.CustomObjectsApi);
    for (let attempt = 0; ; attempt++) {
      const mi = await readIdentity(kc, namespace, name);
      mi.metadata.annotations = { ...mi.metadata.annotations, "e2e.signet.dev/touched": value };
      try {
        await objects.replaceNamespacedCustomObject({ ...MI, namespace, name, body: mi });
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt > 5) throw err;
      }
    }
  };
  /** A few seconds in which the operator reconciles `names` again and again. */
  const reconcileForAWhile = async (kc: k8s.KubeConfig, namespace: string, names: string[]) => {
    for (let i = 0; i < 4; i++) {
      for (const name of names) await touch(kc, namespace, name, `${Date.now()}-${i}`);
      await sleep(750);
    }
  };

  beforeAll(async () => {
    await installCrds(admin);
    ns = await createNamespace(admin, "own");
    opNs = await createNamespace(admin, "signet-op");
    const user = `tenant-${randomBytes(3).toString("hex")}`;
    await grantTenant(admin, ns, user);
    tenant = await userKubeConfig(user);
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns},${opNs}`,
      "--trust-domain=cluster.local",
      "--leader-elect=false",
      "--log-level=info",
    ]);
    await createIdentity(admin, ns, "victim");
    await waitReady(admin, ns, "victim");
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it("gives the tenant every right on MachineIdentities and none on Secrets", async () => {
    await expect(
      tenant.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ namespace: ns, name: "victim-identity" }),
    ).rejects.toMatchObject({ code: 403 });
    await expect(
      tenant.makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({ ...MI, namespace: ns }),
    ).resolves.toBeDefined();
  });

  it("refuses a MachineIdentity that names another identity's Secret, and leaves the victim untouched", async () => {
    const secretBefore = secretState(await secretOf(ns, "victim-identity"));
    const statusBefore = JSON.stringify((await readIdentity(admin, ns, "victim")).status);

    await createIdentity(tenant, ns, "thief", { secretName: "victim-identity" });
    const thief = await waitReadyReason(admin, ns, "thief", "SecretConflict");
    const ready = readyCondition(thief);
    expect(ready?.status).toBe("False");
    expect(ready?.message).toContain(`MachineIdentity ${ns}/thief`);
    expect(ready?.message).toContain(`Secret ${ns}/victim-identity named in spec.secretName`);
    expect(ready?.message).toContain(`belongs to MachineIdentity ${ns}/victim`);
    expect(ready?.message).toContain("choose another spec.secretName");
    expect(thief.status?.conditions?.find((c) => c.type === "Issuing")).toMatchObject({
      status: "False",
      reason: "SecretConflict",
      message: ready?.message,
    });
    expect(thief.status?.serialNumber).toBeUndefined();

    await reconcileForAWhile(tenant, ns, ["thief"]);
    expect(secretState(await secretOf(ns, "victim-identity"))).toBe(secretBefore);
    expect(JSON.stringify((await readIdentity(admin, ns, "victim")).status)).toBe(statusBefore);
    const events = await warnings(ns, "thief", "SecretConflict");
    expect(events.map((e) => e.message)).toEqual([ready?.message]);
  });

  it("does not delete the victim's Secret when the thief is suspended", async () => {
    const secretBefore = secretState(await secretOf(ns, "victim-identity"));
    const statusBefore = JSON.stringify((await readIdentity(admin, ns, "victim")).status);

    await patchIdentitySpec(tenant, ns, "thief", { suspend: true });
    const thief = await waitReadyReason(admin, ns, "thief", "SecretConflict");
    expect(readyCondition(thief)?.message).toContain(`Secret ${ns}/victim-identity named in spec.secretName`);
    await reconcileForAWhile(tenant, ns, ["thief"]);

    expect(secretState(await secretOf(ns, "victim-identity"))).toBe(secretBefore);
    expect(JSON.stringify((await readIdentity(admin, ns, "victim")).status)).toBe(statusBefore);
    const revoked = (await core.listNamespacedEvent({ namespace: ns })).items.filter(
      (e) => e.involvedObject.name === "thief" && e.reason === "Revoked",
    );
    expect(revoked).toEqual([]);
  });

  it.each([
    ["unlabelled, so outside the operator's cache", {}],
    ["carrying Signet's managed-by label, so inside its cache", { "app.kubernetes.io/managed-by": "signet" }],
  ])("never changes a Secret that an admin created beforehand, %s", async (_name, labels) => {
    const secretName = `db-${randomBytes(3).toString("hex")}`;
    const identityName = `grab-${secretName}`;
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: secretName, labels },
        type: "Opaque",
        stringData: { password: "correct horse battery staple" },
      },
    });
    const before = secretState(await secretOf(ns, secretName));

    await createIdentity(tenant, ns, identityName, { secretName });
    const grab = await waitReadyReason(admin, ns, identityName, "SecretConflict");
    const message = readyCondition(grab)?.message;
    expect(message).toContain(`MachineIdentity ${ns}/${identityName}`);
    expect(message).toContain(`Secret ${ns}/${secretName} named in spec.secretName`);
    expect(message).toContain("not created by Signet");
    expect(message).toContain("choose another spec.secretName");

    await reconcileForAWhile(tenant, ns, [identityName]);
    expect(secretState(await secretOf(ns, secretName))).toBe(before);
    expect((await warnings(ns, identityName, "SecretConflict")).map((e) => e.message)).toEqual([message]);
  });

  it("refuses a MachineIdentity in the operator's namespace that names the CA Secret", async () => {
    const caBefore = secretState(
      await waitFor("the CA Secret", () => secretOf(opNs, "signet-ca").catch(() => undefined)),
    );

    await createIdentity(admin, opNs, "ca-grab", { secretName: "signet-ca" });
    const grab = await waitReadyReason(admin, opNs, "ca-grab", "SecretNameReserved");
    const message = readyCondition(grab)?.message;
    expect(readyCondition(grab)?.status).toBe("False");
    expect(message).toContain(`MachineIdentity ${opNs}/ca-grab`);
    expect(message).toContain("spec.secretName signet-ca is reserved for Signet's own Secrets");
    expect(message).toContain("choose another spec.secretName");

    await reconcileForAWhile(admin, opNs, ["ca-grab"]);
    expect(secretState(await secretOf(opNs, "signet-ca"))).toBe(caBefore);
    expect((await warnings(opNs, "ca-grab", "SecretNameReserved")).map((e) => e.message)).toEqual([message]);
  });

  it("changes nothing for the victim when the thief is deleted", async () => {
    const secretBefore = secretState(await secretOf(ns, "victim-identity"));
    const statusBefore = JSON.stringify((await readIdentity(admin, ns, "victim")).status);

    await tenant
      .makeApiClient(k8s.CustomObjectsApi)
      .deleteNamespacedCustomObject({ ...MI, namespace: ns, name: "thief" });
    await waitFor("the thief to be gone", async () =>
      (await readIdentity(admin, ns, "thief").catch(() => undefined)) ? undefined : true,
    );
    await reconcileForAWhile(admin, ns, ["victim"]);

    expect(secretState(await secretOf(ns, "victim-identity"))).toBe(secretBefore);
    expect(JSON.stringify((await readIdentity(admin, ns, "victim")).status)).toBe(statusBefore);
  });

  it("lets only the identity created first create a Secret that two name, and the other take it only once it is gone", async () => {
    // The elder has the later name, so that its age, not the name tie-break, decides.
    await createIdentity(tenant, ns, "zz-elder", { secretName: "shared-tls" });
    await sleep(1_100);
    await createIdentity(tenant, ns, "aa-younger", { secretName: "shared-tls" });

    const elder = await waitReady(admin, ns, "zz-elder");
    const younger = await waitReadyReason(admin, ns, "aa-younger", "SecretConflict");
    expect(readyCondition(younger)?.message).toContain(`Secret ${ns}/shared-tls named in spec.secretName`);
    const shared = await secretOf(ns, "shared-tls");
    expect(shared.metadata?.ownerReferences?.[0]).toMatchObject({
      name: "zz-elder",
      uid: elder.metadata.uid,
    });

    // Without a garbage collector the deleted elder's Secret stays, and stays the elder's.
    await tenant
      .makeApiClient(k8s.CustomObjectsApi)
      .deleteNamespacedCustomObject({ ...MI, namespace: ns, name: "zz-elder" });
    const held = await waitFor("the younger identity to see the elder's Secret as held", async () => {
      const mi = await readIdentity(admin, ns, "aa-younger");
      return readyCondition(mi)?.message?.includes(`belongs to MachineIdentity ${ns}/zz-elder`)
        ? mi
        : undefined;
    });
    expect(readyCondition(held)?.reason).toBe("SecretConflict");
    await sleep(2_000);
    expect(secretState(await secretOf(ns, "shared-tls"))).toBe(secretState(shared));

    // What the garbage collector would do: the Secret goes, and the remaining claimant is woken
    // at once rather than at its next periodic recheck.
    const removedAt = Date.now();
    await core.deleteNamespacedSecret({ namespace: ns, name: "shared-tls" });
    const taken: MachineIdentity = await waitReady(admin, ns, "aa-younger", 20_000);
    expect(Date.now() - removedAt).toBeLessThan(20_000);
    const now = await secretOf(ns, "shared-tls");
    expect(now.metadata?.ownerReferences?.[0]).toMatchObject({ name: "aa-younger", uid: taken.metadata.uid });
  });
});
