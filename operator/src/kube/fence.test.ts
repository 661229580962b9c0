import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FencedWriteError, fencedKubeConfig } from "./fence.ts";

/** An HTTP server that records the requests it gets and answers each with an empty object. */
let server: Server;
const seen: string[] = [];
let kc: k8s.KubeConfig;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url?.split("?")[0]}`);
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "ns" } }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "c",
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("fencedKubeConfig", () => {
  it("should send reads whatever the fence says, and writes only while it allows them", async () => {
    let leader = true;
    const api = fencedKubeConfig(kc, () => leader).makeApiClient(k8s.CoreV1Api);
    seen.length = 0;
    await api.readNamespacedConfigMap({ namespace: "ns", name: "x" });
    await api.createNamespacedConfigMap({ namespace: "ns", body: { metadata: { name: "x" } } });
    leader = false;
    await api.readNamespacedConfigMap({ namespace: "ns", name: "x" });
    for (const write of [
      () => api.createNamespacedConfigMap({ namespace: "ns", body: { metadata: { name: "x" } } }),
      () => api.replaceNamespacedConfigMap({ namespace: "ns", name: "x", body: { metadata: { name: "x" } } }),
      () => api.deleteNamespacedConfigMap({ namespace: "ns", name: "x" }),
      () =>
        api.patchNamespacedConfigMap(
          { namespace: "ns", name: "x", body: { data: { a: "b" } } },
          k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        ),
    ]) {
      await expect(write()).rejects.toBeInstanceOf(FencedWriteError);
    }
    expect(seen).toEqual([
      "GET /api/v1/namespaces/ns/configmaps/x",
      "POST /api/v1/namespaces/ns/configmaps",
      "GET /api/v1/namespaces/ns/configmaps/x",
    ]);
  });

  it("should ask the fence at the moment each write is sent", async () => {
    const answers = [true, false, true];
    const api = fencedKubeConfig(kc, () => answers.shift() ?? false).makeApiClient(k8s.CoreV1Api);
    const body = { metadata: { name: "x" } };
    const results = await Promise.allSettled([
      api.createNamespacedConfigMap({ namespace: "ns", body }),
      api.createNamespacedConfigMap({ namespace: "ns", body }),
      api.createNamespacedConfigMap({ namespace: "ns", body }),
      api.createNamespacedConfigMap({ namespace: "ns", body }),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "rejected"]);
  });

  it("should leave the KubeConfig it wraps unfenced and share its settings", async () => {
    const view = fencedKubeConfig(kc, () => false);
    expect(view.getCurrentCluster()?.server).toBe(kc.getCurrentCluster()?.server);
    await expect(
      kc
        .makeApiClient(k8s.CoreV1Api)
        .createNamespacedConfigMap({ namespace: "ns", body: { metadata: { name: "x" } } }),
    ).resolves.toBeDefined();
  });

  it("should name the method and the path it refused, never a body", () => {
    const err = new FencedWriteError(
      "PUT",
      "https://10.0.0.1:6443/api/v1/namespaces/ns/secrets/s?fieldManager=signet",
    );
    expect(err.message).toBe("refused PUT /api/v1/namespaces/ns/secrets/s: this replica is not the leader");
  });
});
