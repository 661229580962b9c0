import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ACCESS_POLICY_PLURAL,
  ACCESS_SCHEDULE_PLURAL,
  type AccessPolicy,
  API_VERSION,
  GROUP,
  MACHINE_IDENTITY_PLURAL,
  type MachineIdentity,
  VERSION,
} from "../../operator/src/api/index.ts";
import { DAY_MS, selfSignedCertificate } from "../../testing/discover-fixtures.ts";
import { createIdentity, waitReady } from "../identity/support.ts";
import { type OfflinePage, openOffline } from "../support/browser.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";
import { signet } from "./support.ts";

const timestamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/**
 * `signet audit --format html` against the real control plane, the page then loaded from disk in
 * headless Chromium with the network off: its graph, tables and findings must be the cluster's.
 */
describe("signet audit --format html in a real browser", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  let shop: string;
  let finance: string;
  let operator: OperatorProcess;
  let file: string;
  let browser: OfflinePage;
  /** A registry host that would run as a script if the page did not escape it. */
  const hostileRegistry = "<script>window.__signetPwned=1</script>.example";
  const planted: string[] = [];

  const createPolicy = (namespace: string, name: string, spec: Record<string, unknown>) =>
    objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_POLICY_PLURAL,
      namespace,
      body: { apiVersion: API_VERSION, kind: "AccessPolicy", metadata: { name, namespace }, spec },
    });

  const listPolicies = async (namespace: string) =>
    (
      (await objects.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: ACCESS_POLICY_PLURAL,
        namespace,
      })) as { items: AccessPolicy[] }
    ).items;

  beforeAll(async () => {
    await installCrds(kc);
    shop = await createNamespace(kc, "html-shop");
    finance = await createNamespace(kc, "html-finance");
    const opNs = await createNamespace(kc, "signet-html-op");
    operator = await startOperatorProcess(kubeconfigPath(), [
      "--leader-elect=false",
      `--namespace=${opNs}`,
      `--watch-namespaces=${shop},${finance}`,
      "--metrics-port=0",
    ]);
    for (const name of ["payments", "checkout", "batch", "support"]) {
      await createIdentity(kc, shop, name, { serviceAccounts: [name] });
    }
    await createIdentity(kc, finance, "ledger", { serviceAccounts: ["ledger"] });

    // A grant that starts in two hours: the policy that uses it is closed for the whole test.
    const now = Date.now();
    await objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_SCHEDULE_PLURAL,
      namespace: shop,
      body: {
        apiVersion: API_VERSION,
        kind: "AccessSchedule",
        metadata: { name: "later", namespace: shop },
        spec: { grants: [{ start: timestamp(now + 2 * 3_600_000), end: timestamp(now + 3 * 3_600_000) }] },
      },
    });
    await createPolicy(shop, "checkout-to-payments", {
      target: { identity: "payments", ports: [{ port: 8443, protocol: "TCP" }] },
      allowFrom: [{ identity: "checkout" }],
    });
    await createPolicy(shop, "batch-to-payments", {
      target: { identity: "payments" },
      allowFrom: [{ identity: "batch" }],
      suspend: true,
    });
    await createPolicy(shop, "support-to-payments", {
      target: { identity: "payments" },
      allowFrom: [{ identity: "support" }],
      scheduleRef: { name: "later" },
    });
    await createPolicy(shop, "ledger-to-payments", {
      target: { identity: "payments", ports: [{ port: 8443 }] },
      allowFrom: [{ identity: "ledger", namespace: finance }],
    });
    await createPolicy(finance, "payments-to-ledger", {
      target: { identity: "ledger" },
      allowFrom: [{ identity: "payments", namespace: shop }],
    });

    // A static credential for discover: a ten-year certificate with its key, mounted by a pod.
    const legacy = await selfSignedCertificate(
      "legacy-api",
      new Date(now - 30 * DAY_MS),
      new Date(now + 3620 * DAY_MS),
    );
    planted.push(legacy.keyPem, legacy.certPem, "c2VjcmV0LXJlZ2lzdHJ5LXBhc3N3b3Jk");
    await core.createNamespacedSecret({
      namespace: shop,
      body: {
        metadata: { name: "legacy-api-tls", namespace: shop },
        type: "kubernetes.io/tls",
        stringData: { "tls.crt": legacy.certPem, "tls.key": legacy.keyPem },
      },
    });
    await core.createNamespacedSecret({
      namespace: shop,
      body: {
        metadata: { name: "registry-pull", namespace: shop },
        type: "kubernetes.io/dockerconfigjson",
        stringData: {
          ".dockerconfigjson": JSON.stringify({ auths: { [hostileRegistry]: { auth: planted[2] } } }),
        },
      },
    });
    await core.createNamespacedPod({
      namespace: shop,
      body: {
        metadata: { name: "legacy-api-0", namespace: shop },
        spec: {
          serviceAccountName: "legacy-api",
          volumes: [{ name: "tls", secret: { secretName: "legacy-api-tls" } }],
          containers: [{ name: "app", image: "registry.example/app:1" }],
        },
      },
    });
    await core.createNamespacedPod({
      namespace: shop,
      body: {
        metadata: { name: "payments-0", namespace: shop, labels: { "signet.dev/identity": "payments" } },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    });

    for (const name of ["payments", "checkout", "batch", "support"]) await waitReady(kc, shop, name);
    await waitReady(kc, finance, "ledger");
    // The operator's word on every policy, so that the page and the objects read below agree.
    for (const ns of [shop, finance]) {
      await waitFor(`AccessPolicies in ${ns} to have a current status`, async () => {
        const items = await listPolicies(ns);
        return items.every(
          (p) =>
            typeof p.status?.active === "boolean" && p.status.observedGeneration === p.metadata?.generation,
        )
          ? items
          : undefined;
      });
    }

    const started = performance.now();
    const result = await signet("audit", "--namespace", shop, "--format", "html");
    console.log(`signet audit --format html took ${Math.round(performance.now() - started)} ms`);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    file = join(mkdtempSync(join(tmpdir(), "signet-audit-html-")), "audit.html");
    writeFileSync(file, result.stdout);

    const opened = performance.now();
    browser = await openOffline(file);
    console.log(
      `headless Chromium launched and loaded the page in ${Math.round(performance.now() - opened)} ms`,
    );
  });

  afterAll(async () => {
    await browser?.close();
    await operator?.stop();
  });

  it("should load from disk with the network off, requesting nothing but itself and running no script", async () => {
    expect(browser.requests).toEqual([browser.url]);
    expect(browser.problems).toEqual([]);
    const page = browser.page;
    expect(await page.title()).toBe(`Signet audit: namespace ${shop}`);
    expect(await page.locator("script").count()).toBe(0);
    expect(await page.evaluate("typeof window.__signetPwned")).toBe("undefined");
    // Nothing on the page points outside it.
    const external = await page
      .locator("[src],[href],link,iframe,object,embed")
      .evaluateAll((list) => list.map((e) => e.outerHTML));
    expect(external).toEqual([]);
  });

  it("should draw exactly the cluster's edges, each with its state, and its identities as nodes", async () => {
    const page = browser.page;
    // What the cluster says: one edge per (policy, source), suspended by spec, else open or closed by the operator's status.
    const expected: string[][] = [];
    for (const ns of [shop, finance]) {
      for (const p of await listPolicies(ns)) {
        for (const source of p.spec.allowFrom) {
          expected.push([
            `${source.namespace ?? ns}/${source.identity}->${ns}/${p.spec.target.identity}`,
            `${ns}/${p.metadata?.name}`,
            p.spec.suspend === true ? "suspended" : p.status?.active === true ? "active" : "closed",
          ]);
        }
      }
    }
    const drawn = await page
      .locator("svg.graph [data-edge]")
      .evaluateAll((edges) =>
        edges.map((e) => [
          e.getAttribute("data-edge"),
          e.getAttribute("data-policy"),
          e.getAttribute("data-state"),
        ]),
      );
    expect([...drawn].sort()).toEqual([...expected].sort());
    // And what the test made, so that a wrong reading of the objects cannot pass either.
    expect([...drawn].sort()).toEqual(
      [
        [`${finance}/ledger->${shop}/payments`, `${shop}/ledger-to-payments`, "active"],
        [`${shop}/batch->${shop}/payments`, `${shop}/batch-to-payments`, "suspended"],
        [`${shop}/checkout->${shop}/payments`, `${shop}/checkout-to-payments`, "active"],
        [`${shop}/payments->${finance}/ledger`, `${finance}/payments-to-ledger`, "active"],
        [`${shop}/support->${shop}/payments`, `${shop}/support-to-payments`, "closed"],
      ].sort(),
    );

    const identities = (
      (await objects.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: MACHINE_IDENTITY_PLURAL,
        namespace: shop,
      })) as { items: MachineIdentity[] }
    ).items;
    const nodes = await page
      .locator("svg.graph [data-node]")
      .evaluateAll((list) => list.map((n) => [n.getAttribute("data-node"), n.getAttribute("data-state")]));
    expect(nodes).toEqual(
      [
        ...identities.map((i) => [`${shop}/${i.metadata?.name}`, "ready"]),
        // Named by policies, in a namespace the page does not cover.
        [`${finance}/ledger`, "outside"],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });

  it("should render every node and edge visibly, suspended and closed edges dashed and coloured apart from open ones", async () => {
    const page = browser.page;
    const boxes = await page.locator("svg.graph [data-node], svg.graph [data-edge]").evaluateAll((list) =>
      list.map((e) => {
        const box = (e as unknown as { getBBox(): { width: number; height: number } }).getBBox();
        return box.width > 0 && box.height > 0;
      }),
    );
    expect(boxes).toHaveLength(10);
    expect(boxes.every(Boolean)).toBe(true);
    const style = (state: string) =>
      page
        .locator(`svg.graph [data-state="${state}"][data-edge] path`)
        .first()
        .evaluate((path) => {
          const s = (
            globalThis as unknown as {
              getComputedStyle(e: unknown): { strokeDasharray: string; stroke: string };
            }
          ).getComputedStyle(path);
          return { dash: s.strokeDasharray, stroke: s.stroke };
        });
    const [active, suspended, closed] = await Promise.all([
      style("active"),
      style("suspended"),
      style("closed"),
    ]);
    expect(active.dash).toBe("none");
    expect(suspended.dash).not.toBe("none");
    expect(closed.dash).not.toBe("none");
    expect(new Set([active.stroke, suspended.stroke, closed.stroke]).size).toBe(3);
    expect(new Set([active.dash, suspended.dash, closed.dash]).size).toBe(3);
  });

  it("should list the identities as the text report does, one row each", async () => {
    const page = browser.page;
    const rows = await page.locator("#identities tr[data-identity]").evaluateAll((trs) =>
      trs.map((tr) => ({
        id: tr.getAttribute("data-identity"),
        ...Object.fromEntries(
          [...tr.querySelectorAll("td[data-col]")].map((td) => [
            td.getAttribute("data-col"),
            td.textContent?.trim(),
          ]),
        ),
      })),
    );
    expect(rows.map((r) => r.id)).toEqual(
      ["batch", "checkout", "payments", "support"].map((n) => `${shop}/${n}`),
    );
    for (const r of rows) {
      const name = String(r.id).split("/")[1] ?? "";
      const mi = (await objects.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: MACHINE_IDENTITY_PLURAL,
        namespace: shop,
        name,
      })) as MachineIdentity;
      expect(r).toMatchObject({
        namespace: shop,
        name,
        "spiffe-id": mi.status?.spiffeID,
        ready: "True",
        delivery: "Secret",
        consumers: name === "payments" ? "payments-0" : "-",
        rotations: String(mi.status?.rotations ?? 0),
      });
      expect(r.expires).toMatch(/^in \d+(m|h|h\d+m)$/);
    }
    const payments = rows.find((r) => r.id === `${shop}/payments`);
    expect(payments?.in).toContain(`${shop}/batch-to-payments (Suspended)`);
    expect(payments?.in).toContain(`${shop}/support-to-payments (ScheduleInactive)`);
    expect(payments?.out).toBe(`${finance}/payments-to-ledger (active)`);
  });

  it("should show what signet discover finds, escaped, and never a value", async () => {
    const page = browser.page;
    const findings = await page
      .locator("#discover tr[data-finding]")
      .evaluateAll((trs) => trs.map((tr) => [tr.getAttribute("data-finding"), tr.getAttribute("data-risk")]));
    // Signet's own identity Secrets in the namespace are the replacement, not findings.
    expect(findings).toEqual([
      [`${shop}/legacy-api-tls`, "high"],
      [`${shop}/registry-pull`, "low"],
    ]);
    const legacy = page.locator(`#discover tr[data-finding="${shop}/legacy-api-tls"]`);
    expect(await legacy.locator('td[data-col="pods"]').textContent()).toBe("legacy-api-0 (volume/tls)");
    expect(await legacy.locator('td[data-col="reason"]').textContent()).toContain(
      "kubectl apply a MachineIdentity",
    );
    const pull = await page.locator(`#discover tr[data-finding="${shop}/registry-pull"]`).textContent();
    expect(pull).toContain(hostileRegistry);
    const text = await page.content();
    for (const value of planted) expect(text).not.toContain(value.trim().split("\n")[1] ?? value);
  });

  it("should refuse --output and --format that disagree, with usage, exit 2", async () => {
    const result = await signet("audit", "-n", shop, "--format", "html", "--output", "json");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--output "json" and --format "html" disagree; give one');
  });
});
