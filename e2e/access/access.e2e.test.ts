import { randomBytes, X509Certificate } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION, GROUP, type MachineIdentity, VERSION } from "../../operator/src/api/index.ts";
import { createNamespace, kubeConfig } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { waitFor as eventually, sleep } from "../support/wait.ts";
import { Access, observe, type RawNetworkPolicy, secondsFromNow, startTestOperator } from "./support.ts";

/**
 * The AccessSchedule and AccessPolicy controllers against the real API server: window boundaries,
 * suspend, drift repair and the exact NetworkPolicies, plus a MachineIdentity whose credential
 * exists only inside its schedule. The operator runs as its own process and watches only this file's
 * namespaces.
 */

const kc = kubeConfig();
const access = new Access(kc);
let operator: OperatorProcess;
const operatorNamespace = `signet-access-${randomBytes(4).toString("hex")}`;
let shop: string;
let finance: string;
let vault: string;

const MAX_DELAY_MS = 1_000;

beforeAll(async () => {
  await installCrds(kc);
  shop = await createNamespace(kc, "access-shop");
  finance = await createNamespace(kc, "access-finance");
  vault = await createNamespace(kc, "access-vault");
  operator = await startTestOperator(kc, operatorNamespace, [shop, finance, vault]);
});

afterAll(async () => {
  await operator?.stop();
});

const exists = (namespace: string, name: string) => async () =>
  (await access.networkPolicy(namespace, name)) !== undefined;

describe("a one-off grant", () => {
  it("should create the allow NetworkPolicy within a second of the start and remove it within a second of the end", async () => {
    const start = secondsFromNow(3_000);
    const end = new Date(start.getTime() + 5_000);
    await access.createSchedule(shop, "incident", {
      grants: [{ start: start.toISOString(), end: end.toISOString(), reason: "incident 4711" }],
    });
    await access.createPolicy(shop, "oncall-to-payments", {
      target: { identity: "payments" },
      allowFrom: [{ identity: "oncall" }],
      scheduleRef: { name: "incident" },
    });

    await eventually("the deny before the window", async () =>
      (await access.networkPolicy(shop, "signet-deny-payments")) ? true : undefined,
    );
    const before = await eventually("the policy's status before the window", async () => {
      const p = await access.readPolicy(shop, "oncall-to-payments");
      return p.status?.reason ? p : undefined;
    });
    expect(before.status).toMatchObject({
      active: false,
      reason: "ScheduleInactive",
      nextTransition: start.toISOString(),
      networkPolicies: ["signet-deny-payments"],
    });
    expect(Date.now()).toBeLessThan(start.getTime());
    expect(await access.networkPolicy(shop, "signet-allow-oncall-to-payments")).toBeUndefined();

    const opened = await observe(exists(shop, "signet-allow-oncall-to-payments"), true);
    expect(opened).toBeGreaterThanOrEqual(start.getTime());
    expect(opened - start.getTime()).toBeLessThanOrEqual(MAX_DELAY_MS);

    const during = await eventually("the schedule's status inside the grant", async () => {
      const s = await access.readSchedule(shop, "incident");
      return s.status?.active ? s : undefined;
    });
    expect(during.status?.currentWindowEnd).toBe(end.toISOString());
    expect(during.status?.conditions?.find((c) => c.type === "Active")).toMatchObject({
      status: "True",
      reason: "InsideGrant",
    });
    const inside = await eventually("the policy's status inside the grant", async () => {
      const p = await access.readPolicy(shop, "oncall-to-payments");
      return p.status?.active ? p : undefined;
    });
    expect(inside.status).toMatchObject({
      reason: "ScheduleActive",
      nextTransition: end.toISOString(),
      networkPolicies: ["signet-allow-oncall-to-payments", "signet-deny-payments"],
    });

    const closed = await observe(exists(shop, "signet-allow-oncall-to-payments"), false);
    expect(closed).toBeGreaterThanOrEqual(end.getTime());
    expect(closed - end.getTime()).toBeLessThanOrEqual(MAX_DELAY_MS);
    expect(await access.networkPolicy(shop, "signet-deny-payments")).toBeDefined();

    const reasons = await eventually("both events", async () => {
      const list = (await access.events(shop, "oncall-to-payments")).map((e) => e.reason);
      return list.includes("AccessGranted") && list.includes("AccessRevoked") ? list : undefined;
    });
    expect(reasons).toContain("AccessRevoked");
    console.log(
      `grant boundary: allow created after ${opened - start.getTime()} ms, removed after ${closed - end.getTime()} ms`,
    );
  });

  it("should report an unknown time zone as a condition naming spec.timeZone", async () => {
    await access.createSchedule(shop, "on-mars", {
      timeZone: "Mars/Olympus_Mons",
      windows: [{ days: ["Mon"], start: "08:00", end: "18:00" }],
    });
    const s = await eventually("the invalid schedule's status", async () => {
      const current = await access.readSchedule(shop, "on-mars");
      return current.status?.conditions ? current : undefined;
    });
    expect(s.status?.active).toBe(false);
    expect(s.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "InvalidTimeZone",
      message: expect.stringContaining('spec.timeZone "Mars/Olympus_Mons"'),
    });
  });
});

