import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  ACCESS_POLICY_PLURAL,
  ACCESS_SCHEDULE_PLURAL,
  API_VERSION,
  GROUP,
  VERSION,
} from "../../operator/src/api/index.ts";
import type { AuditReport } from "../../operator/src/audit/report.ts";
import { createIdentity, readIdentity, waitReady } from "../identity/support.ts";
import { createNamespace, kubeConfig, kubeconfigPath, userKubeConfig } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { signet, signetAs } from "./support.ts";

describe("signet audit against a real cluster", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  let shop: string;
  let finance: string;
  let operator: OperatorProcess;

  const createPolicy = (namespace: string, name: string, spec: Record<string, unknown>) =>
    objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_POLICY_PLURAL,
      namespace,
      body: { apiVersion: API_VERSION, kind: "AccessPolicy", metadata: { name, namespace }, spec },
    });

  const createPod = (namespace: string, name: string, identity?: string) =>
    core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name,
          namespace,
          labels: identity === undefined ? { app: name } : { "signet.dev/identity": identity },
        },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    });

  beforeAll(async () => {
    await installCrds(kc);
    shop = await createNamespace(kc, "audit-shop");
    finance = await createNamespace(kc, "audit-finance");
    const opNs = await createNamespace(kc, "signet-audit-op");
    operator = await startOperatorProcess(kubeconfigPath(), [
      "--leader-elect=false",
      `--namespace=${opNs}`,
      `--watch-namespaces=${shop},${finance}`,
      "--metrics-port=0",
    ]);

    await createIdentity(kc, shop, "payments", { serviceAccounts: ["payments"] });
    await createIdentity(kc, shop, "checkout", { serviceAccounts: ["checkout"] });
    await createIdentity(kc, shop, "batch", { serviceAccounts: ["batch"] });
    await createIdentity(kc, finance, "ledger", { serviceAccounts: ["ledger"] });

    // A grant around now keeps the schedule open for the whole test, whatever the time of day.
    const now = Date.now();
    await objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_SCHEDULE_PLURAL,
      namespace: shop,
      body: {
        apiVersion: API_VERSION,
        kind: "AccessSchedule",
        metadata: { name: "on-call", namespace: shop },
        spec: {
          grants: [
            {
              start: new Date(now - 3_600_000).toISOString().replace(/\.\d+Z$/, "Z"),
              end: new Date(now + 3 * 3_600_000).toISOString().replace(/\.\d+Z$/, "Z"),
              reason: "audit e2e",
            },
          ],
        },
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
    await createPolicy(shop, "ledger-to-payments", {
      target: { identity: "payments", ports: [{ port: 9090, protocol: "UDP" }, { port: 8443 }] },
      allowFrom: [{ identity: "ledger", namespace: finance }],
      scheduleRef: { name: "on-call" },
    });
    await createPolicy(finance, "payments-to-ledger", {
      target: { identity: "ledger" },
      allowFrom: [{ identity: "payments", namespace: shop }],
      scheduleRef: { name: "no-such-schedule" },
    });

    await createPod(shop, "payments-1", "payments");
    await createPod(shop, "payments-0", "payments");
    await createPod(shop, "checkout-0", "checkout");
    await createPod(shop, "unlabelled");
    // Same label, other namespace: not a consumer of shop's payments identity.
    await createPod(finance, "payments-elsewhere", "payments");

    for (const [ns, name] of [
      [shop, "payments"],
      [shop, "checkout"],
      [shop, "batch"],
      [finance, "ledger"],
    ] as const) {
      await waitReady(kc, ns, name);
    }
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it("should report exactly the identities, consumers, expiry and edges created, as JSON", async () => {
    const result = await signet("audit", "--namespace", shop, "--output", "json");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as AuditReport;

    expect(Date.now() - Date.parse(report.generatedAt)).toBeLessThan(60_000);
    expect(report.identities.map((i) => i.name)).toEqual(["batch", "checkout", "payments"]);
    for (const identity of report.identities) {
      const mi = await readIdentity(kc, shop, identity.name);
      expect(identity).toMatchObject({
        namespace: shop,
        spiffeID: `spiffe://cluster.local/ns/${shop}/id/${identity.name}`,
        ready: true,
        suspended: false,
        notAfter: new Date(mi.status?.notAfter ?? "").toISOString(),
      });
      // The first certificate is an issuance, not a rotation: a fresh identity reports 0.
      expect(identity.rotations).toBe(mi.status?.rotations ?? 0);
      expect(identity.expiry).toMatch(/^in \d+(m|h|h\d+m)$/);
    }
    const byName = Object.fromEntries(report.identities.map((i) => [i.name, i]));
    expect(byName.payments?.consumers).toEqual(["payments-0", "payments-1"]);
    expect(byName.checkout?.consumers).toEqual(["checkout-0"]);
    expect(byName.batch?.consumers).toEqual([]);

    const brief = (links: { policy: string; peer: string; active: boolean }[] | undefined) =>
      links?.map(({ policy, peer, active }) => ({ policy, peer, active }));
    expect(brief(byName.payments?.inbound)).toEqual([
      { policy: `${shop}/batch-to-payments`, peer: `${shop}/batch`, active: false },
      { policy: `${shop}/checkout-to-payments`, peer: `${shop}/checkout`, active: true },
      { policy: `${shop}/ledger-to-payments`, peer: `${finance}/ledger`, active: true },
    ]);
    expect(brief(byName.payments?.outbound)).toEqual([
      { policy: `${finance}/payments-to-ledger`, peer: `${finance}/ledger`, active: false },
    ]);
    expect(brief(byName.checkout?.outbound)).toEqual([
      { policy: `${shop}/checkout-to-payments`, peer: `${shop}/payments`, active: true },
    ]);

    expect(
      report.edges.map(({ from, to, policy, active, ports }) => ({ from, to, policy, active, ports })),
    ).toEqual([
      {
        from: `${finance}/ledger`,
        to: `${shop}/payments`,
        policy: `${shop}/ledger-to-payments`,
        active: true,
        ports: ["8443/TCP", "9090/UDP"],
      },
      {
        from: `${shop}/batch`,
        to: `${shop}/payments`,
        policy: `${shop}/batch-to-payments`,
        active: false,
        ports: [],
      },
      {
        from: `${shop}/checkout`,
        to: `${shop}/payments`,
        policy: `${shop}/checkout-to-payments`,
        active: true,
        ports: ["8443/TCP"],
      },
      {
        from: `${shop}/payments`,
        to: `${finance}/ledger`,
        policy: `${finance}/payments-to-ledger`,
        active: false,
        ports: [],
      },
    ]);
  });

  it("should cover every namespace with --all-namespaces and give the same YAML as JSON", async () => {
    const json = await signet("audit", "--all-namespaces", "-o", "json");
    const yaml = await signet("audit", "-A", "-o", "yaml");
    expect([json.code, yaml.code]).toEqual([0, 0]);
    const fromJson = JSON.parse(json.stdout) as AuditReport;
    const fromYaml = parse(yaml.stdout) as AuditReport;
    const ours = (r: AuditReport) =>
      r.identities
        .filter((i) => i.namespace === shop || i.namespace === finance)
        .map((i) => `${i.namespace}/${i.name}`);
    expect(ours(fromJson)).toEqual(
      [`${finance}/ledger`, `${shop}/batch`, `${shop}/checkout`, `${shop}/payments`].sort(),
    );
    expect(fromJson.identities.find((i) => i.name === "ledger" && i.namespace === finance)?.outbound).toEqual(
      [
        expect.objectContaining({
          policy: `${shop}/ledger-to-payments`,
          peer: `${shop}/payments`,
          active: true,
        }),
      ],
    );
    expect(ours(fromYaml)).toEqual(ours(fromJson));
    expect(fromYaml.edges.filter((e) => e.policy.startsWith(shop))).toEqual(
      fromJson.edges.filter((e) => e.policy.startsWith(shop)),
    );
  });

  it("should draw the graph with active edges solid and inactive ones dashed", async () => {
    const dot = await signet("audit", "-n", shop, "-o", "dot");
    expect(dot.stdout).toContain(
      `"${shop}/checkout" -> "${shop}/payments" [label="${shop}/checkout-to-payments 8443/TCP", style=solid];`,
    );
    expect(dot.stdout).toContain(
      `"${shop}/batch" -> "${shop}/payments" [label="${shop}/batch-to-payments", style=dashed];`,
    );
    const mermaid = await signet("audit", "-n", shop, "-o", "mermaid");
    expect(mermaid.stdout.startsWith("flowchart LR\n")).toBe(true);
    expect(mermaid.stdout.match(/ -\.->\|/g)).toHaveLength(2);
    expect(mermaid.stdout.match(/ -->\|/g)).toHaveLength(2);
  });

  it("should print an aligned table for people", async () => {
    const table = await signet("audit", "-n", shop);
    expect(table.code).toBe(0);
    const lines = table.stdout.split("\n");
    expect(lines[0]).toMatch(
      /^NAMESPACE\s+NAME\s+SPIFFE ID\s+READY\s+DELIVERY\s+CONSUMERS\s+EXPIRES\s+ROTATIONS\s+IN\s+OUT$/,
    );
    const payments = lines.find((l) => l.includes(`/id/payments`));
    expect(payments).toMatch(/True\s+Secret\s+payments-0,payments-1\s+in \S+/);
    // Columns line up: every identity row has its SPIFFE ID where the header has it.
    const column = lines[0]?.indexOf("SPIFFE ID");
    for (const line of lines.slice(1, 4)) expect(line.indexOf("spiffe://")).toBe(column);
  });

  it("should fall back to one namespace, with a warning, for a user who may not list policies cluster-wide", async () => {
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const user = `auditor-${shop}`;
    await rbac.createNamespacedRole({
      namespace: shop,
      body: {
        metadata: { name: "signet-auditor" },
        rules: [
          {
            apiGroups: [GROUP],
            resources: ["machineidentities", "accesspolicies", "accessschedules"],
            verbs: ["list"],
          },
          { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: shop,
      body: {
        metadata: { name: "signet-auditor" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "signet-auditor" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
    });
    const file = join(mkdtempSync(join(tmpdir(), "signet-auditor-")), "kubeconfig");
    writeFileSync(file, (await userKubeConfig(user)).exportConfig());

    const result = await signetAs(file, "audit", "-n", shop, "-o", "json");
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("cannot list accesspolicies in all namespaces");
    const report = JSON.parse(result.stdout) as AuditReport;
    expect(report.identities.map((i) => i.name)).toEqual(["batch", "checkout", "payments"]);
    // The policy in the other namespace is out of sight; the namespace's own are all there.
    expect(report.edges.map((e) => e.policy)).toEqual([
      `${shop}/ledger-to-payments`,
      `${shop}/batch-to-payments`,
      `${shop}/checkout-to-payments`,
    ]);

    const denied = await signetAs(file, "audit", "-n", finance);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/^signet audit: the API server answered 403/);
  });

  it("should refuse an unknown output format with usage and exit 2", async () => {
    const result = await signet("audit", "-o", "xml");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--output must be one of table, json, yaml, mermaid, dot");
  });
});
