// The node tier's cluster itself: what the other node tests rely on, and the network safety it
// promises (no route off the machine from the node; the host routes only the node's ranges to it).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../support/wait.ts";
import { apps, core } from "./support.ts";

const ns = `node-cluster-${randomBytes(3).toString("hex")}`;
const initPid = inject("nodeInitPid");
const inNode = (...args: string[]) =>
  execFileSync("nsenter", ["-t", String(initPid), "-n", ...args], { encoding: "utf8" });

describe("the node tier's cluster", () => {
  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });
  afterAll(async () => {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it("has one Ready node running containerd", async () => {
    const nodes = (await core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name)).toEqual([inject("nodeName")]);
    const node = nodes[0];
    expect(node?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(node?.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(node?.spec?.podCIDR).toBeDefined();
  });

  it("gives a new namespace its default ServiceAccount and the cluster's CA (the controller-manager runs)", async () => {
    await waitFor("default ServiceAccount", () =>
      core.readNamespacedServiceAccount({ namespace: ns, name: "default" }),
    );
    const ca = await waitFor("kube-root-ca.crt", () =>
      core.readNamespacedConfigMap({ namespace: ns, name: "kube-root-ca.crt" }),
    );
    expect(ca.data?.["ca.crt"]).toContain("BEGIN CERTIFICATE");
  });

  it("schedules and runs a Deployment's replicas", async () => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "idle" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "idle" } },
          template: {
            metadata: { labels: { app: "idle" } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                { name: "app", image: "signet-e2e-peer:dev", imagePullPolicy: "Never", args: ["idle"] },
              ],
            },
          },
        },
      },
    });
    const running = await waitFor(
      "two Running replicas",
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: "app=idle" })).items;
        const up = pods.filter((p) => p.status?.phase === "Running" && p.status.podIP);
        return up.length === 2 ? up : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    for (const pod of running) expect(pod.spec?.nodeName).toBe(inject("nodeName"));
  });

  it("routes nothing off the machine: the node has no default route, and the host sends it only the node's ranges", () => {
    expect(
      initPid,
      "the node's init pid (start the node tier itself, or npm run cluster -- up)",
    ).toBeGreaterThan(0);
    const nodeRoutes = inNode("ip", "-4", "route", "show").trim().split("\n");
    expect(nodeRoutes.some((r) => r.startsWith("default"))).toBe(false);
    // The link to the host, the pod bridge, and nothing else.
    expect(nodeRoutes).toHaveLength(2);
    expect(nodeRoutes.some((r) => / dev eth0 /.test(r) && r.includes("/30"))).toBe(true);
    expect(nodeRoutes.some((r) => r.includes("dev signet0"))).toBe(true);
    // No SNAT to the outside: kube-proxy's masquerade applies only to packets it marks (hairpin
    // and node-local traffic to Services), never to a rule matching an outbound interface.
    const nat = inNode("iptables-save", "-t", "nat");
    expect(nat).not.toMatch(/-o eth0 .*MASQUERADE/);
    const hostRoutes = execFileSync("ip", ["-4", "route", "show"], { encoding: "utf8" });
    const viaNode = hostRoutes.split("\n").filter((r) => r.includes("dev signet-node"));
    // The /30 link, the pod range and the Service range.
    expect(viaNode.length).toBeGreaterThanOrEqual(3);
    for (const route of viaNode) expect(route).toMatch(/^10\.\d+\.\d+\.\d+\/(24|30) /);
  });
});