describe("suspend", () => {
  async function toggles(kind: "schedule" | "policy", name: string, allow: string) {
    for (const suspend of [true, false]) {
      const at = Date.now();
      await access.setSuspend(kind, shop, name, suspend);
      const seen = await observe(exists(shop, allow), !suspend);
      expect(seen - at, `${kind} suspend=${suspend}`).toBeLessThanOrEqual(MAX_DELAY_MS);
    }
  }

  it("should remove and restore the allow within a second when the policy is suspended and resumed", async () => {
    await access.createPolicy(shop, "checkout-to-ledger", {
      target: { identity: "ledger" },
      allowFrom: [{ identity: "checkout" }],
    });
    await observe(exists(shop, "signet-allow-checkout-to-ledger"), true);
    await toggles("policy", "checkout-to-ledger", "signet-allow-checkout-to-ledger");
  });

  it("should remove and restore the allow within a second when the schedule is suspended and resumed", async () => {
    await access.createSchedule(shop, "today", {
      grants: [
        {
          start: new Date(Date.now() - 3_600_000).toISOString(),
          end: new Date(Date.now() + 3_600_000).toISOString(),
        },
      ],
    });
    await access.createPolicy(shop, "batch-to-reports", {
      target: { identity: "reports" },
      allowFrom: [{ identity: "batch" }],
      scheduleRef: { name: "today" },
    });
    await observe(exists(shop, "signet-allow-batch-to-reports"), true);
    await toggles("schedule", "today", "signet-allow-batch-to-reports");
  });
});

describe("drift", () => {
  beforeAll(async () => {
    await access.createPolicy(finance, "audit-to-books", {
      target: { identity: "books", ports: [{ port: 5432, protocol: "TCP" }] },
      allowFrom: [{ identity: "audit" }],
    });
    await observe(exists(finance, "signet-allow-audit-to-books"), true);
  });

  it("should restore an allow whose ingress rule was edited by hand", async () => {
    const original = (await access.networkPolicy(finance, "signet-allow-audit-to-books")) as RawNetworkPolicy;
    const edited = await access.networking.readNamespacedNetworkPolicy({
      namespace: finance,
      name: "signet-allow-audit-to-books",
    });
    edited.spec = { ...edited.spec, ingress: [{ ports: [{ port: 1, protocol: "TCP" }] }] };
    await access.networking.replaceNamespacedNetworkPolicy({
      namespace: finance,
      name: "signet-allow-audit-to-books",
      body: edited,
    });
    const restored = await eventually("the ingress rule restored", async () => {
      const np = await access.networkPolicy(finance, "signet-allow-audit-to-books");
      return np && JSON.stringify(np.spec) === JSON.stringify(original.spec) ? np : undefined;
    });
    expect(restored.spec).toEqual(original.spec);
  });

  it("should recreate a deny deleted by hand", async () => {
    const before = (await access.networkPolicy(finance, "signet-deny-books")) as RawNetworkPolicy;
    await access.networking.deleteNamespacedNetworkPolicy({ namespace: finance, name: "signet-deny-books" });
    const again = await eventually("the deny recreated", async () => {
      const np = await access.networkPolicy(finance, "signet-deny-books");
      return np && np.metadata.uid !== before.metadata.uid ? np : undefined;
    });
    expect(again.spec).toEqual(before.spec);
  });

  it("should take back a NetworkPolicy whose Signet label was removed by hand", async () => {
    const np = await access.networking.readNamespacedNetworkPolicy({
      namespace: finance,
      name: "signet-deny-books",
    });
    const labels = { ...np.metadata?.labels };
    delete labels["app.kubernetes.io/managed-by"];
    await access.networking.replaceNamespacedNetworkPolicy({
      namespace: finance,
      name: "signet-deny-books",
      body: { ...np, metadata: { ...np.metadata, labels } },
    });
    await eventually("the label back", async () => {
      const current = await access.networkPolicy(finance, "signet-deny-books");
      return current?.metadata.labels?.["app.kubernetes.io/managed-by"] === "signet" ? true : undefined;
    });
  });

  it("should delete a Signet-labelled NetworkPolicy that no policy asks for", async () => {
    await access.networking.createNamespacedNetworkPolicy({
      namespace: finance,
      body: {
        metadata: { name: "signet-allow-nobody", labels: { "app.kubernetes.io/managed-by": "signet" } },
        spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{}] },
      },
    });
    await observe(exists(finance, "signet-allow-nobody"), false, { timeoutMs: 10_000 });
    expect(await access.networkPolicyNames(finance)).toEqual([
      "signet-allow-audit-to-books",
      "signet-deny-books",
    ]);
  });
});

describe("exact NetworkPolicies", () => {
  const identity = (name: string) => ({ matchLabels: { "signet.dev/identity": name } });

  it("should select a source in another namespace by both its namespace and its identity", async () => {
    await access.createPolicy(shop, "ledger-to-api", {
      target: { identity: "api", ports: [{ port: 8443, protocol: "TCP" }] },
      allowFrom: [{ identity: "ledger", namespace: finance }],
    });
    const np = await eventually("the cross-namespace allow", () =>
      access.networkPolicy(shop, "signet-allow-ledger-to-api"),
    );
    const owner = await access.readPolicy(shop, "ledger-to-api");
    expect(np.metadata.labels).toEqual({
      "app.kubernetes.io/managed-by": "signet",
      "signet.dev/policy": "ledger-to-api",
      "signet.dev/target": "api",
    });
    expect(np.metadata.ownerReferences).toEqual([
      { apiVersion: API_VERSION, kind: "AccessPolicy", name: "ledger-to-api", uid: owner.metadata.uid },
    ]);
    expect(np.spec).toEqual({
      podSelector: identity("api"),
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": finance } },
              podSelector: identity("ledger"),
            },
          ],
          ports: [{ port: 8443, protocol: "TCP" }],
        },
      ],
    });
  });

  it("should give two policies on one target one shared deny and one allow each", async () => {
    await access.createPolicy(vault, "web-to-db", {
      target: { identity: "db" },
      allowFrom: [{ identity: "web" }],
    });
    await access.createPolicy(vault, "jobs-to-db", {
      target: { identity: "db", ports: [{ port: 5432, protocol: "TCP" }] },
      allowFrom: [{ identity: "jobs" }, { identity: "cron" }],
    });
    const names = await eventually("one deny and two allows", async () => {
      const list = await access.networkPolicyNames(vault);
      return list.length === 3 ? list : undefined;
    });
    expect(names).toEqual(["signet-allow-jobs-to-db", "signet-allow-web-to-db", "signet-deny-db"]);

    const web = await access.readPolicy(vault, "web-to-db");
    const jobs = await access.readPolicy(vault, "jobs-to-db");
    const deny = await eventually("the deny owned by both", async () => {
      const np = await access.networkPolicy(vault, "signet-deny-db");
      return np?.metadata.ownerReferences?.length === 2 ? np : undefined;
    });
    expect(deny.spec).toEqual({ podSelector: identity("db"), policyTypes: ["Ingress"] });
    expect(deny.metadata.labels).toEqual({
      "app.kubernetes.io/managed-by": "signet",
      "signet.dev/target": "db",
    });
    expect(deny.metadata.ownerReferences).toEqual([
      { apiVersion: API_VERSION, kind: "AccessPolicy", name: "jobs-to-db", uid: jobs.metadata.uid },
      { apiVersion: API_VERSION, kind: "AccessPolicy", name: "web-to-db", uid: web.metadata.uid },
    ]);
    expect((await access.networkPolicy(vault, "signet-allow-web-to-db"))?.spec).toEqual({
      podSelector: identity("db"),
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ podSelector: identity("web") }] }],
    });
    expect((await access.networkPolicy(vault, "signet-allow-jobs-to-db"))?.spec).toEqual({
      podSelector: identity("db"),
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [{ podSelector: identity("cron") }, { podSelector: identity("jobs") }],
          ports: [{ port: 5432, protocol: "TCP" }],
        },
      ],
    });
    const status = await eventually("both statuses", async () => {
      const p = await access.readPolicy(vault, "jobs-to-db");
      return p.status?.conditions ? p.status : undefined;
    });
    expect(status).toMatchObject({
      active: true,
      reason: "Active",
      networkPolicies: ["signet-allow-jobs-to-db", "signet-deny-db"],
      observedGeneration: jobs.metadata.generation,
    });
    expect(status.conditions?.[0]).toMatchObject({ type: "Ready", status: "True" });
  });

  it("should warn and grant nothing while the referenced schedule does not exist", async () => {
    await access.createPolicy(vault, "ghost-to-db", {
      target: { identity: "db" },
      allowFrom: [{ identity: "ghost" }],
      scheduleRef: { name: "missing" },
    });
    const p = await eventually("the missing-schedule status", async () => {
      const current = await access.readPolicy(vault, "ghost-to-db");
      return current.status?.reason ? current : undefined;
    });
    expect(p.status).toMatchObject({
      active: false,
      reason: "ScheduleNotFound",
      networkPolicies: ["signet-deny-db"],
    });
    expect(p.status?.conditions?.[0]).toMatchObject({
      type: "Ready",
      status: "False",
      reason: "ScheduleNotFound",
    });
    await eventually("the warning event", async () =>
      (await access.events(vault, "ghost-to-db")).find(
        (e) => e.reason === "ScheduleNotFound" && e.type === "Warning",
      ),
    );
    expect(await access.networkPolicy(vault, "signet-allow-ghost-to-db")).toBeUndefined();
  });
});

describe("a MachineIdentity with scheduleRef", () => {
  const MI = { group: GROUP, version: VERSION, plural: "machineidentities" } as const;
  const readIdentity = async () =>
    (await access.objects.getNamespacedCustomObject({
      ...MI,
      namespace: vault,
      name: "deployer",
    })) as MachineIdentity;
  const readSecret = async () => {
    try {
      return await access.core.readNamespacedSecret({ namespace: vault, name: "deployer-identity" });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  const ready = (mi: MachineIdentity) => mi.status?.conditions?.find((c) => c.type === "Ready");

  it("should hold a credential only inside the window, never valid past its end", async () => {
    // The Secret is followed through a watch: every version the API server stores is seen, with
    // the time it was seen, so a credential that existed outside the window cannot slip by.
    const seen: { type: string; at: number; secret: k8s.V1Secret }[] = [];
    const watch = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${vault}/secrets`,
      { fieldSelector: "metadata.name=deployer-identity" },
      (type: string, secret: k8s.V1Secret) => seen.push({ type, at: Date.now(), secret }),
      () => {},
    );
    try {
      const start = secondsFromNow(4_000);
      const end = new Date(start.getTime() + 10_000);
      await access.createSchedule(vault, "deploy-window", {
        grants: [{ start: start.toISOString(), end: end.toISOString(), reason: "release 1.4" }],
      });
      await access.objects.createNamespacedCustomObject({
        ...MI,
        namespace: vault,
        body: {
          apiVersion: API_VERSION,
          kind: "MachineIdentity",
          metadata: { name: "deployer", namespace: vault },
          spec: { serviceAccounts: ["deployer"], ttl: "1h", scheduleRef: { name: "deploy-window" } },
        },
      });

      const waiting = await eventually("OutsideWindow before the window", async () => {
        const mi = await readIdentity();
        return ready(mi)?.reason === "OutsideWindow" ? mi : undefined;
      });
      expect(Date.now()).toBeLessThan(start.getTime());
      expect(ready(waiting)?.status).toBe("False");

      const added = await eventually(
        "the Secret inside the window",
        () => seen.find((e) => e.type === "ADDED"),
        {
          intervalMs: 20,
        },
      );
      expect(added.at).toBeGreaterThanOrEqual(start.getTime());
      const pem = Buffer.from(added.secret.data?.["tls.crt"] ?? "", "base64").toString("utf8");
      const leaf = new X509Certificate(pem);
      expect(leaf.validToDate.getTime()).toBeLessThanOrEqual(end.getTime());
      expect(leaf.validToDate.getTime()).toBeGreaterThan(added.at);
      const issued = await eventually("Ready True inside the window", async () => {
        const mi = await readIdentity();
        return ready(mi)?.status === "True" ? mi : undefined;
      });
      expect(new Date(issued.status?.notAfter ?? "").getTime()).toBeLessThanOrEqual(end.getTime());

      const deleted = await eventually(
        "the Secret gone after the window",
        () => seen.find((e) => e.type === "DELETED"),
        {
          intervalMs: 20,
        },
      );
      expect(deleted.at).toBeGreaterThanOrEqual(end.getTime());
      expect(seen.filter((e) => e.type !== "DELETED").every((e) => e.at >= start.getTime())).toBe(true);
      expect(await readSecret()).toBeUndefined();
      const after = await eventually("OutsideWindow after the window", async () => {
        const mi = await readIdentity();
        return ready(mi)?.reason === "OutsideWindow" && mi.status?.serialNumber === undefined
          ? mi
          : undefined;
      });
      expect(ready(after)).toMatchObject({
        status: "False",
        message: expect.stringContaining("outside the access windows"),
      });
    } finally {
      watch.abort();
    }
  });
});

describe("a restart", () => {
  it("should apply the state at now as soon as the operator is back, whatever it missed", async () => {
    const end = secondsFromNow(3_000);
    await access.createSchedule(finance, "overnight", {
      grants: [{ start: new Date(Date.now() - 3_600_000).toISOString(), end: end.toISOString() }],
    });
    await access.createPolicy(finance, "batch-to-books", {
      target: { identity: "books" },
      allowFrom: [{ identity: "batch" }],
      scheduleRef: { name: "overnight" },
    });
    await access.createPolicy(finance, "backup-to-books", {
      target: { identity: "books" },
      allowFrom: [{ identity: "backup" }],
    });
    await observe(exists(finance, "signet-allow-batch-to-books"), true);
    await observe(exists(finance, "signet-allow-backup-to-books"), true);

    await operator.stop();
    // While it is away: the grant ends and a policy is suspended.
    await sleep(Math.max(0, end.getTime() - Date.now()) + 500);
    await access.setSuspend("policy", finance, "backup-to-books", true);
    expect(await access.networkPolicy(finance, "signet-allow-batch-to-books")).toBeDefined();
    expect(await access.networkPolicy(finance, "signet-allow-backup-to-books")).toBeDefined();

    operator = await startTestOperator(kc, operatorNamespace, [shop, finance, vault]);
    const back = Date.now();
    await observe(exists(finance, "signet-allow-batch-to-books"), false, { timeoutMs: 10_000 });
    await observe(exists(finance, "signet-allow-backup-to-books"), false, { timeoutMs: 10_000 });
    console.log(`restart: both allows removed ${Date.now() - back} ms after the operator was back`);
    expect(await access.networkPolicyNames(finance)).toContain("signet-deny-books");
    const batch = await eventually("the ended grant in the policy's status", async () => {
      const p = await access.readPolicy(finance, "batch-to-books");
      return p.status?.active === false ? p : undefined;
    });
    expect(batch.status?.reason).toBe("ScheduleInactive");
  });
});
